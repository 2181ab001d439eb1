// Queue, SimpleQueue and JoinableQueue over one shared ring (ring.ts) each. Any number
// of producers and consumers in any processes; queues travel to children as handles.
// Messages are encoded by codec.ts; one bigger than half the ring goes in its own block
// (messages.ts), so a message of any size works.
import { Empty, Full, ValueError } from './errors.js';
import { Feeder, type PutResult } from './feeder.js';
import { deadlineAfter, remaining, waitSync, wake } from './futex.js';
import { integer } from './handle_shape.js';
import { MessageReader, Outgoing, leftoverBlocks } from './messages.js';
import { HANDLE_KIND, type Shareable, type SharedHandle, registerReviver, toHandle } from './reduction.js';
import { takeParts, withParts } from './revived_parts.js';
import { CLOSED, EXTRA, NOTHING, Ring } from './ring.js';
import { ringField } from './ring_handle.js';
import { checkBoolean, checkInteger, checkOptions, noExtraArguments, timeoutToMs } from './validate.js';

/** Ring size of a queue: room for thousands of small messages; bigger ones go outside. */
const QUEUE_RING_BYTES = 256 * 1024;
/** The most messages a bounded queue holds (the feeder's count has room for it). */
const MAX_MAXSIZE = 0x3fffffff;

export interface PutOptions {
  /** false: fail with Full at once when the queue is full. Default true. */
  block?: boolean;
  /** Seconds to wait for room; null/undefined waits forever. */
  timeout?: number | null;
}

export interface GetOptions {
  /** false: fail with Empty at once when the queue is empty. Default true. */
  block?: boolean;
  /** Seconds to wait for a message; null/undefined waits forever. */
  timeout?: number | null;
  /** Abort a waiting get(): it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** { block, timeout } as a timeout in ms (0 when not blocking). */
function blockTimeout(options: PutOptions | GetOptions | undefined): number {
  if (options === undefined) return Infinity;
  const { block = true, timeout } = checkOptions<PutOptions>('options', options);
  if (!checkBoolean('options.block', block)) return 0;
  return timeoutToMs('options.timeout', timeout);
}

/** What a revived queue is handed (revived_parts.ts): its ring and its maxsize. */
interface QueueParts {
  readonly ring: Ring;
  readonly maxsize: number;
}

/** The common part: a ring, a reader, a feeder and the closed state. */
abstract class RingQueue<T> implements Shareable, Disposable, AsyncDisposable {
  protected readonly ring: Ring;
  protected readonly maxsize: number;
  protected readonly feeder: Feeder;
  private readonly out = new Outgoing();
  private readonly reader = new MessageReader();
  private readonly peekReader = new MessageReader();
  private closed = false;

  protected constructor(maxsize: number, ring: Ring | null) {
    this.maxsize = maxsize;
    this.ring = ring ?? Ring.create(QUEUE_RING_BYTES);
    this.feeder = new Feeder(this.ring, maxsize);
  }

  protected abstract get kind(): string;

  [toHandle](): SharedHandle {
    this.checkOpen();
    return { [HANDLE_KIND]: this.kind, ring: this.ring.handle(), maxsize: this.maxsize };
  }

  protected checkOpen(): void {
    if (this.closed) throw this.closedError();
  }

  protected encode(obj: unknown, method: string): Outgoing {
    this.checkOpen();
    return this.out.value(this.ring, obj, this.kind, method);
  }

  protected putResult(result: PutResult): void {
    if (result === true) return;
    if (result === CLOSED) throw this.closedError();
    throw new Full(`${this.kind} is full`);
  }

  protected closedError(): ValueError {
    return new ValueError(`${this.kind} is closed`);
  }

  protected getSyncValue(timeoutMs: number): T {
    this.checkOpen();
    const got = this.ring.takeSync(this.reader, timeoutMs);
    if (got === NOTHING) throw new Empty(`${this.kind} is empty`);
    return this.reader.finish(got) as T;
  }

  protected async getValue(timeoutMs: number, signal: AbortSignal | undefined): Promise<T> {
    this.checkOpen();
    const got = await this.ring.take(this.reader, timeoutMs, signal);
    if (got === CLOSED) throw this.closedError(); // closed while it waited
    if (got === NOTHING) {
      if (signal?.aborted) throw signal.reason;
      throw new Empty(`${this.kind} is empty`);
    }
    return this.reader.finish(got) as T;
  }

  /** @internal Block until this process's pending puts are in the ring. */
  flushSync(): void {
    this.feeder.flushSync();
  }

  /** @internal Puts of this process still pending (not in the ring). */
  get pendingPuts(): number {
    return this.feeder.pending;
  }

  /** @internal See MessageReader.onRead. */
  set onTake(fn: ((value: T) => void) | null) {
    this.reader.onRead = fn as ((value: unknown) => void) | null;
  }

