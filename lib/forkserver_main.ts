// The forkserver process (dist/forkserver_main.js): boots warm children into the slots of
// the shared segment (see forkserver_shared.ts), sizes the pool to demand, forwards the
// rare job too big for a mailbox, and reports the exit code of every child that was
// claimed. It lives as long as its parent: it exits when the parent's channel closes, and
// a parent-death signal covers a parent killed outright.
//
// Pool policy. Between `base` (2) and `cap` warm children (MP_FORKSERVER_POOL, else 4 per
// CPU, at most 16). The target grows to the number of starts seen within the last
// second (plus any start still waiting), so a program that starts N processes at once
// finds N warm ones the next time; it halves back toward `base` after IDLE_MS without a
// start. Refilling is background work: one boot at a time, begun REFILL_DELAY_MS after
// the latest start (so a short burst is not slowed by boots competing for the cores),
// except when a start is waiting or no warm child is left: then as many boots as CPUs.
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { availableParallelism, constants as osConstants } from 'node:os';
import * as path from 'node:path';
import * as S from './forkserver_shared.js';
import { native } from './native.js';
import { trackerForChild } from './resource_tracker.js';
import { signalExitcode } from './spawn.js';

const BOOTSTRAP = path.join(__dirname, 'bootstrap.js');
const TRACKER_CHILD_FD = 4;
const BURST_WINDOW_MS = 1000;
const REFILL_DELAY_MS = 20;
const IDLE_MS = (() => {
  const n = Number(process.env[S.IDLE_ENV]);
  return Number.isFinite(n) && n > 0 ? n : 10_000;
})();

const trace = S.tracer('server');
const segment = process.env[S.SEGMENT_ENV];
const cap = Number(process.env[S.POOL_ENV]);
const owner = Number(process.env[S.OWNER_ENV]);
const ownerInfo = process.env[S.OWNER_INFO_ENV];
// Children of the server must not see these.
delete process.env[S.SEGMENT_ENV];
delete process.env[S.POOL_ENV];
delete process.env[S.OWNER_ENV];
delete process.env[S.OWNER_INFO_ENV];

if (
  segment === undefined ||
  !Number.isInteger(cap) ||
  cap < 1 ||
  !Number.isInteger(owner) ||
  process.send === undefined
) {
  process.stderr.write('multiprocessing: forkserver_main.js is started by the library, not by hand\n');
  process.exit(1);
}

if (native.setParentDeathSignal(osConstants.signals.SIGKILL) && native.getppid() !== owner) process.exit(0);

const words = new Int32Array(native.shmAttach(segment).buffer, 0, S.mailboxOffset(0) / 4);
process.on('exit', () => {
  Atomics.store(words, S.GONE, 1);
  Atomics.add(words, S.READY_GEN, 1);
  native.wake(words, S.READY_GEN, 1 << 20);
  try {
    native.shmUnlink(segment);
  } catch {
    // the parent unlinked it first
  }
});

const cpus = Math.max(1, availableParallelism());
const base = Math.min(2, cap);
let target = base;

interface Warm {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The slot while the server holds it for this child; -1 once given back. */
  slot: number;
  /** booting/ready: in the pool; claimed: a parent took it (its exit is reported). */
  state: 'booting' | 'ready' | 'claimed';
  /** The modules it imports before it is ready. */
  readonly preloads: readonly string[];
}

/** Every live child of the server, by pid. */
const children = new Map<number, Warm>();
/** Slot -> the child holding it. */
const slotOwner = new Map<number, Warm>();
/** Times of recent claims (the burst the pool grows toward). */
let claimTimes: number[] = [];
let lastClaim = 0;
const preloads: string[] = [];
/** Modules no longer preloaded: a warm child that imported them died while booting. */
const banned = new Set<string>();
/** Warm children in a row that died before they were ready (reset by a ready one). */
let bootDeaths = 0;
/** No boot before this time (backing off after boot deaths). */
let bootAfter = 0;
let closing = false;
let timer: NodeJS.Timeout | null = null;

