// ProcessPoolExecutor (Python's concurrent.futures.ProcessPoolExecutor), built on Pool.
//
// Work items wait in the executor's own FIFO and go to the pool at most 2 x maxWorkers at
// a time. An item handed to the pool counts as started (Python does the same with its
// call queue of max_workers + 1), so shutdown({ cancelFutures: true }) cancels exactly the
// items still in the FIFO, and a map's early exit cancels the rest of its own.
//
// Each item is one pool task that runs `runChunk` (below) in a worker with a reference to
// the user's function, resolved once per worker, and the argument tuples (one for submit,
// up to chunksize for map). The function is described when submit/map is called, while
// the user's frame is on the stack: the item may reach the pool later, from a callback,
// where Pool's own look-up of the calling file would find no user code. The pool itself
// is made at the first task, so an executor that is never used starts no processes.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CancelledError, TimeoutError, ValueError } from './errors.js';
import { Pool } from './pool.js';
import { type Process, cpuCount, importingTarget } from './process.js';
import { type TargetRef, callerFile, describeTarget, refModule, resolveTarget } from './targets.js';
import { checkBoolean, checkOptions, describe, timeoutToMs } from './validate.js';
import { isIterable, isThenable, zipAsync, zipSync } from './iterables.js';

const SELF = pathToFileURL(join(__dirname, 'futures.js')).href;
const RUN_CHUNK = { module: SELF, name: 'runChunk' };
const RUN_INITIALIZER = { module: SELF, name: 'runInitializer' };

/** A function reference as Pool and Process take it. */
export interface FunctionReference {
  module: string;
  name: string;
}

export interface ProcessPoolExecutorOptions {
  /** Worker processes (default: cpuCount()). */
  maxWorkers?: number | null;
  /** A context (mp.getContext('forkserver')) whose start method the workers use. */
  mpContext?: { Process: typeof Process } | null;
  /** Run in each worker before its first task; if it throws, every task fails. */
  initializer?: ((...args: never[]) => unknown) | FunctionReference | null;
  initargs?: unknown[];
  /** Replace a worker after this many tasks (map chunks); null/undefined: never. */
  maxTasksPerChild?: number | null;
}

export interface ExecutorMapOptions {
  /** Seconds from the map() call; iterating past it without a result throws mp.TimeoutError. */
  timeout?: number | null;
  /** Argument tuples per task (default 1). */
  chunksize?: number | null;
}

export interface ShutdownOptions {
  /** Resolve only when the queued tasks are done and the workers have exited (default true). */
  wait?: boolean;
  /** Reject the tasks not yet started with a CancelledError (default false). */
  cancelFutures?: boolean;
}

type AnyIterable = Iterable<unknown> | AsyncIterable<unknown>;

/** A submission or map chunk that shutdown({ cancelFutures }) (or a map's early exit) dropped. */

const noop = () => {};

// ----------------------------------------------------------------------- worker side

type Fn = (...args: unknown[]) => unknown;

const resolved = new Map<string, Fn>();

async function load(ref: TargetRef): Promise<Fn> {
  return (await importingTarget(refModule(ref), () => resolveTarget(ref))) as Fn;
}

/** @internal In a pool worker: fn(...tuple) for every tuple, in order. */
export async function runChunk(key: string, ref: TargetRef, tuples: unknown[][]): Promise<unknown[]> {
  let fn = resolved.get(key);
  if (fn === undefined) {
    fn = await load(ref);
    resolved.set(key, fn);
  }
  const out = new Array<unknown>(tuples.length);
  for (let i = 0; i < tuples.length; i++) {
    let r = fn(...tuples[i]!);
    if (isThenable(r)) r = await r;
    out[i] = r;
  }
  return out;
}

/** @internal In a pool worker: the executor's initializer. */
export async function runInitializer(ref: TargetRef, initargs: unknown[]): Promise<void> {
  const r = (await load(ref))(...initargs);
  if (isThenable(r)) await r;
}

// ----------------------------------------------------------------------- parent side

/** A described function and the key a worker caches it under. */
interface Target {
  key: string;
  ref: TargetRef;
}

interface WorkItem {
  target: Target;
  tuples: unknown[][];
  state: 'pending' | 'running' | 'done';
  resolve(values: unknown[]): void;
  reject(err: Error): void;
}

/** One map() call: its items in order, fed by the iterables (maybe still being read). */
interface MapRun {
  slots: ({ item: WorkItem; values: Promise<unknown[]> } | null)[];
  /** Every item is in `slots` (or the run was stopped). */
  done: boolean;
  /** Thrown after the last slot: the iterables' error, or the cancellation that stopped the read. */
  failure: Error | null;
  stopped: boolean;
  wake: (() => void) | null;
}