  /**
   * @internal The first message, not consumed (see Ring.peek), or undefined. A message
   * that needs work after its consume (v8 format, big) comes back as an opaque object.
   */
  peekNow(): unknown {
    if (this.closed) return undefined; // its ring may be released
    const got = this.ring.peek(this.peekReader);
    return got === NOTHING ? undefined : got;
  }

  /** @internal The next message, or undefined when there is none; never waits. */
  takeNow(): T | undefined {
    if (this.closed) return undefined; // its ring may be released
    const got = this.ring.tryTake(this.reader);
    return got === NOTHING ? undefined : (this.reader.finish(got) as T);
  }

  /** Whether the queue is empty (a snapshot: others may put or get right after). */
  empty(): boolean {
    this.checkOpen();
    return this.ring.isEmpty();
  }

  /**
   * No more puts from this object (gets fail too, a get waiting now rejects). Messages
   * still pending in this process are flushed in the background; joinThread() waits for
   * that. Then the ring is released, and its memory unmapped here if nothing else here
   * uses it. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // At once when nothing is pending (a loop of queues must not wait for the event loop
    // to give their memory back), or when cancelJoinThread() said pending puts may be lost
    // (Python's documented loss; a feeder waiting for room that no reader will make would
    // otherwise hold the ring and the process forever: Pool.terminate with tasks buffered);
    // else once the feeder, which writes into it, is done.
    if (this.feeder.pending === 0 || !this.feeder.keepsAlive) this.ring.release(leftoverBlocks);
    else void this.feeder.idle().then(() => this.ring.release(leftoverBlocks));
  }

  /** Python's join_thread: resolves when this process's pending puts are in the queue. */
  joinThread(): Promise<void> {
    if (!this.closed) throw new ValueError(`${this.kind}.joinThread() needs close() first`);
    return this.feeder.idle();
  }

  /** Python's cancel_join_thread: do not keep the process alive for pending puts. */
  cancelJoinThread(): void {
    this.feeder.cancel();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.feeder.idle();
  }
}

/** A FIFO queue for any number of processes (Python's multiprocessing.Queue). */
export class Queue<T = unknown> extends RingQueue<T> {
  /** `maxsize` <= 0 (the default) means unbounded; else at most that many messages. */
  constructor(maxsize?: number);
  constructor(maxsize = 0, ...extra: unknown[]) {
    noExtraArguments(new.target.name, ['maxsize'], extra);
    const parts = takeParts<QueueParts>();
    const limit = parts?.maxsize ?? checkInteger('maxsize', maxsize, Number.MIN_SAFE_INTEGER);
    super(limit > 0 ? Math.min(limit, MAX_MAXSIZE) : 0, parts?.ring ?? null);
  }

  protected get kind(): string {
    return 'Queue';
  }

  /** Put `obj`, waiting for room when the queue is full. Rejects with Full after the timeout. */
  async put(obj: T, options?: PutOptions): Promise<void> {
    const timeoutMs = blockTimeout(options);
    const out = this.encode(obj, 'put');
    // Only the message count makes a put wait (Python's feeder thread): a message the
    // count allows is in the ring now, or pending here until the ring has room.
    this.putResult(await this.feeder.put(out, timeoutMs, true));
  }

  /** put() that blocks the thread instead of returning a Promise. */
  putSync(obj: T, options?: PutOptions): void {
    const timeoutMs = blockTimeout(options);
    this.putResult(this.feeder.putSync(this.encode(obj, 'putSync'), timeoutMs, true));
  }

  /** put(obj, { block: false }), without a Promise: throws Full when the queue is full. */
  putNowait(obj: T): void {
    this.putSync(obj, { block: false });
  }

  /** Remove and return the first message, waiting for one. Rejects with Empty after the timeout. */
  get(options?: GetOptions): Promise<T> {
    const timeoutMs = blockTimeout(options);
    return this.getValue(timeoutMs, options?.signal);
  }

  getSync(options?: GetOptions): T {
    return this.getSyncValue(blockTimeout(options));
  }

  /** get({ block: false }) without a Promise: throws Empty when there is no message. */
  getNowait(): T {
    return this.getSyncValue(0);
  }

  /** How many messages are in the queue (approximate while others use it, as in Python). */
  qsize(): number {
    this.checkOpen();
    return this.feeder.count();
  }

  /** Whether the queue holds maxsize messages (never, for an unbounded queue). */
  full(): boolean {
    this.checkOpen();
    return this.maxsize > 0 && this.feeder.count() >= this.maxsize;
  }
}

/** A simpler queue: put, get, empty, close (Python's multiprocessing.SimpleQueue). */
export class SimpleQueue<T = unknown> extends RingQueue<T> {
  constructor();
  constructor(...extra: unknown[]) {
    noExtraArguments('SimpleQueue', [], extra);
    super(0, takeParts<QueueParts>()?.ring ?? null);
  }