function send(message: S.ServerMessage): void {
  try {
    process.send!(message);
  } catch {
    // the parent is gone; the disconnect handler ends this process
  }
}

function stateOf(slot: number): number {
  return Atomics.load(words, S.slotWord(slot, S.STATE));
}

function freeSlot(w: Warm): void {
  if (w.slot < 0) return;
  slotOwner.delete(w.slot);
  Atomics.store(words, S.slotWord(w.slot, S.STATE), S.FREE);
  w.slot = -1;
}

/** Bring the server's view up to date with the slots: claims, jobs taken. */
function scan(): number {
  let claims = 0;
  for (const w of slotOwner.values()) {
    const st = stateOf(w.slot);
    if (w.state !== 'claimed' && st !== S.BOOTING && st !== S.READY && st !== S.RETIRED) {
      w.state = 'claimed';
      claims++;
    } else if (w.state === 'booting' && st === S.READY) w.state = 'ready';
    // Its job is out of the mailbox: the slot can take a new warm child.
    if (w.state === 'claimed' && st === S.TAKEN) freeSlot(w);
  }
  return claims;
}

function freeSlotIndex(): number {
  for (let s = 0; s < S.SLOTS; s++) {
    if (!slotOwner.has(s) && stateOf(s) === S.FREE) return s;
  }
  return -1;
}

function startWarm(): boolean {
  const slot = freeSlotIndex();
  if (slot < 0) return false;
  const stateWord = S.slotWord(slot, S.STATE);
  if (Atomics.compareExchange(words, stateWord, S.FREE, S.BOOTING) !== S.FREE) return false;
  const tracker = trackerForChild(TRACKER_CHILD_FD);
  const stdio: ('ignore' | 'inherit' | 'ipc' | number)[] = ['ignore', 'inherit', 'inherit', 'ipc'];
  if (tracker !== null) stdio.push(tracker.fd);
  const list = [...preloads];
  const child = fork(BOOTSTRAP, [], {
    execArgv: process.execArgv,
    stdio,
    serialization: 'advanced',
    env: {
      ...process.env,
      ...(tracker?.env ?? {}),
      [S.WARM_CHILD_ENV]: `${process.pid}:${slot}:${segment}`,
      [S.PRELOAD_ENV]: JSON.stringify(list),
      ...(ownerInfo === undefined ? {} : { [S.OWNER_INFO_ENV]: ownerInfo }),
    },
  });
  child.on('error', () => {});
  const pid = child.pid;
  if (pid === undefined) {
    Atomics.store(words, stateWord, S.FREE);
    return false;
  }
  const w: Warm = { child, pid, slot, state: 'booting', preloads: list };
  trace?.(`boot ${pid}`);
  children.set(pid, w);
  slotOwner.set(slot, w);
  child.on('message', (m: S.WarmChildMessage) => {
    if (m?.t === 'ready') {
      trace?.(`ready ${pid}`);
      bootDeaths = 0;
      refresh();
    }
  });
  child.once('exit', (code, signal) => onChildExit(w, code, signal));
  return true;
}

function onChildExit(w: Warm, code: number | null, signal: NodeJS.Signals | null): void {
  trace?.('child-exit');
  const status = code ?? (signal === null ? 1 : signalExitcode(signal));
  children.delete(w.pid);
  if (w.slot >= 0) {
    let st = stateOf(w.slot);
    // Died warm: take the slot back, unless a parent claims it at this very moment (then
    // the parent waits for this exit code).
    if (st === S.READY) st = Atomics.compareExchange(words, S.slotWord(w.slot, S.STATE), S.READY, S.FREE);
    if (st === S.BOOTING) bootDied(w);
    else if (st !== S.READY && st !== S.RETIRED) w.state = 'claimed';
    freeSlot(w);
  }
  if (w.state === 'claimed') send({ t: 'exit', pid: w.pid, code: status });
  refresh();
}

/**
 * A warm child died before it was ready: one of the modules it imported may end the
 * process (a process.exit() at its top level), or node cannot start at all. Preload those
 * modules no more, and back off before the next boot.
 */
