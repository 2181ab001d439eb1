// The synchronization objects a manager server holds for its clients (Python's
// threading.Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier in a
// SyncManager). Plain in-process objects: the server calls their methods on behalf of
// client connections, all on one event loop, so state changes are synchronous and a
// method answers at once when it can and returns a Promise only when it must wait.
// Waiters are served FIFO (a release hands the lock straight to the oldest waiter).
// A client whose connection ends loses its pending waits and the locks it holds.
import { type Caller, currentCaller } from './manager_caller.js';
import { BrokenBarrierError, MultiprocessingError, ValueError } from './errors.js';
import { checkBoolean, checkInteger, checkOptions, timeoutToMs } from './validate.js';

const noop = (): void => {};
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit; longer waits re-arm

/** The rejection of a wait dropped because its caller's connection ended (nobody reads it). */
export class CallerGoneError extends MultiprocessingError {
  override readonly code: string = 'ERR_MP_CALLER_GONE';
}

export interface BlockOptions {
  block?: boolean;
  timeout?: number | null;
}

/** @internal How long a call may wait, in ms: 0 for block:false (its timeout is ignored). */
export function waitMs(options: unknown): number {
  const { block, timeout } = checkOptions<BlockOptions>('options', options);
  if (block !== undefined && !checkBoolean('block', block)) return 0;
  return timeoutToMs('timeout', timeout);
}

/** @internal A count argument: TypeError if not an integer, ValueError below `min`. */
export function checkCount(name: string, value: unknown, min: number): number {
  checkInteger(name, value, Number.MIN_SAFE_INTEGER);
  if ((value as number) < min) throw new ValueError(`${name} must be >= ${min}, got ${value}`);
  return value as number;
}

/** One pending wait, taken off its WaitList: settle it with resolve or reject. */
export interface Pending<T, P> {
  readonly caller: Caller;
  readonly payload: P;
  resolve(value: T): void;
  reject(error: unknown): void;
}

interface Entry<T, P> extends Pending<T, P> {
  timer: NodeJS.Timeout | undefined;
  unhook: () => void;
}

/**
 * @internal A FIFO of pending waits. Each settles once: taken off by its object (shift,
 * drain), timed out (onTimeout returns the answer or throws), or dropped when its caller
 * goes away (rejected with CallerGoneError, then onGone runs). Leaving the list clears
 * its timer and its onGone registration, so nothing accumulates.
 */
export class WaitList<T, P = undefined> {
  private readonly entries = new Set<Entry<T, P>>(); // a Set keeps insertion order

  get size(): number {
    return this.entries.size;
  }

  wait(caller: Caller, ms: number, payload: P, onTimeout: (payload: P) => T, onGone?: () => void): Promise<T> {
    if (ms <= 0) return new Promise<T>((resolve) => resolve(onTimeout(payload)));
    return new Promise<T>((resolve, reject) => {
      const entry: Entry<T, P> = { caller, payload, resolve, reject, timer: undefined, unhook: noop };
      this.entries.add(entry);
      const unhook = caller.onGone(() => {
        if (!this.remove(entry)) return;
        reject(new CallerGoneError(`client connection ${caller.id} ended while waiting`));
        onGone?.();
      });
      if (!this.entries.has(entry)) return; // the caller was gone already
      entry.unhook = unhook;
      if (ms === Infinity) return;
      let left = ms;
      const arm = (): void => {
        const step = Math.min(left, MAX_TIMER_MS);
        left -= step;
        entry.timer = setTimeout(() => {
          if (left > 0) return arm();
          if (!this.remove(entry)) return;
          try {
            resolve(onTimeout(payload));
          } catch (error) {
            reject(error);
          }
        }, step);
      };
      arm();
    });
  }

  /** Take the oldest wait off the list. */
  shift(): Pending<T, P> | undefined {
    for (const entry of this.entries) {
      this.remove(entry);
      return entry;
    }
    return undefined;
  }

  /** Take every wait off the list, oldest first. */
  drain(): Pending<T, P>[] {
    const all = [...this.entries];
    for (const entry of all) this.remove(entry);
    return all;
  }

  private remove(entry: Entry<T, P>): boolean {
    if (!this.entries.delete(entry)) return false;
    clearTimeout(entry.timer);
    entry.unhook();
    return true;
  }
}

