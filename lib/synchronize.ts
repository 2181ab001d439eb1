// Lock and RLock: one 32-bit word in shared memory each (plus owner and count for RLock).
//
// The word holds 0 when free, else the holder's pid with bit 30 set while someone sleeps
// on it (Drepper's "mutex with waiters" in one word). Uncontended acquire and release are
// one compareExchange and one exchange on that word: no native call, no allocation. The
// addon is called only to sleep, or to wake when the waiters bit says someone sleeps.
// Sleepers wake every OWNER_CHECK_MS to see whether the holder died, and take the lock
// over if so (Python's locks would hang forever there).
import { ValueError } from './errors.js';
import { deadlineAfter, remaining, waitAsync, waitSync, wake } from './futex.js';
import { type Block, type BlockHandle, allocate, attachBlock, blockHandle, releaseBlock, trackOwner } from './heap.js';
import { OWNER_CHECK_MS, PID, PID_MASK, THREAD, WAITERS, ownerIsGone, warnOwnerDied } from './owner.js';
import { HANDLE_KIND, type SharedHandle, registerReviver, toHandle } from './reduction.js';
import { checkOptions, timeoutToMs } from './validate.js';

export interface AcquireOptions {
  /** false: try once and return at once (Python's block=False). */
  block?: boolean;
  /** Seconds; null/undefined waits forever. Ignored when block is false. */
  timeout?: number | null;
  /** Abort an async acquire: it resolves false. */
  signal?: AbortSignal;
}

const STATE = 0; // the lock word
const OWNER_THREAD = 1; // RLock: holder's THREAD id (written only by the holder)
const COUNT = 2; // RLock: recursion depth (written only by the holder)
const WORDS = 3;
/** Tries before sleeping: a holder that releases within a few hundred ns costs no syscall. */
const SPIN = 64;

/** Parse acquire options into a timeout in ms (0 for non-blocking). */
function acquireTimeout(options: AcquireOptions | undefined): number {
  const { block = true, timeout } = checkOptions<AcquireOptions>('options', options);
  if (block === false) return 0;
  return timeoutToMs('options.timeout', timeout);
}

function tryOnce(w: Int32Array): boolean {
  return Atomics.compareExchange(w, STATE, 0, PID) === 0;
}

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

function acquireWordSync(w: Int32Array, timeoutMs: number, kind: string): boolean {
  for (let i = 0; i < SPIN; i++) {
    if (Atomics.load(w, STATE) === 0 && tryOnce(w)) return true;
  }
  const deadline = deadlineAfter(timeoutMs);
  const watch = new OwnerWatch();
  for (;;) {
    const c = takeOrMark(w);
    if (c === 0) return true;
    const left = remaining(deadline);
    if (left === 0) return false;
    const slice = Math.min(left, OWNER_CHECK_MS);
    if (waitSync(w, STATE, c, slice) === 'timed-out' && slice === OWNER_CHECK_MS) {
      if (watch.takeoverIfDead(w, c, kind)) return true;
    }
  }
}