function bootDied(w: Warm): void {
  if (closing) return;
  for (const m of w.preloads) banned.add(m);
  const keep = preloads.filter((m) => !banned.has(m));
  preloads.length = 0;
  preloads.push(...keep);
  bootDeaths++;
  bootAfter = Date.now() + Math.min(5000, 25 * 2 ** bootDeaths);
}

function counts(): { ready: number; booting: number } {
  let ready = 0;
  let booting = 0;
  for (const w of slotOwner.values()) {
    if (w.state === 'ready') ready++;
    else if (w.state === 'booting') booting++;
  }
  return { ready, booting };
}

/** Give back warm children beyond the target (newest slots last in, first out). */
function retireExtra(): void {
  let { ready, booting } = counts();
  for (const w of [...slotOwner.values()].reverse()) {
    if (ready + booting <= target) break;
    if (w.state !== 'ready') continue;
    const stateWord = S.slotWord(w.slot, S.STATE);
    if (Atomics.compareExchange(words, stateWord, S.READY, S.RETIRED) !== S.READY) continue;
    w.child.kill('SIGKILL');
    ready--;
  }
}

function schedule(ms: number): void {
  if (closing) return;
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    refresh();
  }, ms);
  timer.unref();
}

/** Re-read the slots, adjust the pool's target and start boots as the policy allows. */
function refresh(): void {
  if (closing) return;
  const now = Date.now();
  const claims = scan();
  if (claims > 0) {
    lastClaim = now;
    for (let i = 0; i < claims; i++) claimTimes.push(now);
  }
  claimTimes = claimTimes.filter((t) => now - t < BURST_WINDOW_MS);
  const waiting = Atomics.load(words, S.WAITING);
  target = Math.min(cap, Math.max(target, base, claimTimes.length + waiting));
  if (target > base && now - lastClaim >= IDLE_MS) {
    target = Math.max(base, Math.ceil(target / 2));
    lastClaim = now; // the next halving after another idle period
    retireExtra();
  }
  let { ready, booting } = counts();
  const urgent = waiting > 0 || ready === 0;
  const quiet = now - lastClaim >= REFILL_DELAY_MS;
  const concurrency = now < bootAfter ? 0 : urgent ? cpus : quiet ? 1 : 0;
  while (ready + booting < target && booting < concurrency && startWarm()) booting++;
  if (ready + booting < target && booting === 0 && concurrency === 0) {
    schedule(now < bootAfter ? bootAfter - now : REFILL_DELAY_MS - (now - lastClaim));
  } else if (target > base) schedule(Math.max(1, IDLE_MS - (now - lastClaim)));
}

process.on('message', (m: S.ParentMessage) => {
  if (m.t === 'preload') {
    // For the warm children booted from now on (those ready already stay as they are).
    for (const x of m.modules) if (typeof x === 'string' && !banned.has(x) && !preloads.includes(x)) preloads.push(x);
  } else if (m.t === 'job') {
    trace?.('job-recv');
    const w = children.get(m.pid);
    w?.child.send({ t: 'job', data: m.data } satisfies S.WarmMessage, () => {});
  }
});

// The parent is gone: warm children go with us; children running jobs live on (daemons
// among them die of their parent-death signal).
process.on('disconnect', () => {
  closing = true;
  scan();
  for (const w of slotOwner.values()) {
    if (w.state === 'claimed') continue;
    const stateWord = S.slotWord(w.slot, S.STATE);
    if (w.state === 'ready' && Atomics.compareExchange(words, stateWord, S.READY, S.RETIRED) !== S.READY) continue;
    w.child.kill('SIGKILL');
  }
  process.exit(0);
});

/** The parent's claims and waits wake this up (EVENTS). */
async function watchParent(): Promise<void> {
  let seen = Atomics.load(words, S.EVENTS);
  for (;;) {
    await native.waitAsync(1, words, S.EVENTS, seen, Infinity);
    seen = Atomics.load(words, S.EVENTS);
    refresh();
  }
}

refresh();
void watchParent();
