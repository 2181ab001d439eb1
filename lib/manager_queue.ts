// The queues a manager server holds for its clients (Python's queue.Queue and the
// JoinableQueue a SyncManager hands out). Plain in-process objects on the server's event
// loop: put and get answer at once when they can and return a Promise only when they
// must wait. Waiting getters and putters are served FIFO: a put hands its item straight
// to the oldest waiting get, a get lets the oldest waiting put in. A waiting call whose
// client's connection ends is dropped: its get takes no item, its put adds none.
import { currentCaller } from './manager_caller.js';
import { Empty, Full, ValueError } from './errors.js';
import { type BlockOptions, checkCount, WaitList, waitMs } from './manager_sync.js';

/** An array used as a FIFO with an advancing head, so a long queue costs O(1) per get. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T {
    const item = this.items[this.head] as T;
    this.items[this.head++] = undefined; // let it be collected
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** queue.Queue(maxsize): maxsize <= 0 means unbounded. */
export class ManagedQueue {
  private readonly maxsize: number;
  private readonly items = new Fifo<unknown>();
  private readonly getters = new WaitList<unknown>();
  private readonly putters = new WaitList<void, unknown>(); // payload: the item to put

  constructor(maxsize: unknown = 0) {
    this.maxsize = checkCount('maxsize', maxsize, Number.MIN_SAFE_INTEGER);
  }

  put(item: unknown, options?: BlockOptions): void | Promise<void> {
    const caller = currentCaller();
    const ms = waitMs(options);
    if (!this.full()) return this.add(item);
    if (ms === 0) throw new Full('the queue is full');
    return this.putters.wait(caller, ms, item, () => {
      throw new Full('the queue is still full after the timeout');
    });
  }

  putNowait(item: unknown): void {
    this.put(item, { block: false });
  }

  get(options?: BlockOptions): unknown {
    const caller = currentCaller();
    const ms = waitMs(options);
    if (this.items.length > 0) {
      const item = this.items.shift();
      const putter = this.putters.shift(); // a slot is free: the oldest waiting put goes in
      if (putter) {
        this.add(putter.payload);
        putter.resolve();
      }
      return item;
    }
    if (ms === 0) throw new Empty('the queue is empty');
    return this.getters.wait(caller, ms, undefined, () => {
      throw new Empty('the queue is still empty after the timeout');
    });
  }

  getNowait(): unknown {
    return this.get({ block: false });
  }

  qsize(): number {
    return this.items.length;
  }

  empty(): boolean {
    return this.items.length === 0;
  }

  full(): boolean {
    return this.maxsize > 0 && this.items.length >= this.maxsize;
  }

  /** An item enters the queue (or goes straight to the oldest waiting get). */
  protected add(item: unknown): void {
    const getter = this.getters.shift();
    if (getter) getter.resolve(item);
    else this.items.push(item);
  }
}

/** A Queue that counts unfinished tasks: taskDone() marks one done, join() waits for none. */
export class ManagedJoinableQueue extends ManagedQueue {
  private unfinished = 0;
  private readonly joiners = new WaitList<void>();

  taskDone(): void {
    if (this.unfinished <= 0) throw new ValueError('task_done() called too many times');
    if (--this.unfinished === 0) for (const next of this.joiners.drain()) next.resolve();
  }

  join(): Promise<void> {
    const caller = currentCaller();
    if (this.unfinished === 0) return Promise.resolve();
    return this.joiners.wait(caller, Infinity, undefined, () => {});
  }

  protected override add(item: unknown): void {
    this.unfinished++;
    super.add(item);
  }
}