  protected get kind(): string {
    return 'SimpleQueue';
  }

  /** Put `obj`; resolves when it is in the queue. */
  async put(obj: T): Promise<void> {
    this.putResult(await this.feeder.put(this.encode(obj, 'put'), Infinity, false));
  }

  /** put() that blocks while the queue's ring is full. */
  putSync(obj: T): void {
    this.putResult(this.feeder.putSync(this.encode(obj, 'putSync'), Infinity, false));
  }

  get(options?: Pick<GetOptions, 'signal'>): Promise<T> {
    return this.getValue(Infinity, checkOptions<GetOptions>('options', options).signal);
  }

  getSync(): T {
    return this.getSyncValue(Infinity);
  }
}

// JoinableQueue words in the ring's header.
const UNFINISHED = EXTRA;
const JOIN_SLEEPERS = EXTRA + 1;

/** A Queue whose consumers say when each item is done (Python's JoinableQueue). */
export class JoinableQueue<T = unknown> extends Queue<T> {
  protected override get kind(): string {
    return 'JoinableQueue';
  }

  override async put(obj: T, options?: PutOptions): Promise<void> {
    // The ring stays mapped here until a failed put has taken its count back.
    if (!this.ring.enter()) throw this.closedError();
    try {
      // Counted before the message can be taken, so taskDone() never sees it early.
      Atomics.add(this.ring.header, UNFINISHED, 1);
      try {
        await super.put(obj, options);
      } catch (err) {
        this.undoPut();
        throw err;
      }
    } finally {
      this.ring.leave();
    }
  }

  override putSync(obj: T, options?: PutOptions): void {
    this.checkOpen();
    Atomics.add(this.ring.header, UNFINISHED, 1);
    try {
      super.putSync(obj, options);
    } catch (err) {
      this.undoPut();
      throw err;
    }
  }

  private undoPut(): void {
    if (Atomics.sub(this.ring.header, UNFINISHED, 1) === 1) this.wakeJoiners();
  }

  private wakeJoiners(): void {
    if (Atomics.load(this.ring.header, JOIN_SLEEPERS) > 0) wake(this.ring.header, UNFINISHED, 0x7fffffff);
  }

  /** Say one item taken from the queue is done. ValueError if called more times than items were put. */
  taskDone(): void {
    this.checkOpen();
    const h = this.ring.header;
    for (;;) {
      const n = Atomics.load(h, UNFINISHED);
      if (n <= 0) throw new ValueError('taskDone() called too many times');
      if (Atomics.compareExchange(h, UNFINISHED, n, n - 1) === n) {
        if (n === 1) this.wakeJoiners();
        return;
      }
    }
  }

  /** Resolves when every item put has been marked done with taskDone(); rejects if closed meanwhile. */
  async join(): Promise<void> {
    for (;;) {
      this.checkOpen(); // also after each sleep: a closed queue's ring may be gone
      const n = Atomics.load(this.ring.header, UNFINISHED);
      if (n <= 0) return;
      await this.ring.sleepOn(JOIN_SLEEPERS, UNFINISHED, n, Infinity);
    }
  }

  /** join() that blocks the thread. Optional timeout in seconds; returns false if it ran out. */
  joinSync(timeout?: number | null): boolean {
    this.checkOpen();
    const h = this.ring.header;
    const deadline = deadlineAfter(timeoutToMs('timeout', timeout));
    for (;;) {
      const n = Atomics.load(h, UNFINISHED);
      if (n <= 0) return true;
      const left = remaining(deadline);
      if (left === 0) return false;
      Atomics.add(h, JOIN_SLEEPERS, 1);
      try {
        waitSync(h, UNFINISHED, n, left); // moves this thread's pending puts meanwhile
      } finally {
        Atomics.sub(h, JOIN_SLEEPERS, 1);
      }
    }
  }
}

/** A Queue over a ring of the caller's making (the pool's bigger rings). */
export function queueOver<T>(ring: Ring): Queue<T> {
  return withParts({ ring, maxsize: 0 }, () => new Queue<T>());
}

/** A queue's handle (a SimpleQueue's maxsize is 0). */
const QUEUE_SHAPE = { ring: ringField, maxsize: integer(0, MAX_MAXSIZE) };

/** Register queue kind `kind`: revived as `make()` with its ring and maxsize handed over. */
function registerQueue(kind: string, make: () => RingQueue<unknown>): void {
  registerReviver(kind, QUEUE_SHAPE, (h) => withParts<RingQueue<unknown>>({ ring: Ring.attach(h.ring), maxsize: h.maxsize }, make));
}

registerQueue('Queue', () => new Queue());
registerQueue('JoinableQueue', () => new JoinableQueue());
registerQueue('SimpleQueue', () => new SimpleQueue());
