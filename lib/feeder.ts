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
import { GONE, type GoneCheck, NOTHING, type Ring, type WaitEnd } from './ring.js';
import type { BlockHandle } from './heap.js';
import { type PendingWriter, addPending, removePending } from './pending_writes.js';

/** How a put ended: written, timed out (Full), or the reading end is gone (pipes). */
export type PutResult = boolean | typeof GONE;

interface Pending {
  payload: Uint8Array;
  flags: number;
  external: BlockHandle | null;
  deadline: number;
  settle: ((result: PutResult) => void) | null;
}

export class Feeder implements PendingWriter {
  private readonly queue: Pending[] = [];
  private running: Promise<void> | null = null;
  private cancelled = false;

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

  /**
   * Put from a Sync call. `buffer` (an unbounded queue, whose put never waits in Python):
   * keep the message pending here when the ring is full. Else block up to `timeoutMs`,
   * after the pending messages.
   */
  putSync(out: Outgoing, timeoutMs: number, buffer = false): PutResult {
    this.flushNow();
    if (this.queue.length === 0 && this.ring.tryPut(out.payload, out.flags, this.maxsize)) return true;
    if (buffer) {
      this.enqueue(out, Infinity);
      return true;
    }
    const deadline = deadlineAfter(timeoutMs);
    while (this.queue.length > 0) {
      const first = this.queue[0]!;
      const result = this.writeSync(first.payload, first.flags, Math.min(first.deadline, deadline));
      if (result === false && performance.now() < first.deadline) return false; // our own deadline
      this.queue.shift();
      this.settle(first, result);
      if (result === GONE) return GONE;
    }
    const result = this.writeSync(out.payload, out.flags, deadline);
    if (result !== true) discardExternal(out.external);
    return result;
  }

  /**
   * Put without blocking the thread. `early`: resolve once the message is queued here
   * (Python's unbounded put, which never waits); else when it is in the ring.
   * `timeoutMs` 0 fails at once (false) when there is no room.
   */
  put(out: Outgoing, timeoutMs: number, early: boolean): Promise<PutResult> {
    if (this.queue.length === 0 && this.ring.tryPut(out.payload, out.flags, this.maxsize)) return Promise.resolve(true);
    if (timeoutMs === 0 && !early) {
      discardExternal(out.external);
      return Promise.resolve(false);
    }
    const item = this.enqueue(out, early ? Infinity : timeoutMs);
    if (early) return Promise.resolve(true);
    return new Promise((resolve) => {
      item.settle = resolve;
    });
  }

  private enqueue(out: Outgoing, timeoutMs: number): Pending {
    const item: Pending = {
      payload: out.payload.slice(),
      flags: out.flags,
      external: out.external,
      deadline: deadlineAfter(timeoutMs),
      settle: null,
    };
    this.queue.push(item);
    this.start();
    return item;
  }

  /** Move pending messages into the ring while they fit; never waits. */
  flushNow(): void {
    const q = this.queue;
    while (q.length > 0 && this.ring.tryPut(q[0]!.payload, q[0]!.flags, this.maxsize)) this.settle(q.shift()!, true);
  }

  /** Resolves when nothing is pending. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Python's cancel_join_thread: pending messages no longer keep the process alive. */
  cancel(): void {
    this.cancelled = true;
  }

  private settle(item: Pending, result: PutResult): void {
    if (result !== true) discardExternal(item.external);
    item.settle?.(result);
  }

  private writeSync(payload: Uint8Array, flags: number, deadline: number): PutResult {
    for (;;) {
      if (this.ring.tryPut(payload, flags, this.maxsize)) return true;
      const end = this.ring.waitRoomSync(payload.length, this.maxsize, deadline, this.gone);
      if (end === GONE) return GONE;
      if (end === NOTHING) return this.ring.tryPut(payload, flags, this.maxsize);
    }
  }

  private start(): void {
    if (this.running !== null) return;
    addPending(this);
    this.running = this.flush().finally(() => {
      this.running = null;
      removePending(this);
    });
  }

  private async flush(): Promise<void> {
    const q = this.queue;
    while (q.length > 0) {
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
        end = await this.ring.waitRoom(first.payload.length, this.maxsize, first.deadline, undefined, this.gone);
      }
      if (end === GONE) {
        for (const item of q.splice(0)) this.settle(item, GONE);
      }
    }
  }
}
