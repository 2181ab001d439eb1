// A counter guarded by a lock, kept exact under kills. Inside the critical section, with
// `cur` the counter's value read under the lock:
//
//   hold(p, c)             mark this process inside (the previous mark must be a dead one's)
//   next = arm(p, c, cur)  settle a dead holder's intent, check the ledger, write our intent
//   ...write next...
//   commit(p, c, next)     log the increment in this process's slot, clear the intent
//   unhold(p, c)
//
// The intent [slot+1, k, value] says "slot is about to make the counter `value` with its
// k-th increment". A process killed between arm and commit leaves it behind; the next
// holder settles it: its k-th increment is logged already, or the counter shows `value`
// (the write landed: log it for the dead one), or `value - 1` (it died before writing).
// Anything else is a violation. So at the end the counter equals the sum of every slot's
// logged increments, exactly, however many holders were killed inside.
import { isDead } from './participant.mjs';
import {
  AFTER_DEAD,
  COUNTERS,
  F,
  HOLDER,
  INTENT,
  KILLED,
  N,
  PID,
  RES_APPLIED,
  RES_LOGGED,
  RES_NOT_APPLIED,
  TOTAL,
} from './layout.mjs';

const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * True once `pid` is dead, waiting up to `ms` for it. A killed process loses its locks as
 * it exits (the kernel closes its manager connection, owner checks see it gone) a moment
 * before /proc shows it dead.
 */
function diedWithin(pid, ms) {
  for (let t = 0; t < ms; t += 10) {
    if (isDead(pid)) return true;
    Atomics.wait(nap, 0, 0, 10);
  }
  return isDead(pid);
}

export function hold(p, c) {
  const { ctl, slots } = p.S;
  const prev = Atomics.exchange(ctl, HOLDER + c, p.slot + 1);
  if (prev === 0) return;
  const pid = Atomics.load(slots, (prev - 1) * F + PID);
  const signal = Atomics.load(slots, (prev - 1) * F + KILLED);
  if (prev - 1 !== p.slot && diedWithin(pid, signal !== 0 ? 3000 : 0)) Atomics.add(ctl, AFTER_DEAD + c, 1);
  else {
    const how = signal !== 0 ? `sent signal ${signal} but alive 3 s later` : 'never signalled, alive';
    p.violation('counter', `${COUNTERS[c]}: got its lock while slot ${prev - 1} (pid ${pid}, ${how}) is inside`);
  }
}

export function unhold(p, c) {
  Atomics.store(p.S.ctl, HOLDER + c, 0);
}

/**
 * Settle a dead holder's intent, given the counter's value `cur` (under the lock, or at
 * the end when every process is gone). Returns a problem description or null.
 */
export function settle(ctl, slots, c, cur) {
  const at = INTENT + 3 * c;
  const who = Atomics.load(ctl, at);
  if (who === 0) return null;
  const k = Atomics.load(ctl, at + 1);
  const value = Atomics.load(ctl, at + 2);
  const logAt = (who - 1) * F + N + c;
  let problem = null;
  if (Atomics.load(slots, logAt) >= k) Atomics.add(ctl, RES_LOGGED + c, 1);
  else if (cur === value) {
    Atomics.store(slots, logAt, k);
    Atomics.add(ctl, RES_APPLIED + c, 1);
  } else if (cur === value - 1) Atomics.add(ctl, RES_NOT_APPLIED + c, 1);
  else problem = `${COUNTERS[c]} is ${cur}, but slot ${who - 1} died about to make it ${value}`;
  Atomics.store(ctl, TOTAL + c, cur);
  Atomics.store(ctl, at, 0);
  return problem;
}

export function arm(p, c, cur) {
  const { ctl, slots } = p.S;
  const problem = settle(ctl, slots, c, cur);
  if (problem !== null) p.violation('counter', problem);
  const total = Atomics.load(ctl, TOTAL + c);
  if (total !== cur) {
    p.violation('counter', `${COUNTERS[c]} is ${cur} under its lock, but the last commit made it ${total}`);
    Atomics.store(ctl, TOTAL + c, cur);
  }
  const at = INTENT + 3 * c;
  Atomics.store(ctl, at + 1, p.get(N + c) + 1);
  Atomics.store(ctl, at + 2, cur + 1);
  Atomics.store(ctl, at, p.slot + 1);
  return cur + 1;
}

export function commit(p, c, next) {
  const { ctl } = p.S;
  p.add(N + c);
  Atomics.store(ctl, TOTAL + c, next);
  Atomics.store(ctl, INTENT + 3 * c, 0);
}
