// Who holds each end of a pipe's ring, so that a reader can tell "no message yet" from
// "nobody can ever write again" (EOFError) and a writer can tell that nobody will read
// (a broken pipe). An OS pipe gets this from the kernel closing fds; a ring in shared
// memory has to count.
//
// Each side (the writers of a ring, its readers) has a TOTAL word and a table of slots,
// one per process: [pid, count, transit, transitExpiry, registeredAt] (times in seconds).
// `count` is the number of open Connection objects in that process; `transit` counts
// handles it sent that nobody adopted yet (a connection passed to a child is held by
// its handle until the child attaches it, even if the sender closes its copy first).
// A transit reference expires after TRANSIT_S, so a handle that is never received (its
// child died first) does not hold the end forever. TOTAL sums counts and transits, so a
// clean close is seen with one load; a process killed holding an end is found by a
// waiter that scans the slots (pid gone, or reused by a process started after it
// registered) and prunes it.
import { native } from './native.js';
import { PID } from './owner.js';
import { EXTRA, EXTRA_WORDS } from './ring.js';

const SLOTS = 8;
const SLOT_WORDS = 5;
const S_PID = 0;
const S_COUNT = 1;
const S_TRANSIT = 2;
const S_EXPIRY = 3;
const S_REGISTERED = 4;
const SIDE_WORDS = 1 + SLOTS * SLOT_WORDS;
/** Set when a side had more holder processes than slots: its end is never seen gone. */
const OVERFLOW = EXTRA + 2 * SIDE_WORDS;
const PRUNING = -1;
const TRANSIT_S = 60;
/** /proc start times have 10 ms ticks, registration times 1 s: allow for both. */
const START_SLACK_MS = 1100;

if (OVERFLOW >= EXTRA + EXTRA_WORDS) throw new Error('pipe end tables do not fit the ring header');

export const WRITERS = 0;
export const READERS = 1;
export type Side = typeof WRITERS | typeof READERS;

const nowS = () => Math.floor(Date.now() / 1000);

function base(side: Side): number {
  return EXTRA + side * SIDE_WORDS;
}

function slotAt(side: Side, k: number): number {
  return base(side) + 1 + k * SLOT_WORDS;
}

/** This process's slot on `side`, claimed if needed; -1 when the table is full. */
function ownSlot(h: Int32Array, side: Side): number {
  for (let k = 0; k < SLOTS; k++) {
    const s = slotAt(side, k);
    if (Atomics.load(h, s + S_PID) === PID) return s;
  }
  for (let pass = 0; pass < 2; pass++) {
    for (let k = 0; k < SLOTS; k++) {
      const s = slotAt(side, k);
      if (Atomics.compareExchange(h, s + S_PID, 0, PID) === 0) {
        Atomics.store(h, s + S_REGISTERED, nowS());
        return s;
      }
    }
    prune(h, side);
  }
  Atomics.store(h, OVERFLOW, 1);
  return -1;
}

function slotOf(h: Int32Array, side: Side, pid: number): number {
  for (let k = 0; k < SLOTS; k++) {
    const s = slotAt(side, k);
    if (Atomics.load(h, s + S_PID) === pid) return s;
  }
  return -1;
}

/** One more open end on `side` in this process. */
export function holdEnd(h: Int32Array, side: Side): void {
  const s = ownSlot(h, side);
  if (s >= 0) Atomics.add(h, s + S_COUNT, 1);
  Atomics.add(h, base(side), 1);
}

/** One end on `side` closed in this process. */
export function dropEnd(h: Int32Array, side: Side): void {
  const s = slotOf(h, side, PID);
  if (s >= 0 && Atomics.load(h, s + S_COUNT) > 0) {
    Atomics.sub(h, s + S_COUNT, 1);
    Atomics.sub(h, base(side), 1);
  } else if (Atomics.load(h, OVERFLOW) !== 0) {
    Atomics.sub(h, base(side), 1);
  }
}

/** A handle of an end is leaving this process: hold the end until it is adopted. */
export function sendEnd(h: Int32Array, side: Side): void {
  const s = ownSlot(h, side);
  if (s >= 0) {
    Atomics.store(h, s + S_EXPIRY, nowS() + TRANSIT_S);
    Atomics.add(h, s + S_TRANSIT, 1);
  }
  Atomics.add(h, base(side), 1);
}

/** A handle sent by `from` arrived here: this process holds the end now, not the handle. */
export function adoptEnd(h: Int32Array, side: Side, from: number): void {
  holdEnd(h, side);
  const s = slotOf(h, side, from);
  if (s < 0) return; // the sender died and was pruned, its transits with it
  for (;;) {
    const t = Atomics.load(h, s + S_TRANSIT);
    if (t <= 0) return; // expired and pruned already
    if (Atomics.compareExchange(h, s + S_TRANSIT, t, t - 1) === t) {
      Atomics.sub(h, base(side), 1);
      return;
    }
  }
}

function processGone(pid: number, registeredS: number): boolean {
  if (pid === PID) return false;
  if (!native.pidAlive(pid)) return true;
  const started = native.processStartTime(pid);
  return started === null || started > registeredS * 1000 + START_SLACK_MS;
}

/** Free the slots of dead processes and expired transits. */
function prune(h: Int32Array, side: Side): void {
  const now = nowS();
  for (let k = 0; k < SLOTS; k++) {
    const s = slotAt(side, k);
    const pid = Atomics.load(h, s + S_PID);
    if (pid <= 0) continue;
    if (processGone(pid, Atomics.load(h, s + S_REGISTERED))) {
      // Mark it first so that nobody claims it while its counts are taken away.
      if (Atomics.compareExchange(h, s + S_PID, pid, PRUNING) !== pid) continue;
      const held = Atomics.exchange(h, s + S_COUNT, 0) + Atomics.exchange(h, s + S_TRANSIT, 0);
      Atomics.sub(h, base(side), held);
      Atomics.store(h, s + S_PID, 0);
    } else if (now > Atomics.load(h, s + S_EXPIRY)) {
      const t = Atomics.exchange(h, s + S_TRANSIT, 0);
      if (t > 0) Atomics.sub(h, base(side), t);
    }
  }
}

/** True when nobody holds `side` any more: cheap when ends were closed, a scan otherwise. */
export function endGone(h: Int32Array, side: Side): boolean {
  if (Atomics.load(h, base(side)) <= 0) return true;
  if (Atomics.load(h, OVERFLOW) !== 0) return false;
  prune(h, side);
  return Atomics.load(h, base(side)) <= 0;
}

/** One load: nobody holds `side` (all closed cleanly; dead holders are found by endGone). */
export function endClosed(h: Int32Array, side: Side): boolean {
  return Atomics.load(h, base(side)) <= 0;
}
