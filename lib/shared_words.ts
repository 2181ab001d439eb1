// The common frame of the synchronization primitives: a few 32-bit words in a heap block
// (see heap.ts), closed once, sent to other processes as a handle naming the block, and
// the option parsing they share.
import { ValueError } from './errors.js';
import { type Block, allocate, attachBlock, blockField, blockHandle, releaseBlock, trackOwner } from './heap.js';
import { HANDLE_KIND, type SharedHandle, registerReviver, toHandle } from './reduction.js';
import { withParts } from './revived_parts.js';
import { checkOptions, describe, timeoutToMs } from './validate.js';

export interface AcquireOptions {
  /** false: try once and return at once (Python's block=False). */
  block?: boolean;
  /** Seconds; null/undefined waits forever. Ignored when block is false. */
  timeout?: number | null;
  /** Abort an async acquire: it resolves false. */
  signal?: AbortSignal;
}

/** Parse acquire options into a timeout in ms (0 for non-blocking). */
export function acquireTimeout(options: AcquireOptions | undefined): number {
  const { block = true, timeout } = checkOptions<AcquireOptions>('options', options);
  if (block === false) return 0;
  return timeoutToMs('options.timeout', timeout);
}

/** A wait's timeout argument (seconds, null/undefined = forever, negative = 0) in ms. */
export function waitTimeout(timeout: unknown): number {
  return timeoutToMs('timeout', timeout);
}

interface Releasable {
  release(): void;
}

/** What hold()/holdAsync() return: releases `lock` once, on the first dispose. */
export function holder(lock: Releasable): Disposable & AsyncDisposable {
  let held = true;
  const done = () => {
    if (held) {
      held = false;
      lock.release();
    }
  };
  return { [Symbol.dispose]: done, [Symbol.asyncDispose]: async () => done() };
}

/** What a revived SharedWords object is handed (revived_parts.ts): its block. */
export interface BlockParts {
  readonly block: Block;
}

/** The handle of a SharedWords object of `words` words: the block that holds them. */
export function wordsShape(words: number) {
  return { block: blockField(words * 4) };
}

/** Register `kind`, a SharedWords type of `words` words whose handle is only its block: revived as `make()`. */
export function registerWords(kind: string, words: number, make: () => SharedWords): void {
  registerReviver(kind, wordsShape(words), (h) => withParts<SharedWords>({ block: attachBlock(h.block) }, make));
}

export abstract class SharedWords {
  /** The object's words in shared memory. */
  protected readonly w: Int32Array;
  protected readonly block: Block;
  private closed = false;

  protected constructor(words: number, block?: Block) {
    this.block = block ?? allocate(words * 4, 4);
    this.w = new Int32Array(this.block.buffer, this.block.byteOffset, words);
    trackOwner(this, this.block);
  }

  /** The handle kind, also the class name in messages. */
  protected abstract get kind(): string;

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
}

/**
 * A SharedWords object that is taken and given back (locks, semaphores): the scope
 * helpers are the same for all of them.
 */
export abstract class Acquirable extends SharedWords {
  abstract acquireSync(options?: AcquireOptions): boolean;
  abstract acquire(options?: AcquireOptions): Promise<boolean>;
  abstract release(): void;

  /** `using _ = x.hold()`: acquire now (blocking), release at scope exit. */
  hold(): Disposable {
    this.acquireSync();
    return holder(this);
  }

  /** `await using _ = await x.holdAsync()`. */
  async holdAsync(): Promise<AsyncDisposable> {
    await this.acquire();
    return holder(this);
  }

  /** Run `fn` holding it; release however `fn` ends. */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError(`fn must be a function to run under the lock, got ${describe(fn)}`);
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
