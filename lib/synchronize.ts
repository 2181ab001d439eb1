// Lock and RLock: one 32-bit word in shared memory each (plus an identity word for RLock).
// Semaphore, Condition, Event and Barrier live in files of their own and reuse the
// helpers exported here.
//
// The word holds 0 when free, else the holder's pid with bit 30 set while someone sleeps
// on it (Drepper's "mutex with waiters" in one word). Uncontended acquire and release are
// one compareExchange and one exchange on that word: no native call, no allocation. The
// addon is called only to sleep, or to wake when the waiters bit says someone sleeps.
// Sleepers wake every OWNER_CHECK_MS to see whether the holder died, and take the lock
// over if so (Python's locks would hang forever there). The slow paths are in lock_word.ts.
//
// An RLock's recursion depth is this thread's business only, so it lives in a JS object
// (a `Hold`), not in shared memory: other processes only need "held by pid P", which the
// word says. That keeps the RLock's fast path as cheap as the Lock's (a store into shared
// memory after the CAS cost 15-20 ns). Two RLock objects for the same lock in one thread
// (the lock sent away and received back) share one Hold through a small per-thread
// table, filled only when an RLock is sent or received.
import { ValueError } from './errors.js';
import type { Block } from './heap.js';
import { STATE, acquireWordAsync, acquireWordSync, releaseWord } from './lock_word.js';
import { PID, PID_MASK } from './owner.js';
import { type SharedHandle, toHandle } from './reduction.js';
import { takeParts } from './revived_parts.js';
import { type AcquireOptions, Acquirable, type BlockParts, acquireTimeout, registerWords } from './shared_words.js';
import { noExtraArguments } from './validate.js';

export type { AcquireOptions } from './shared_words.js';

const RLOCK_ID = 1; // RLock: a random identity, written once (tells a recycled block apart)
const WORDS = 2;

// What a Condition needs from its lock (symbols, so they stay off the public surface).
/** @internal True when this process (RLock: this thread) holds the lock. */
export const isMine: unique symbol = Symbol('isMine');
/** @internal Release completely; returns what `restore` needs to undo it. */
export const releaseAll: unique symbol = Symbol('releaseAll');
/** @internal Acquire again after releaseAll (never counts as a re-entry), sync or async. */
export const restoreSync: unique symbol = Symbol('restoreSync');
/** @internal */
export const restoreAsync: unique symbol = Symbol('restoreAsync');

abstract class WordLock extends Acquirable {
  protected constructor(block: Block | undefined) {
    super(WORDS, block);
  }

  /** @internal */
  abstract [isMine](): boolean;
  /** @internal */
  abstract [releaseAll](): number;
  /** @internal */
  abstract [restoreSync](depth: number): void;
  /** @internal */
  abstract [restoreAsync](depth: number): Promise<void>;

  protected ownerPid(): number {
    return Atomics.load(this.w, STATE) & PID_MASK;
  }

  /** The word, taken by any path; used by restore (never a re-entry). */
  protected takeSync(): void {
    if (Atomics.compareExchange(this.w, STATE, 0, PID) !== 0) acquireWordSync(this.w, Infinity, this.kind);
  }

  protected async takeAsync(): Promise<void> {
    if (Atomics.compareExchange(this.w, STATE, 0, PID) !== 0) await acquireWordAsync(this.w, Infinity, this.kind);
  }
}

// Lock.acquireSync/acquire and RLock's repeat their lines on purpose: factoring the fast
// path into a shared method measured 1.5-2 ns slower per uncontended acquire+release.

/** A non-recursive lock that any process or thread may release (as Python's). */
export class Lock extends WordLock {
  constructor();
  constructor(...extra: unknown[]) {
    noExtraArguments('Lock', [], extra);
    super(takeParts<BlockParts>()?.block);
  }
  protected get kind(): string {
    return 'Lock';
  }

  override acquireSync(options?: AcquireOptions): boolean {
    this.checkOpen();
    // Options are checked even when the lock is free; no options costs nothing.
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    if (Atomics.compareExchange(this.w, STATE, 0, PID) === 0) return true;
    return timeoutMs !== 0 && acquireWordSync(this.w, timeoutMs, 'Lock');
  }

  override async acquire(options?: AcquireOptions): Promise<boolean> {
    this.checkOpen();
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    if (Atomics.compareExchange(this.w, STATE, 0, PID) === 0) return true;
    if (timeoutMs === 0) return false;
    return acquireWordAsync(this.w, timeoutMs, 'Lock', options?.signal);
  }

  override release(): void {
    this.checkOpen();
    if (releaseWord(this.w) === 0) {
      throw new ValueError('release of an unlocked Lock: acquire it before releasing');
    }
  }

