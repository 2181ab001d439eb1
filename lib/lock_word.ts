// The lock word's protocol, shared by Lock and RLock (synchronize.ts): 0 when free, else
// the holder's pid, with bit 30 (WAITERS) set while someone sleeps on it. The fast paths
// (one compareExchange to take it, releaseWord to free it) live in the classes; this file
// has the slow paths, which spin, nap, sleep and take over from a dead holder.
import { deadlineAfter, remaining, waitAsync, waitSync, wake } from './futex.js';
import { OWNER_CHECK_MS, PID, PID_MASK, WAITERS, ownerIsGone, warnOwnerDied } from './owner.js';

/** Index of the lock word in a lock's block. */
export const STATE = 0;

// Contended sync acquire, in three steps (measured on W4, two processes incrementing one
// counter under one lock):
// 1. look at the word SPIN times, taking it if it is seen free;
// 2. if it was seen free but another process took it first, the holder is cycling fast
//    (release, re-acquire): nap NAP_MS without setting the waiters bit, so its releases
//    cost it no wake syscall, and try again; at most MAX_NAPS naps in a row. Waking the
//    loser on every release made it wake, lose, re-mark and sleep again, and the winner
//    paid a futex wake every ~10 increments: 8M ops/s; napping gives 15-17M;
// 3. else (the word stayed held through the spin: a long hold, or naps used up) sleep
//    with the waiters bit set, woken by the release, in OWNER_CHECK_MS slices that check
//    whether the holder died.
// Python's locks are not fair either; a waiter against a holder that re-acquires in a
// tight loop gets the lock when it catches it free, as there.
const SPIN = 32;
const NAP_MS = 0.05;
const MAX_NAPS = 30;

/**
 * Take the word if free (marking waiters, since others may sleep), else make sure the
 * waiters bit is set. Returns 0 when taken, else the value to sleep on.
 */
function takeOrMark(w: Int32Array): number {
  let c = Atomics.load(w, STATE);
  for (;;) {
    if (c === 0) {
      c = Atomics.compareExchange(w, STATE, 0, PID | WAITERS);
      if (c === 0) return 0;
    } else if ((c & WAITERS) !== 0) {
      return c;
    } else {
      const prev = Atomics.compareExchange(w, STATE, c, c | WAITERS);
      if (prev === c) return c | WAITERS;
      c = prev;
    }
  }
}

/** Follows the holder a sleeper waits behind, to notice its death. */
class OwnerWatch {
  private value = 0;
  private seenAt = 0;
  /** After a sleep slice ran out on `c`: take the lock if its holder is dead. */
  takeoverIfDead(w: Int32Array, c: number, kind: string): boolean {
    if (c !== this.value) {
      this.value = c;
      this.seenAt = Date.now() - OWNER_CHECK_MS; // we have already waited one slice on it
      return false;
    }
    const pid = c & PID_MASK;
    if (!ownerIsGone(pid, this.seenAt)) return false;
    if (Atomics.compareExchange(w, STATE, c, PID | WAITERS) !== c) return false;
    warnOwnerDied(kind, pid);
    return true;
  }
}

/** The slow path of a blocking acquire (see above). */
export function acquireWordSync(w: Int32Array, timeoutMs: number, kind: string): boolean {
  const deadline = deadlineAfter(timeoutMs);
  const watch = new OwnerWatch();
  // After a sleep or a nap that a wake ended, this thread may have absorbed the wake
  // meant for another sleeper: it then takes the word with the waiters bit, so that its
  // own release wakes the next one.
  let take = PID;
  let naps = 0;
  for (;;) {
    let c = 0;
    let sawFree = false;
    for (let i = 0; i < SPIN; i++) {
      c = Atomics.load(w, STATE);
      if (c === 0) {
        c = Atomics.compareExchange(w, STATE, 0, take);
        if (c === 0) return true;
        sawFree = true;
      }
    }
    const left = remaining(deadline);
    if (left === 0) return false;
    if (sawFree && naps < MAX_NAPS) {
      naps++;
      if (waitSync(w, STATE, c, Math.min(left, NAP_MS)) === 'ok') {
        // A release's wake reached this nap, though it may have been meant for a sleeper:
        // set the waiters bit again so the next release wakes one (or take the word).
        take = PID | WAITERS;
        if (takeOrMark(w) === 0) return true;
      }
      continue;
    }
    naps = 0;
    c = takeOrMark(w);
    if (c === 0) return true;
    take = PID | WAITERS;
    const slice = Math.min(left, OWNER_CHECK_MS);
    if (waitSync(w, STATE, c, slice) === 'timed-out' && slice === OWNER_CHECK_MS) {
      if (watch.takeoverIfDead(w, c, kind)) return true;
    }
  }
}

export async function acquireWordAsync(w: Int32Array, timeoutMs: number, kind: string, signal?: AbortSignal): Promise<boolean> {
  const deadline = deadlineAfter(timeoutMs);
  const watch = new OwnerWatch();
  for (;;) {
    const c = takeOrMark(w);
    if (c === 0) return true;
    const left = remaining(deadline);
    if (left === 0 || signal?.aborted) return false;
    const slice = Math.min(left, OWNER_CHECK_MS);
    const result = await waitAsync(w, STATE, c, slice, signal);
    if (result === 'cancelled') return false;
    if (result === 'timed-out' && slice === OWNER_CHECK_MS) {
      if (watch.takeoverIfDead(w, c, kind)) return true;
    }
  }
}

/** Free the word; wake one sleeper if the waiters bit was set. Returns the old value. */
export function releaseWord(w: Int32Array): number {
  const prev = Atomics.exchange(w, STATE, 0);
  if ((prev & WAITERS) !== 0) wake(w, STATE, 1);
  return prev;
}

