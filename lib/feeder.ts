// The writing side of a queue or a connection in one process: Python's feeder thread,
// without the thread. A put goes straight into the ring when there is room. When there
// is not, the message waits in this process's FIFO of pending messages, flushed in order
// as readers make room (so un-awaited puts keep their order): by the event loop, and by
// any Sync wait of this thread (pending_writes.ts). A put that must not buffer (a bounded
// queue, a pipe) waits instead: async on the event loop, Sync by blocking after the FIFO.
// Pending messages keep the event loop alive (as Python joins its feeder thread at exit)
// and a child's bootstrap awaits them; cancelJoinThread() lets the process exit without.
import { deadlineAfter, remaining } from './futex.js';
import { type Outgoing, discardExternal } from './messages.js';
import { CLOSED, GONE, type GoneCheck, NOTHING, type Ring, type WaitEnd } from './ring.js';
import type { BlockHandle } from './heap.js';
import { type PendingWriter, addPending, removePending } from './pending_writes.js';

/**
 * How a put ended: written, timed out (Full), the reading end is gone (pipes), or the
 * ring was released under it (CLOSED: the queue or connection was closed meanwhile).
 */
export type PutResult = boolean | typeof GONE | typeof CLOSED;

/** How long a Sync put that may buffer first waits for room in the ring. */
const BUFFER_AFTER_MS = 0.1;

interface Pending {
  payload: Uint8Array;
  flags: number;
  external: BlockHandle | null;
  /** The message count it waits for room under (0: accepted already, bytes only). */
  maxsize: number;
  deadline: number;
  settle: ((result: PutResult) => void) | null;
}

export class Feeder implements PendingWriter {
  private readonly queue: Pending[] = [];
  private running: Promise<void> | null = null;
  private cancelled = false;
  /** Pending messages already accepted (they count; a put still waiting for room does not). */
  private accepted = 0;
  /** A message of this feeder's queue is being written (flushNow must not write it again). */
  private writing = false;