  /** @internal A Lock has no owning thread: held by this process is as close as it gets. */
  [isMine](): boolean {
    return this.ownerPid() === PID;
  }
  /** @internal */
  [releaseAll](): number {
    this.release();
    return 1;
  }
  /** @internal */
  [restoreSync](): void {
    this.takeSync();
  }
  /** @internal */
  async [restoreAsync](): Promise<void> {
    await this.takeAsync();
  }

  override toString(): string {
    const pid = this.ownerPid();
    return `<Lock(owner=${pid === 0 ? 'None' : pid})>`;
  }
}

/** This thread's hold on one RLock: its recursion depth, 0 when this thread does not hold it. */
interface Hold {
  n: number;
  readonly id: number;
  listed: boolean;
}

// RLocks that were sent or received in this thread, by mapping and offset, so that every
// RLock object for one lock shares one Hold. WeakRefs: an entry lives as long as an RLock
// object uses it; dead ones are swept as the table grows.
const holds = new WeakMap<ArrayBuffer, Map<number, WeakRef<Hold>>>();
let listed = 0;
let sweepAt = 64;

function sharedHold(block: Block, hold: Hold): Hold {
  let table = holds.get(block.buffer);
  if (table === undefined) holds.set(block.buffer, (table = new Map()));
  const found = table.get(block.byteOffset)?.deref();
  if (found !== undefined && found.id === hold.id) return found;
  table.set(block.byteOffset, new WeakRef(hold));
  hold.listed = true;
  if (++listed >= sweepAt) {
    listed = 0;
    for (const [off, ref] of table) {
      if (ref.deref() === undefined) table.delete(off);
      else listed++;
    }
    sweepAt = Math.max(64, 2 * listed);
  }
  return hold;
}

/** A recursive lock, owned by one thread of one process at a time. */
export class RLock extends WordLock {
  private mine: Hold;

  constructor();
  constructor(...extra: unknown[]) {
    noExtraArguments('RLock', [], extra);
    const block = takeParts<BlockParts>()?.block;
    super(block);
    if (block === undefined) {
      const id = (Math.random() * 0x7fffffff) | 1;
      Atomics.store(this.w, RLOCK_ID, id);
      this.mine = { n: 0, id, listed: false };
    } else {
      this.mine = sharedHold(this.block, { n: 0, id: Atomics.load(this.w, RLOCK_ID), listed: false });
    }
  }
  protected get kind(): string {
    return 'RLock';
  }

  override acquireSync(options?: AcquireOptions): boolean {
    this.checkOpen();
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    const h = this.mine;
    if (h.n > 0) {
      h.n++;
      return true;
    }
    if (Atomics.compareExchange(this.w, STATE, 0, PID) === 0 || (timeoutMs !== 0 && acquireWordSync(this.w, timeoutMs, 'RLock'))) {
      h.n = 1;
      return true;
    }
    return false;
  }

  override async acquire(options?: AcquireOptions): Promise<boolean> {
    this.checkOpen();
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    const h = this.mine;
    if (h.n > 0) {
      h.n++;
      return true;
    }
    if (Atomics.compareExchange(this.w, STATE, 0, PID) !== 0) {
      if (timeoutMs === 0 || !(await acquireWordAsync(this.w, timeoutMs, 'RLock', options?.signal))) return false;
    }
    h.n = 1;
    return true;
  }

  override release(): void {
    this.checkOpen();
    const h = this.mine;
    if (h.n === 0) throw new ValueError('cannot release un-acquired RLock: only its owner may release it');
    if (--h.n > 0) return;
    releaseWord(this.w);
  }

  /** True when this thread of this process holds it. */
  isOwned(): boolean {
    return this.mine.n > 0;
  }

  /** @internal */
  [isMine](): boolean {
    return this.mine.n > 0;
  }
  /** @internal */
  [releaseAll](): number {
    const depth = this.mine.n;
    this.mine.n = 0;
    releaseWord(this.w);
    return depth;
  }
  /** @internal */
  [restoreSync](depth: number): void {
    this.takeSync();
    this.mine.n = depth;
  }
  /** @internal */
  async [restoreAsync](depth: number): Promise<void> {
    await this.takeAsync();
    this.mine.n = depth;
  }

  override [toHandle](): SharedHandle {
    const handle = super[toHandle]();
    if (!this.mine.listed) this.mine = sharedHold(this.block, this.mine);
    return handle;
  }

  override toString(): string {
    if (this.mine.n > 0) return `<RLock(${PID}, ${this.mine.n})>`;
    const pid = this.ownerPid();
    return pid === 0 ? '<RLock(None, 0)>' : `<RLock(${pid}, nonzero)>`;
  }
}

registerWords('Lock', WORDS, () => new Lock());
registerWords('RLock', WORDS, () => new RLock());