let targetCounter = 0;

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  if (value < 1) throw new ValueError(`${name} must be at least 1, got ${value}`);
  return value;
}

function isFnLike(fn: unknown): fn is Function | FunctionReference {
  return typeof fn === 'function' || (fn !== null && typeof fn === 'object' && typeof (fn as { module?: unknown }).module === 'string');
}

function isPlainObject(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `p`, or mp.TimeoutError once `deadline` (performance.now() ms) passes; a settled `p` always wins. */
function within<T>(p: Promise<T>, deadline: number, timeout: unknown): Promise<T> {
  if (deadline === Infinity) return p;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TimeoutError(`map: the next result was not ready within ${String(timeout)} s of the call`)),
      Math.max(0, deadline - performance.now()),
    );
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export class ProcessPoolExecutor implements AsyncDisposable {
  private readonly maxWorkers: number;
  private readonly context: { Process: typeof Process } | null;
  private readonly initializer: TargetRef | null;
  private readonly initargs: unknown[];
  private readonly maxTasksPerChild: number | null;
  /** Items handed to the pool at once, at most. */
  private readonly window: number;
  private pool: Pool | null = null;
  private state: 'open' | 'shutdown' = 'open';
  private readonly queue: (WorkItem | undefined)[] = [];
  private head = 0;
  private pending = 0;
  private running = 0;
  /** map() runs whose async iterables are still being read. */
  private readonly feeding = new Set<MapRun>();
  private idleWaiters: (() => void)[] = [];
  private finished: Promise<void> | null = null;
  private readonly fnTargets = new WeakMap<Function, Target>();
  private readonly refTargets = new Map<string, Target>();

  constructor(options?: ProcessPoolExecutorOptions) {
    const o = checkOptions<ProcessPoolExecutorOptions>('options', options);
    this.maxWorkers = o.maxWorkers === undefined || o.maxWorkers === null ? cpuCount() : positiveInteger('options.maxWorkers', o.maxWorkers);
    this.maxTasksPerChild =
      o.maxTasksPerChild === undefined || o.maxTasksPerChild === null ? null : positiveInteger('options.maxTasksPerChild', o.maxTasksPerChild);
    if (o.initializer === undefined || o.initializer === null) this.initializer = null;
    else if (!isFnLike(o.initializer)) {
      throw new TypeError(`options.initializer must be a function or a { module, name } reference, got ${describe(o.initializer)}`);
    } else this.initializer = describeTarget(o.initializer, callerFile());
    if (o.initargs !== undefined && o.initargs !== null && !Array.isArray(o.initargs)) {
      throw new TypeError(`options.initargs must be an array, got ${describe(o.initargs)}`);
    }
    this.initargs = o.initargs ?? [];
    const ctx: unknown = o.mpContext;
    if (ctx !== undefined && ctx !== null && (typeof ctx !== 'object' || typeof (ctx as { Process?: unknown }).Process !== 'function')) {
      throw new TypeError(`options.mpContext must be a context (mp.getContext()), got ${describe(ctx)}`);
    }
    this.context = (ctx as { Process: typeof Process } | null | undefined) ?? null;
    this.window = this.maxWorkers * 2;
  }

  // ----------------------------------------------------------------------- the API

  /** fn(...args) in a worker process; resolves with its result (a RemoteError if it throws). */
  submit<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Promise<Awaited<R>>;
  submit<R = unknown>(fn: FunctionReference, ...args: unknown[]): Promise<R>;
  submit(fn: Function | FunctionReference, ...args: unknown[]): Promise<unknown> {
    this.checkOpen();
    const target = this.target(fn);
    const p = new Promise<unknown>((resolve, reject) => {
      this.enqueue({ target, tuples: [args], state: 'pending', resolve: (values) => resolve(values[0]), reject });
    });
    p.catch(noop); // a failure nobody asks for is not an unhandled rejection (Python keeps it too)
    return p;
  }

  /**
   * fn(...tuple) for the tuples of the iterables zipped (stopping at the shortest), results
   * in order. All tasks are queued now, as Python's map; a task's error is thrown when the
   * iteration reaches it. A trailing plain object is the options { timeout, chunksize }.
   */
  map<R>(fn: (...args: never[]) => R, ...iterables: (AnyIterable | ExecutorMapOptions | undefined)[]): AsyncIterableIterator<Awaited<R>>;
  map<R = unknown>(fn: FunctionReference, ...iterables: (AnyIterable | ExecutorMapOptions | undefined)[]): AsyncIterableIterator<R>;
  map(fn: Function | FunctionReference, ...rest: unknown[]): AsyncIterableIterator<unknown> {
    this.checkOpen();
    let options: unknown;
    const last = rest.at(-1);
    if (rest.length > 0 && (last === undefined || last === null || (isPlainObject(last) && !isIterable(last)))) {
      options = rest.pop();
    }
    const o = checkOptions<ExecutorMapOptions>('options', options);
    const ms = timeoutToMs('options.timeout', o.timeout);
    const chunksize = o.chunksize === undefined || o.chunksize === null ? 1 : positiveInteger('options.chunksize', o.chunksize);
    for (const [i, it] of rest.entries()) {
      if (!isIterable(it)) throw new TypeError(`iterables[${i}] must be an iterable or async iterable, got ${describe(it)}`);
    }
    const target = this.target(fn);
    const deadline = ms === Infinity ? Infinity : performance.now() + ms;
    const run: MapRun = { slots: [], done: false, failure: null, stopped: false, wake: null };
    const iterables = rest as AnyIterable[];
    if (iterables.every((it) => typeof (it as Iterable<unknown>)[Symbol.iterator] === 'function')) {
      // Read now, as Python's map does: an iterable's error is thrown by this call.
      try {
        this.feedSync(run, target, zipSync(iterables.map((it) => (it as Iterable<unknown>)[Symbol.iterator]())), chunksize);
      } catch (err) {
        for (const slot of run.slots) if (slot !== null) this.cancel(slot.item);
        throw err;
      }
      run.done = true;
    } else {
      const its = iterables.map((it) =>
        typeof (it as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
          ? (it as AsyncIterable<unknown>)[Symbol.asyncIterator]()
          : (it as Iterable<unknown>)[Symbol.iterator](),
      );
      this.feeding.add(run);
      void this.feedAsync(run, target, zipAsync(its), chunksize);
    }
    return this.results(run, deadline, o.timeout);
  }

  /**
   * No new tasks. `wait`: resolve once the queued tasks are done and the workers have
   * exited. `cancelFutures`: tasks not started yet reject with a CancelledError. Idempotent.
   */
  async shutdown(options?: ShutdownOptions): Promise<void> {
    const o = checkOptions<ShutdownOptions>('options', options);
    const wait = o.wait === undefined ? true : checkBoolean('options.wait', o.wait);
    const cancelFutures = o.cancelFutures === undefined ? false : checkBoolean('options.cancelFutures', o.cancelFutures);
    this.state = 'shutdown';
    if (cancelFutures) {
      for (let i = this.head; i < this.queue.length; i++) this.cancel(this.queue[i]!);
      this.compact();
      for (const run of [...this.feeding]) this.stop(run, new CancelledError('map: the rest of the iterables was cancelled by shutdown({ cancelFutures: true })'));
      this.checkIdle();
    }
    if (this.finished === null) {
      this.finished = this.finish();
      this.finished.catch(noop);
    }
    if (wait) await this.finished;
  }

  /** `await using executor = new ProcessPoolExecutor()`: shutdown({ wait: true }) at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown({ wait: true });
  }

  // ----------------------------------------------------------------------- scheduling

  private checkOpen(): void {
    if (this.state !== 'open') throw new ValueError('cannot schedule new futures after shutdown');
  }

  /** Describe `fn` now, from the caller's stack (first description of a function wins, as in Pool). */
  private target(fn: unknown): Target {
    if (!isFnLike(fn)) throw new TypeError(`fn must be a function or a { module, name } reference, got ${describe(fn)}`);
    let key: string | undefined;
    if (typeof fn === 'function') {
      const known = this.fnTargets.get(fn);
      if (known !== undefined) return known;
    } else if (!fn.module.startsWith('./') && !fn.module.startsWith('../')) {
      // A relative module resolves against the calling file: described every time.
      key = `${fn.module}\0${fn.name}`;
      const known = this.refTargets.get(key);
      if (known !== undefined) return known;
    }
    const ref = describeTarget(fn, callerFile());
    const target = { key: ref.kind === 'export' ? `e\0${ref.module}\0${ref.name}` : `f${++targetCounter}`, ref };
    if (typeof fn === 'function') this.fnTargets.set(fn, target);
    else if (key !== undefined) this.refTargets.set(key, target);
    return target;
  }

  private enqueue(item: WorkItem): void {
    this.queue.push(item);
    this.pending++;
    this.dispatch();
  }

  private dispatch(): void {
    while (this.running < this.window && this.pending > 0) {
      const item = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      if (item.state !== 'pending') continue; // cancelled (and already counted out)
      this.pending--;
      this.start(item);
    }
    this.compact();
    this.checkIdle();
  }

  /** Drop the queue's taken and cancelled entries once they are a burden. */
  private compact(): void {
    if (this.pending === 0) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private start(item: WorkItem): void {
    item.state = 'running';
    this.running++;
    const settle = () => {
      item.state = 'done';
      this.running--;
      this.dispatch();
    };
    try {
      const result = this.ensurePool().applyAsync<unknown[]>(RUN_CHUNK, [item.target.key, item.target.ref, item.tuples]);
      result.get().then(
        (values) => {
          settle();
          item.resolve(values);
        },
        (err: Error) => {
          settle();
          item.reject(err);
        },
      );
    } catch (err) {
      // Arguments that cannot be sent to another process (a function, ...): this task fails.
      item.state = 'done';
      this.running--;
      item.reject(err as Error);
    }
  }

  private ensurePool(): Pool {
    this.pool ??= new Pool({
      processes: this.maxWorkers,
      initializer: this.initializer === null ? null : RUN_INITIALIZER,
      initargs: [this.initializer, this.initargs],
      maxtasksperchild: this.maxTasksPerChild,
      context: this.context,
    });
    return this.pool;
  }

  private cancel(item: WorkItem): void {
    if (item.state !== 'pending') return;
    item.state = 'done';
    this.pending--;
    item.reject(new CancelledError('the task was cancelled before it started'));
  }

  private checkIdle(): void {
    if (this.running > 0 || this.pending > 0 || this.feeding.size > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async finish(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
    // Nothing can be queued any more: the workers take their exit after the last task.
    const pool = this.pool;
    if (pool === null) return;
    pool.close();
    await pool.join();
    // Nothing is outstanding by now; this only lets go of what Pool may still wait for
    // (a task whose arguments could not be sent stays in its books and holds the loop).
    await pool.terminate();
  }

  // ----------------------------------------------------------------------- map

  private addChunk(run: MapRun, target: Target, tuples: unknown[][]): void {
    let item!: WorkItem;
    const values = new Promise<unknown[]>((resolve, reject) => {
      item = { target, tuples, state: 'pending', resolve, reject };
    });
    values.catch(noop);
    run.slots.push({ item, values });
    this.enqueue(item);
    run.wake?.();
  }

  private feedSync(run: MapRun, target: Target, tuples: Iterable<unknown[]>, chunksize: number): void {
    let chunk: unknown[][] = [];
    for (const tuple of tuples) {
      chunk.push(tuple);
      if (chunk.length === chunksize) {
        this.addChunk(run, target, chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) this.addChunk(run, target, chunk);
  }

  private async feedAsync(run: MapRun, target: Target, tuples: AsyncGenerator<unknown[]>, chunksize: number): Promise<void> {
    try {
      let chunk: unknown[][] = [];
      for await (const tuple of tuples) {
        if (run.stopped) return;
        chunk.push(tuple);
        if (chunk.length === chunksize) {
          this.addChunk(run, target, chunk);
          chunk = [];
        }
      }
      if (!run.stopped && chunk.length > 0) this.addChunk(run, target, chunk);
    } catch (err) {
      if (!run.stopped) run.failure = err as Error;
    } finally {
      this.stop(run, null);
    }
  }

  /** The run has all the items it will get: by the end of its iterables, an error, or a cancellation. */
  private stop(run: MapRun, reason: Error | null): void {
    if (run.done) return;
    run.done = true;
    run.stopped = true;
    if (reason !== null) run.failure ??= reason;
    this.feeding.delete(run);
    run.wake?.();
    this.checkIdle();
  }

  private async *results(run: MapRun, deadline: number, timeout: unknown): AsyncIterableIterator<unknown> {
    let i = 0;
    let current: WorkItem | null = null;
    try {
      for (;;) {
        if (i < run.slots.length) {
          const slot = run.slots[i]!;
          run.slots[i++] = null; // the consumer holds only what it has not yet seen
          current = slot.item;
          const values = await within(slot.values, deadline, timeout);
          current = null;
          for (const v of values) yield v;
          continue;
        }
        if (run.done) {
          if (run.failure !== null) throw run.failure;
          return;
        }
        await within(
          new Promise<void>((resolve) => {
            run.wake = resolve;
          }),
          deadline,
          timeout,
        );
        run.wake = null;
      }
    } finally {
      // Left early (break, a task's error, the timeout): the rest is not wanted, as in Python.
      run.wake = null;
      this.stop(run, null);
      if (current !== null) this.cancel(current); // the one that timed out, if it has not started
      for (let k = i; k < run.slots.length; k++) {
        const slot = run.slots[k];
        if (slot !== null && slot !== undefined) this.cancel(slot.item);
      }
    }
  }
}