/**
 * What Lock and RLock share: a holder (the caller that acquired it), a recursion level,
 * FIFO hand-off to the oldest waiter, and release when the holder's connection ends.
 */
abstract class HeldLock {
  protected holder: Caller | null = null;
  protected count = 0;
  private unhook = noop;
  private readonly waiters = new WaitList<boolean, number>(); // payload: the level to take
  protected abstract readonly recursive: boolean;

  acquire(options?: BlockOptions): boolean | Promise<boolean> {
    const caller = currentCaller();
    return this.acquireFor(caller, waitMs(options), 1);
  }

  abstract release(): void;

  /** @internal Condition's hooks (Python's _is_owned, _release_save, _acquire_restore). */
  abstract _isOwned(caller: Caller): boolean;
  _releaseSave(_caller: Caller): number {
    const count = this.count; // every level of an RLock
    this.handOff();
    return count;
  }
  _acquireRestore(caller: Caller, count: number): boolean | Promise<boolean> {
    return this.acquireFor(caller, Infinity, count);
  }

  private acquireFor(caller: Caller, ms: number, levels: number): boolean | Promise<boolean> {
    if (this.holder === caller && this.recursive) {
      this.count += levels;
      return true;
    }
    if (this.holder === null) {
      this.take(caller, levels);
      return true;
    }
    if (ms === 0) return false;
    return this.waiters.wait(caller, ms, levels, () => false);
  }

  private take(caller: Caller, levels: number): void {
    this.holder = caller;
    this.count = levels;
    const unhook = caller.onGone(() => {
      if (this.holder === caller) this.handOff();
    });
    if (this.holder === caller) this.unhook = unhook; // else it was gone and let go at once
  }

  protected handOff(): void {
    this.unhook();
    this.unhook = noop;
    this.holder = null;
    this.count = 0;
    const next = this.waiters.shift();
    if (next) {
      this.take(next.caller, next.payload);
      next.resolve(true);
    }
  }
}

/**
 * threading.Lock. Anyone may release it, but it remembers who acquired it: if that
 * client's connection ends while it holds the lock, the lock is released.
 */
export class ManagedLock extends HeldLock {
  protected override readonly recursive = false;

  override release(): void {
    if (this.holder === null) throw new ValueError('release unlocked lock');
    this.handOff();
  }

  locked(): boolean {
    return this.holder !== null;
  }

  override _isOwned(_caller: Caller): boolean {
    return this.holder !== null; // as Python: a plain Lock counts as owned when locked
  }
}

/** threading.RLock, owned by a client connection, which may acquire it recursively. */
export class ManagedRLock extends HeldLock {
  protected override readonly recursive = true;

  override release(): void {
    if (this.holder !== currentCaller()) throw new ValueError('cannot release un-acquired lock');
    if (--this.count === 0) this.handOff();
  }

  override _isOwned(caller: Caller): boolean {
    return this.holder === caller;
  }
}

/** threading.Semaphore. Units are not owned: a client that dies keeps what it took. */
export class ManagedSemaphore {
  protected value: number;
  private readonly waiters = new WaitList<boolean>();

  constructor(value: unknown = 1) {
    this.value = checkCount('value', value, 0);
  }

  acquire(options?: BlockOptions): boolean | Promise<boolean> {
    const caller = currentCaller();
    const ms = waitMs(options);
    if (this.value > 0) {
      this.value--;
      return true;
    }
    if (ms === 0) return false;
    return this.waiters.wait(caller, ms, undefined, () => false);
  }

  release(n: unknown = 1): void {
    this.value += checkCount('n', n, 1);
    // Hand the new units straight to the oldest waiters.
    while (this.value > 0) {
      const next = this.waiters.shift();
      if (!next) break;
      this.value--;
      next.resolve(true);
    }
  }

  getValue(): number {
    return this.value;
  }
}

/** threading.BoundedSemaphore: releasing above the initial value is a ValueError. */
export class ManagedBoundedSemaphore extends ManagedSemaphore {
  private readonly initial: number;

  constructor(value: unknown = 1) {
    super(value);
    this.initial = this.value;
  }

  override release(n: unknown = 1): void {
    const count = checkCount('n', n, 1);
    if (this.value + count > this.initial) throw new ValueError('Semaphore released too many times');
    super.release(count);
  }
}

/** threading.Condition over a ManagedLock or ManagedRLock (a new RLock by default). */
export class ManagedCondition {
  private readonly lock: HeldLock;
  private readonly waiters = new WaitList<boolean>();

