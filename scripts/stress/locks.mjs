// Lock work done by participants: increments of the guarded counters (counter.mjs) under
// an mp.Value's own lock (Sync), an mp.Lock (async, with an await inside), a manager
// Lock (over the manager's socket), and one step of the Condition handshake.
//
// A failure inside a critical section is thrown on without releasing: the process then
// exits holding the lock, like a killed one, and the next holder recovers it.
import { arm, commit, hold, unhold } from './counter.mjs';
import { CA, CB, CC, CM, OP_TIMEOUT, ROUND } from './layout.mjs';
import { busy, within } from './participant.mjs';

/** counter A (mp.Value, its RLock) or B (mp.RawValue, an mp.Lock), blocking the thread. */
export function incrementSync(p, c, spinUs = 0) {
  const cell = c === CA ? p.S.ca : p.S.cb;
  const lock = c === CA ? p.S.ca.getLock() : p.S.lb;
  if (!lock.acquireSync({ timeout: OP_TIMEOUT })) {
    p.violation('deadlock', `${c === CA ? 'counterA' : 'counterB'}: acquireSync timed out after ${OP_TIMEOUT} s`);
    return;
  }
  hold(p, c);
  const next = arm(p, c, cell.value);
  busy(spinUs);
  cell.value = next;
  commit(p, c, next);
  unhold(p, c);
  lock.release();
}

/** As incrementSync with the async acquire, and the event loop turning inside. */
export async function incrementAsync(p, c) {
  const cell = c === CA ? p.S.ca : p.S.cb;
  const lock = c === CA ? p.S.ca.getLock() : p.S.lb;
  if (!(await lock.acquire({ timeout: OP_TIMEOUT }))) {
    p.violation('deadlock', `${c === CA ? 'counterA' : 'counterB'}: acquire timed out after ${OP_TIMEOUT} s`);
    return;
  }
  hold(p, c);
  const next = arm(p, c, cell.value);
  await new Promise((resolve) => setImmediate(resolve));
  cell.value = next;
  commit(p, c, next);
  unhold(p, c);
  lock.release();
}

/** The manager dict's 'count', read-modify-written under the manager Lock. */
export async function incrementManaged(p, { md, ml }) {
  const limit = OP_TIMEOUT + 10;
  if (!(await within(ml.acquire({ timeout: OP_TIMEOUT }), limit, 'manager Lock.acquire'))) {
    p.violation('deadlock', `manager Lock: acquire timed out after ${OP_TIMEOUT} s`);
    return;
  }
  hold(p, CM);
  const next = arm(p, CM, await within(md.get('count'), limit, "manager dict.get('count')"));
  await within(md.set('count', next), limit, "manager dict.set('count')");
  commit(p, CM, next);
  unhold(p, CM);
  await within(ml.release(), limit, 'manager Lock.release');
}

/**
 * One step of the Condition handshake: side 0 may advance an even round, side 1 an odd
 * one. Waits a little for its turn (notified by the other side), else lets it be.
 */
export async function handshake(p, side) {
  const { cond, ctl } = p.S;
  if (!(await cond.acquire({ timeout: OP_TIMEOUT }))) {
    p.violation('deadlock', `Condition: acquire timed out after ${OP_TIMEOUT} s`);
    return;
  }
  const mine = () => (Atomics.load(ctl, ROUND) & 1) === side;
  const turn = await cond.waitFor(mine, 0.05);
  hold(p, CC);
  if (turn) {
    const cur = Atomics.load(ctl, ROUND);
    if ((cur & 1) !== side) p.violation('counter', `Condition: waitFor said it is side ${side}'s turn at round ${cur}`);
    const next = arm(p, CC, cur);
    Atomics.store(ctl, ROUND, next);
    commit(p, CC, next);
    cond.notifyAll();
  }
  unhold(p, CC);
  cond.release();
}

/** What the pipe pair does between ping-pongs: a handshake step and both counters. */
export async function lockWork(p, side, n) {
  await handshake(p, side);
  incrementSync(p, CA, n % 7 === 0 ? 300 : 0);
  await incrementAsync(p, CB);
}

