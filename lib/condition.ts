// Condition: a lock (an RLock unless given one) plus two words of its own.
//
// SEQ changes on every notify; sleepers sleep on it. TICKETS counts waiters in two
// halves: the low 16 bits are waiters not yet notified, the high 16 bits notifications
// granted but not yet taken. wait() counts itself in the low half (holding the lock),
// reads SEQ, releases the lock and sleeps; notify(n) (holding the lock) moves up to n from
// the low half to the high half in one compareExchange, bumps SEQ and wakes that many.
// A waiter becomes eligible for a grant once SEQ differs from what it read when it
// registered, i.e. once a notify came after it; it then takes one grant from the high half
// and returns true. One that times out takes a grant if it is eligible and one is left
// (notified and timed out at once counts as notified), else takes itself out of the low
// half and returns false. Grants are interchangeable among eligible waiters, and every
// grant was counted against an eligible one, so notify(n) releases exactly n of the
// waiters that were waiting when it was called (fewer if fewer wait), never one that came
// after it. One wake reaches every async wait on the word in a process; those left
// without a grant go back to sleep.
//
// wait/notify without holding the lock is a ValueError (Python: RuntimeError/AssertionError).
// A process that dies inside wait() leaves its count behind: a later notify may spend a
// grant on it (Python's semaphore-based Condition has the same limit).
import { ValueError } from './errors.js';
import { deadlineAfter, remaining, waitAsync, waitSync, wake } from './futex.js';
import { attachBlock } from './heap.js';
import { type SharedHandle, nestedHandle, registerReviver, reviveChecked, toHandle } from './reduction.js';
import { takeParts, withParts } from './revived_parts.js';
import { type AcquireOptions, type BlockParts, SharedWords, holder, waitTimeout, wordsShape } from './shared_words.js';
import { Lock, RLock, isMine, releaseAll, restoreAsync, restoreSync } from './synchronize.js';
import { describe as describeValue, noExtraArguments } from './validate.js';

const SEQ = 0;
const TICKETS = 1;
const WORDS = 2;
const WAITING_MASK = 0xffff;
const GRANT = 0x10000;
const MAX_WAITERS = 0xffff;

/** Count one more waiter (the caller holds the lock). */
function register(w: Int32Array): void {
  let c = Atomics.load(w, TICKETS);
  for (;;) {
    if ((c & WAITING_MASK) + (c >>> 16) >= MAX_WAITERS) {
      throw new ValueError(`too many waiters on one Condition (at most ${MAX_WAITERS})`);
    }
    const prev = Atomics.compareExchange(w, TICKETS, c, (c + 1) | 0);
    if (prev === c) return;
    c = prev;
  }
}

/** Take a granted notification, if any. */
function takeGrant(w: Int32Array): boolean {
  let c = Atomics.load(w, TICKETS);
  while (c >>> 16 !== 0) {
    const prev = Atomics.compareExchange(w, TICKETS, c, (c - GRANT) | 0);
    if (prev === c) return true;
    c = prev;
  }
  return false;
}

/** On timeout: leave the waiting half. False when there was no one left there (we were notified). */
function leave(w: Int32Array): boolean {
  let c = Atomics.load(w, TICKETS);
  while ((c & WAITING_MASK) !== 0) {
    const prev = Atomics.compareExchange(w, TICKETS, c, (c - 1) | 0);
    if (prev === c) return true;
    c = prev;
  }
  return false;
}

/**
 * After registering at `seq0`: true when notified, false on timeout. Only a notify after
 * the registration makes a waiter eligible for a grant (SEQ differs from seq0), so a
 * waiter never takes a grant meant for the ones waiting before it came.
 */
function sleepSync(w: Int32Array, seq0: number, timeoutMs: number): boolean {
  const deadline = deadlineAfter(timeoutMs);
  let seen = seq0;
  for (;;) {
    if (seen !== seq0 && takeGrant(w)) return true;
    const left = remaining(deadline);
    if (left === 0) {
      if (leave(w)) return false;
    } else {
      waitSync(w, SEQ, seen, left);
    }
    seen = Atomics.load(w, SEQ);
  }
}

async function sleepAsync(w: Int32Array, seq0: number, timeoutMs: number): Promise<boolean> {
  const deadline = deadlineAfter(timeoutMs);
  let seen = seq0;
  for (;;) {
    if (seen !== seq0 && takeGrant(w)) return true;
    const left = remaining(deadline);
    if (left === 0) {
      if (leave(w)) return false;
    } else {
      await waitAsync(w, SEQ, seen, left);
    }
    seen = Atomics.load(w, SEQ);
  }
}

type AnyLock = Lock | RLock;

/** What a revived Condition is handed: its block and its lock (revived too, and then closed with it). */
interface ConditionParts extends BlockParts {
  readonly lock: AnyLock;
}

/** A condition variable shared by processes (Python's multiprocessing.Condition). */
export class Condition extends SharedWords {
  readonly #lock: AnyLock;
  /** Whether close() closes the lock too (we made it, or revived it). */
  readonly #ownsLock: boolean;

  /** `lock`: a Lock or RLock to use (default: a new RLock). */
  constructor(lock?: AnyLock | null);
  constructor(lock?: AnyLock | null, ...extra: unknown[]) {
    noExtraArguments('Condition', ['lock'], extra);
    const parts = takeParts<ConditionParts>();
    if (lock !== undefined && lock !== null && !(lock instanceof Lock) && !(lock instanceof RLock)) {
      throw new TypeError(`lock must be a multiprocessing Lock or RLock, got ${describeValue(lock)}`);
    }
    super(WORDS, parts?.block);
    this.#lock = parts?.lock ?? lock ?? new RLock();
    this.#ownsLock = parts !== null || lock === undefined || lock === null;
  }