  /**
   * `maxsize` > 0: at most that many messages in the ring plus pending here (Python's
   * bounded queue; other processes' pending messages are not seen, so several producers
   * buffering at once can exceed it by what they buffer).
   */
  constructor(
    private readonly ring: Ring,
    private readonly maxsize: number,
    private readonly gone?: GoneCheck,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  get keepsAlive(): boolean {
    return !this.cancelled;
  }

  /** Messages in the ring plus those accepted and pending here. */
  count(): number {
    return this.ring.count() + this.accepted;
  }

  private countRoom(): boolean {
    return this.maxsize === 0 || this.count() < this.maxsize;
  }

  /**
   * Put from a Sync call. `buffer` (a Queue, whose put never waits on bytes in Python):
   * when the ring is full of bytes but the count allows, keep the message pending here.
   * Else block up to `timeoutMs`, after the pending messages.
   */
  putSync(out: Outgoing, timeoutMs: number, buffer: boolean): PutResult {
    this.flushNow();
    if (this.queue.length === 0 && this.ring.tryPut(out.payload, out.length, out.flags, this.maxsize)) return true;
    if (buffer && this.countRoom()) {
      // A reader draining the ring makes room within microseconds: a short spin for it
      // keeps a fast producer writing straight into the ring instead of buffering.
      if (this.queue.length === 0 && this.writeSync(out.payload, out.length, out.flags, 0, deadlineAfter(BUFFER_AFTER_MS)) === true) {
        return true;
      }
      this.enqueue(out, 0, Infinity, null);
      return true;
    }
    const deadline = deadlineAfter(timeoutMs);
    while (this.queue.length > 0) {
      const first = this.queue[0]!;
      // While this thread blocks here, its Sync waits flush pending writers
      // (pending_writes.ts): not this one, whose first message is being written.
      this.writing = true;
      let result: PutResult;
      try {
        result = this.writeSync(first.payload, first.payload.length, first.flags, first.maxsize, Math.min(first.deadline, deadline));
      } finally {
        this.writing = false;
      }
      if (result === false && performance.now() < first.deadline) {
        discardExternal(out.external); // our own deadline
        return false;
      }
      this.queue.shift();
      this.settle(first, result);
      if (result === GONE || result === CLOSED) {
        discardExternal(out.external);
        return result;
      }
    }
    const result = this.writeSync(out.payload, out.length, out.flags, this.maxsize, deadline);
    if (result !== true) discardExternal(out.external);
    return result;
  }

  /**
   * Put without blocking the thread; resolves when the message is in the ring, or, with
   * `buffer`, as soon as it is accepted (pending here while the ring is full of bytes).
   * `timeoutMs` 0 fails at once (false) when it would have to wait.
   */
  put(out: Outgoing, timeoutMs: number, buffer: boolean): Promise<PutResult> {
    if (this.queue.length === 0 && this.ring.tryPut(out.payload, out.length, out.flags, this.maxsize)) return Promise.resolve(true);
    if (buffer && this.countRoom()) {
      this.enqueue(out, 0, Infinity, null);
      return Promise.resolve(true);
    }
    if (timeoutMs === 0) {
      discardExternal(out.external);
      return Promise.resolve(false);
    }
    // The settle function is in place before the flush starts (it may succeed at once).
    return new Promise((resolve) => this.enqueue(out, this.maxsize, timeoutMs, resolve));
  }

  private enqueue(out: Outgoing, maxsize: number, timeoutMs: number, settle: Pending['settle']): void {
    if (maxsize === 0) this.accepted++;
    this.queue.push({
      payload: out.payload.slice(0, out.length),
      flags: out.flags,
      external: out.external,
      maxsize,
      deadline: deadlineAfter(timeoutMs),
      settle,
    });
    this.start();
  }

  /** Write every pending message, blocking until the ring takes them. */
  flushSync(): void {
    while (this.queue.length > 0) {
      const first = this.queue[0]!;
      this.writing = true;
      let result: PutResult;
      try {
        result = this.writeSync(first.payload, first.payload.length, first.flags, first.maxsize, first.deadline);
      } finally {
        this.writing = false;
      }
      this.queue.shift();
      this.settle(first, result);
    }
  }

  /** Move pending messages into the ring while they fit; never waits for room. */
  flushNow(): void {
    // Not re-entered: a tryPut that waits for the writers' lock runs the Sync-wait flush
    // (pending_writes.ts), which would write this same first message a second time.
    if (this.writing) return;
    const q = this.queue;
    this.writing = true;
    try {
      while (q.length > 0) {
        const first = q[0]!;
        if (!this.ring.tryPut(first.payload, first.payload.length, first.flags, first.maxsize)) return;
        q.shift();
        this.settle(first, true);
      }
    } finally {
      this.writing = false;
    }
  }

  /** Resolves when nothing is pending (the ring may be released then). */
  async idle(): Promise<void> {
    // Again while a flush is running: one can start as the last one ends (see start).
    while (this.running !== null) await this.running;
  }

  /** Python's cancel_join_thread: pending messages no longer keep the process alive. */
  cancel(): void {
    this.cancelled = true;
  }

  private settle(item: Pending, result: PutResult): void {
    if (item.maxsize === 0) this.accepted--;
    if (result !== true) discardExternal(item.external);
    item.settle?.(result);
  }

  private writeSync(payload: Uint8Array, len: number, flags: number, maxsize: number, deadline: number): PutResult {
    for (;;) {
      if (this.ring.tryPut(payload, len, flags, maxsize)) return true;
      const end = this.ring.waitRoomSync(len, maxsize, deadline, this.gone);
      if (end === GONE) return GONE;
      if (end === NOTHING) return this.ring.tryPut(payload, len, flags, maxsize);
    }
  }

  private start(): void {
    if (this.running !== null) return;
    addPending(this);
    this.running = this.flush().then(
      () => {
        this.running = null;
        // flush() can end with the FIFO empty while a Sync put enqueues before this runs
        // (flush's first flushNow found room a reader had just made): that put saw
        // `running` set and started nothing, so start again for it. Without this the
        // message sat in the FIFO, unregistered, and a child's exit dropped it.
        if (this.queue.length > 0) this.start();
        else removePending(this);
      },
      (err: unknown) => {
        this.running = null;
        removePending(this);
        throw err;
      },
    );
  }

  private async flush(): Promise<void> {
    const q = this.queue;
    while (q.length > 0) {
      if (this.ring.released) {
        // A guard: close() and a collected connection both wait for idle() before they
        // release; nothing may be written into a released ring.
        for (const item of q.splice(0)) this.settle(item, CLOSED);
        break;
      }
      this.flushNow();
      const first = q[0];
      if (first === undefined) break;
      if (remaining(first.deadline) === 0) {
        q.shift();
        this.settle(first, false);
        continue;
      }
      let end: true | WaitEnd;
      if (this.cancelled) {
        // Poll on an unref'd timer: a cancelled feeder must not hold the process.
        await new Promise((r) => setTimeout(r, 1).unref());
        end = this.gone?.() ? GONE : true;
      } else {
        end = await this.ring.waitRoom(first.payload.length, first.maxsize, first.deadline, undefined, this.gone);
      }
      if (end === GONE || end === CLOSED) {
        for (const item of q.splice(0)) this.settle(item, end);
      }
    }
  }
}