  constructor(lock?: unknown) {
    if (lock === undefined || lock === null) lock = new ManagedRLock();
    if (!(lock instanceof HeldLock)) {
      throw new TypeError("lock must be a Lock or RLock of the same manager, or undefined");
    }
    this.lock = lock;
  }

  acquire(options?: BlockOptions): boolean | Promise<boolean> {
    return this.lock.acquire(options);
  }

  release(): void {
    this.lock.release();
  }

  /** Release the lock (all levels), wait for a notify or the timeout, take it back. */
  wait(timeout?: number | null): Promise<boolean> {
    const caller = currentCaller();
    const ms = timeoutToMs('timeout', timeout);
    if (!this.lock._isOwned(caller)) throw new ValueError('cannot wait on un-acquired lock');
    const notified = this.waiters.wait(caller, ms, undefined, () => false);
    const levels = this.lock._releaseSave(caller);
    return notified.then(async (result) => {
      await this.lock._acquireRestore(caller, levels);
      return result;
    });
  }

  notify(n: unknown = 1): void {
    if (!this.lock._isOwned(currentCaller())) throw new ValueError('cannot notify on un-acquired lock');
    // Gone waiters have left the list already, so they never use up a notify.
    for (let left = checkCount('n', n, 0); left > 0; left--) {
      const next = this.waiters.shift();
      if (!next) break;
      next.resolve(true);
    }
  }

  notifyAll(): void {
    this.notify(this.waiters.size);
  }
}

/** threading.Event. */
export class ManagedEvent {
  private flag = false;
  private readonly waiters = new WaitList<boolean>();

  isSet(): boolean {
    return this.flag;
  }

  set(): void {
    this.flag = true;
    for (const next of this.waiters.drain()) next.resolve(true);
  }

  clear(): void {
    this.flag = false;
  }

  wait(timeout?: number | null): boolean | Promise<boolean> {
    const caller = currentCaller();
    const ms = timeoutToMs('timeout', timeout);
    if (this.flag || ms === 0) return this.flag;
    return this.waiters.wait(caller, ms, undefined, () => this.flag);
  }
}

/**
 * threading.Barrier without an action. A party that times out, or whose client's
 * connection ends while it waits, breaks the barrier for the others.
 */
export class ManagedBarrier {
  private readonly count: number;
  private readonly timeoutMs: number;
  private isBroken = false;
  private readonly waiters = new WaitList<number, number>(); // payload: the party's index

  constructor(parties: unknown, options?: { timeout?: number | null; action?: unknown }) {
    this.count = checkCount('parties', parties, 1);
    const { timeout, action } = checkOptions<{ timeout: number | null; action: unknown }>('options', options);
    if (action !== undefined && action !== null) {
      throw new TypeError(
        "a manager's Barrier cannot run an action: the manager server never runs code sent by a client. " +
          'Run the action in the process whose wait() returns index 0 instead.',
      );
    }
    this.timeoutMs = timeoutToMs('timeout', timeout);
  }

  /** Wait for all parties; resolves this party's arrival index (0 first, parties-1 last). */
  wait(timeout?: number | null): Promise<number> {
    const caller = currentCaller();
    const ms = timeout === undefined || timeout === null ? this.timeoutMs : timeoutToMs('timeout', timeout);
    if (this.isBroken) return Promise.reject(new BrokenBarrierError('the barrier is broken'));
    const index = this.waiters.size;
    if (index + 1 === this.count) {
      for (const next of this.waiters.drain()) next.resolve(next.payload);
      return Promise.resolve(index);
    }
    const timedOut = (): number => {
      this.breakWith('the barrier timed out', true);
      throw new BrokenBarrierError('the barrier timed out');
    };
    return this.waiters.wait(caller, ms, index, timedOut, () => this.breakWith('a party left the barrier', true));
  }

  /** Back to the empty state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    this.breakWith('the barrier was reset', false);
  }

  abort(): void {
    this.breakWith('the barrier was aborted', true);
  }

  parties(): number {
    return this.count;
  }

  nWaiting(): number {
    return this.waiters.size;
  }

  broken(): boolean {
    return this.isBroken;
  }

  private breakWith(message: string, broken: boolean): void {
    this.isBroken = broken;
    for (const next of this.waiters.drain()) next.reject(new BrokenBarrierError(message));
  }
}