async function acquireWordAsync(w: Int32Array, timeoutMs: number, kind: string, signal?: AbortSignal): Promise<boolean> {
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
function releaseWord(w: Int32Array): number {
  const prev = Atomics.exchange(w, STATE, 0);
  if ((prev & WAITERS) !== 0) wake(w, STATE, 1);
  return prev;
}

interface Releasable {
  release(): void;
}

function holder(lock: Releasable): Disposable & AsyncDisposable {
  let held = true;
  const done = () => {
    if (held) {
      held = false;
      lock.release();
    }
  };
  return { [Symbol.dispose]: done, [Symbol.asyncDispose]: async () => done() };
}

abstract class WordLock {
  /** The lock's words in shared memory. */
  protected readonly w: Int32Array;
  private readonly block: Block;
  private closed = false;

  protected constructor(block?: Block) {
    this.block = block ?? allocate(WORDS * 4, 4);
    this.w = new Int32Array(this.block.buffer, this.block.byteOffset, WORDS);
    trackOwner(this, this.block);
  }

  protected abstract get kind(): string;
  /** Run after the word was taken by any path (fast, slow, takeover). */
  protected abstract onAcquired(): void;
  /** Fast path for the holder itself (RLock recursion); false for Lock. */
  protected abstract reenter(): boolean;

  // acquireSync and acquire repeat their first lines on purpose: factoring them into a
  // shared method measured 1.5-2 ns slower per uncontended acquire+release (21 -> 22.5 ns).
  acquireSync(options?: AcquireOptions): boolean {
    this.checkOpen();
    // Options are checked even when the lock is free; no options costs nothing.
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    if (this.reenter()) return true;
    if (Atomics.compareExchange(this.w, STATE, 0, PID) === 0) {
      this.onAcquired();
      return true;
    }
    if (timeoutMs === 0 || !acquireWordSync(this.w, timeoutMs, this.kind)) return false;
    this.onAcquired();
    return true;
  }

  async acquire(options?: AcquireOptions): Promise<boolean> {
    this.checkOpen();
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    if (this.reenter()) return true;
    if (Atomics.compareExchange(this.w, STATE, 0, PID) === 0) {
      this.onAcquired();
      return true;
    }
    if (timeoutMs === 0) return false;
    if (!(await acquireWordAsync(this.w, timeoutMs, this.kind, options?.signal))) return false;
    this.onAcquired();
    return true;
  }

  abstract release(): void;

  /** `using _ = lock.hold()`: acquire now (blocking), release at scope exit. */
  hold(): Disposable {
    this.acquireSync();
    return holder(this);
  }

  /** `await using _ = await lock.holdAsync()`. */
  async holdAsync(): Promise<AsyncDisposable> {
    await this.acquire();
    return holder(this);
  }

  /** Run `fn` holding the lock; release however it ends. */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Drop this process's reference to the shared words. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    releaseBlock(this.block);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [toHandle](): SharedHandle {
    this.checkOpen();
    return { [HANDLE_KIND]: this.kind, block: blockHandle(this.block) };
  }

  protected checkOpen(): void {
    if (this.closed) throw new ValueError(`${this.kind} is closed`);
  }

  protected releaseWordChecked(): void {
    if (releaseWord(this.w) === 0) {
      throw new ValueError(`release of an unlocked ${this.kind}: acquire it before releasing`);
    }
  }

  protected ownerPid(): number {
    return Atomics.load(this.w, STATE) & PID_MASK;
  }
}

/** A non-recursive lock that any process or thread may release (as Python's). */
export class Lock extends WordLock {
  constructor(block?: Block) {
    super(block);
  }
  protected get kind(): string {
    return 'Lock';
  }
  protected onAcquired(): void {}
  protected reenter(): boolean {
    return false;
  }
  override release(): void {
    this.checkOpen();
    this.releaseWordChecked();
  }
  override toString(): string {
    const pid = this.ownerPid();
    return `<Lock(owner=${pid === 0 ? 'None' : pid})>`;
  }
}

/** A recursive lock, owned by one thread of one process at a time. */
export class RLock extends WordLock {
  constructor(block?: Block) {
    super(block);
  }
  protected get kind(): string {
    return 'RLock';
  }
  protected onAcquired(): void {
    this.w[OWNER_THREAD] = THREAD;
    this.w[COUNT] = 1;
  }
  protected reenter(): boolean {
    const w = this.w;
    if ((Atomics.load(w, STATE) & PID_MASK) === PID && w[OWNER_THREAD] === THREAD) {
      w[COUNT]++;
      return true;
    }
    return false;
  }
  /** True when this thread of this process holds it. */
  isOwned(): boolean {
    return (Atomics.load(this.w, STATE) & PID_MASK) === PID && this.w[OWNER_THREAD] === THREAD;
  }
  override release(): void {
    this.checkOpen();
    const w = this.w;
    if (!this.isOwned()) throw new ValueError('cannot release un-acquired RLock: only its owner may release it');
    if (--w[COUNT] > 0) return;
    w[OWNER_THREAD] = 0;
    releaseWord(w);
  }
  override toString(): string {
    const pid = this.ownerPid();
    return pid === 0 ? '<RLock(None, 0)>' : `<RLock(${pid}, ${this.w[COUNT]})>`;
  }
}

function blockOf(handle: SharedHandle): Block {
  return attachBlock(handle.block as BlockHandle);
}
registerReviver('Lock', (h) => new Lock(blockOf(h)));
registerReviver('RLock', (h) => new RLock(blockOf(h)));