  protected get kind(): string {
    return 'Condition';
  }

  acquireSync(options?: AcquireOptions): boolean {
    return this.#lock.acquireSync(options);
  }

  acquire(options?: AcquireOptions): Promise<boolean> {
    return this.#lock.acquire(options);
  }

  release(): void {
    this.#lock.release();
  }

  /** `using _ = cond.hold()`: acquire the lock now (blocking), release at scope exit. */
  hold(): Disposable {
    this.#lock.acquireSync();
    return holder(this.#lock);
  }

  /** `await using _ = await cond.holdAsync()`. */
  async holdAsync(): Promise<AsyncDisposable> {
    await this.#lock.acquire();
    return holder(this.#lock);
  }

  /** Run `fn` holding the lock; release however it ends. */
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#lock.withLock(fn);
  }

  /**
   * Release the lock, sleep until notified or `timeout` seconds pass, take the lock again.
   * True when notified, false on timeout. Blocks this thread.
   */
  waitSync(timeout?: number | null): boolean {
    const timeoutMs = this.checkWait(timeout, 'wait');
    register(this.w);
    const seq = Atomics.load(this.w, SEQ);
    const depth = this.#lock[releaseAll]();
    try {
      return sleepSync(this.w, seq, timeoutMs);
    } finally {
      this.#lock[restoreSync](depth);
    }
  }

  /** As waitSync, without blocking the event loop. */
  async wait(timeout?: number | null): Promise<boolean> {
    const timeoutMs = this.checkWait(timeout, 'wait');
    register(this.w);
    const seq = Atomics.load(this.w, SEQ);
    const depth = this.#lock[releaseAll]();
    try {
      return await sleepAsync(this.w, seq, timeoutMs);
    } finally {
      await this.#lock[restoreAsync](depth);
    }
  }

  /**
   * Wait until `predicate()` is truthy or `timeout` seconds pass; returns its last value
   * (Python's wait_for). The lock must be held; it is held again on return.
   */
  waitForSync<T>(predicate: () => T, timeout?: number | null): T {
    this.checkPredicate(predicate);
    const deadline = deadlineAfter(this.checkWait(timeout, 'waitFor'));
    let result = predicate();
    while (!result) {
      const left = remaining(deadline);
      if (left === 0) break;
      this.waitSync(left === Infinity ? null : left / 1000);
      result = predicate();
    }
    return result;
  }

  /** As waitForSync, without blocking the event loop; `predicate` may return a promise. */
  async waitFor<T>(predicate: () => T | Promise<T>, timeout?: number | null): Promise<T> {
    this.checkPredicate(predicate);
    const deadline = deadlineAfter(this.checkWait(timeout, 'waitFor'));
    let result = await predicate();
    while (!result) {
      const left = remaining(deadline);
      if (left === 0) break;
      await this.wait(left === Infinity ? null : left / 1000);
      result = await predicate();
    }
    return result;
  }

  /** Wake up to `n` of the processes waiting now (default 1). The lock must be held. */
  notify(n = 1): void {
    this.checkOpen();
    if (typeof n !== 'number' || Number.isNaN(n)) throw new TypeError(`n must be a number, got ${describeValue(n)}`);
    if (!this.#lock[isMine]()) throw new ValueError('cannot notify on un-acquired lock: acquire the Condition first');
    n = Math.floor(n);
    if (n <= 0) return;
    const w = this.w;
    let c = Atomics.load(w, TICKETS);
    let k: number;
    for (;;) {
      k = Math.min(n, c & WAITING_MASK);
      if (k === 0) return;
      const prev = Atomics.compareExchange(w, TICKETS, c, (c - k + k * GRANT) | 0);
      if (prev === c) break;
      c = prev;
    }
    Atomics.add(w, SEQ, 1);
    wake(w, SEQ, k);
  }

  /** Wake every process waiting now. The lock must be held. */
  notifyAll(): void {
    this.notify(Infinity);
  }

  /** Drop this process's reference (and the lock's, when the Condition made or received it). Idempotent. */
  override close(): void {
    super.close();
    if (this.#ownsLock) this.#lock.close();
  }

  override [toHandle](): SharedHandle {
    return { ...super[toHandle](), lock: this.#lock[toHandle]() };
  }

  override toString(): string {
    return `<Condition(${String(this.#lock)}, ${Atomics.load(this.w, TICKETS) & WAITING_MASK})>`;
  }

  private checkWait(timeout: unknown, what: string): number {
    this.checkOpen();
    const timeoutMs = waitTimeout(timeout);
    if (!this.#lock[isMine]()) throw new ValueError(`cannot ${what} on un-acquired lock: acquire the Condition first`);
    return timeoutMs;
  }

  private checkPredicate(predicate: unknown): void {
    if (typeof predicate !== 'function') throw new TypeError(`predicate must be a function, got ${describeValue(predicate)}`);
  }
}

const newCondition = () => new Condition();

registerReviver('Condition', { ...wordsShape(WORDS), lock: nestedHandle('Lock', 'RLock') }, (h) => {
  const lock = reviveChecked(h.lock) as AnyLock;
  return withParts<Condition>({ block: attachBlock(h.block), lock }, newCondition);
});
