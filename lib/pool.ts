// Pool (Python's multiprocessing.pool.Pool): worker processes that pull chunks of work
// from one shared task queue (natural load balance) and put one result per chunk on a
// result queue the parent drains. A function goes to each worker once (by reference or
// as source, through the worker's control pipe) and is then named by id.
//
// Failures: a task's error rejects that task (RemoteError with the worker's stack); a
// worker that dies fails only the chunk it was running (its slot in the shared
// `running` array says which) with WorkerLostError, and is replaced; an initializer that
// throws breaks the pool (every pending and later task fails), and so does a replacement
// that cannot be started (a process limit, a full /dev/shm) or workers that keep dying
// before they are ready (a pool that re-spawned them forever would never fail its tasks,
// as Python's does). The parent's event loop
// is held only while tasks are outstanding: an idle pool never keeps the process alive,
// and its daemon workers end with it.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { AsyncResult } from './async_result.js';
import { isIterable } from './iterables.js';
import { ArraySlice } from './codec.js';
import { callerFile } from './code_location.js';
import type { Connection } from './connection.js';
import { ProcessError, RemoteError, ValueError, WorkerLostError } from './errors.js';
import { Pipe } from './pipe.js';
import { EXIT_BY_SENTINEL, type ErrorInfo, INIT_FAILED, NOT_STARTED, type Result, type Task, type WorkerArgs } from './pool_worker.js';
import { Process, cpuCount, exitedOf } from './process.js';
import { type ProgressOption, progressFor } from './progress.js';
import { type Job, type StreamHost, streamResults } from './pool_stream.js';
import { type Queue, queueOver } from './queues.js';
import { Ring } from './ring.js';
import { RawArray } from './shared_array.js';
import { type TargetRef, describeTarget } from './targets.js';
import { checkInteger, checkOptions, describe } from './validate.js';

const POOL_RING_BYTES = 1 << 20;
/** Workers dying in a row before they are ready that break the pool. */
const MAX_FAILED_STARTS = 3;
/** More workers than any machine runs usefully: a typo, not a pool (and each costs a process). */
const MAX_PROCESSES = 4096;
const WORKER_TARGET = { module: pathToFileURL(join(__dirname, 'pool_worker.js')).href, name: 'poolWorker' };

type Fn = ((...args: never[]) => unknown) | { module: string; name: string };

export interface PoolOptions {
  /** Worker processes (default: cpuCount()). */
  processes?: number | null;
  /** Run in each worker before its first task; if it throws, the pool is broken. */
  initializer?: Fn | null;
  initargs?: unknown[];
  /** Replace a worker after this many tasks (chunks); null/undefined: never. */
  maxtasksperchild?: number | null;
  /** A context (mp.getContext('forkserver')) whose start method the workers use. */
  context?: { Process: typeof Process } | null;
}

export interface TaskOptions {
  /** Drop the pending tasks and reject with the signal's reason. */
  signal?: AbortSignal;
}

export interface MapOptions extends TaskOptions {
  /** Items per task; default as Python's: len / (4 * processes), rounded up. */
  chunksize?: number | null;
  /** A callback (done, total) after each chunk, or true for a progress bar on a TTY stderr. */
  progress?: ProgressOption;
}

export interface IMapOptions extends TaskOptions {
  /** Items per task (default 1). */
  chunksize?: number;
  progress?: ProgressOption;
}

export interface ApplyOptions<R> extends TaskOptions {
  callback?: (result: R) => void;
  errorCallback?: (err: Error) => void;
}

interface Worker {
  proc: Process;
  control: Connection;
}

function remoteError(info: ErrorInfo): RemoteError {
  const err = new RemoteError(`${info.name}: ${info.message}`, info.error, info.stack);
  err.stack = `${err.name}: ${err.message}\n--- stack in the worker ---\n${info.stack}`;
  return err;
}

function signalName(code: number): string | null {
  if (code >= 0) return null;
  for (const [name, n] of Object.entries(osConstants.signals)) if (n === -code) return name;
  return `signal ${-code}`;
}

function checkFn(name: string, fn: unknown): Fn {
  if (typeof fn === 'function') return fn as Fn;
  if (fn !== null && typeof fn === 'object' && typeof (fn as { module?: unknown }).module === 'string') return fn as Fn;
  throw new TypeError(`${name} must be a function or a { module, name } reference, got ${describe(fn)}`);
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal === null) return undefined;
  if (!(signal instanceof AbortSignal)) throw new TypeError(`options.signal must be an AbortSignal, got ${describe(signal)}`);
  return signal;
}

async function toArray(name: string, it: unknown): Promise<unknown[]> {
  if (Array.isArray(it)) return it;
  if (!isIterable(it)) throw new TypeError(`${name} must be an iterable or async iterable, got ${describe(it)}`);
  if (typeof (it as Iterable<unknown>)[Symbol.iterator] === 'function') return Array.from(it as Iterable<unknown>);
  const out: unknown[] = [];
  for await (const x of it as AsyncIterable<unknown>) out.push(x);
  return out;
}

/**
 * A chunk's results into `out` from `start`: an array, or numbers in a typed array
 * (pool_chunk.ts). A small function, which V8 optimizes soon (see codec.ts's loops).
 */
function copyInto<R>(out: R[], start: number, values: ArrayLike<R>): void {
  for (let k = 0; k < values.length; k++) out[start + k] = values[k]!;
}

let workerCounter = 0;

export class Pool implements AsyncDisposable {
  private state: 'run' | 'close' | 'terminate' = 'run';
  private readonly size: number;
  private readonly workers: (Worker | null)[];
  private readonly tasks: Queue<Task>;
  private readonly results: Queue<Result>;
  private readonly running: Int32Array;
  private readonly ProcessClass: typeof Process;
  private readonly initializer: TargetRef | null;
  private readonly initargs: unknown[];
  private readonly maxtasks: number;
  private readonly fnIds = new WeakMap<object, number>();
  private readonly refIds = new Map<string, number>();
  private readonly fnRefs: [number, TargetRef][] = [];
  private readonly chunks = new Map<number, { job: Job; index: number }>();
  private nextChunk = 1;
  private broken: Error | null = null;
  /** Workers that died before they were ready, in a row. */
  private failedStarts = 0;
  private draining = false;
  private drainAbort: AbortController | null = null;

  constructor(options?: PoolOptions) {
    const o = checkOptions<PoolOptions>('options', options);
    const processes = o.processes === undefined || o.processes === null ? cpuCount() : checkInteger('options.processes', o.processes, Number.MIN_SAFE_INTEGER);
    if (processes < 1) throw new ValueError('options.processes must be at least 1');
    if (processes > MAX_PROCESSES) throw new ValueError(`options.processes must be at most ${MAX_PROCESSES}, got ${processes}`);
    this.size = processes;
    const caller = callerFile();
    this.initializer = o.initializer === undefined || o.initializer === null ? null : describeTarget(checkFn('options.initializer', o.initializer), caller);
    if (o.initargs !== undefined && !Array.isArray(o.initargs)) throw new TypeError(`options.initargs must be an array, got ${describe(o.initargs)}`);
    this.initargs = o.initargs ?? [];
    this.maxtasks = o.maxtasksperchild === undefined || o.maxtasksperchild === null ? 0 : checkInteger('options.maxtasksperchild', o.maxtasksperchild, 1);
    const P = o.context?.Process ?? Process;
    if (typeof P !== 'function' || !(P === Process || P.prototype instanceof Process)) {
      throw new TypeError(`options.context must be a context from mp.getContext(), got ${describe(o.context)}`);
    }
    this.ProcessClass = P;
    this.workers = new Array(processes).fill(null);
    // Rings of 1 MiB: a default-sized map chunk (len / (4 x processes) items) fits whole.
    const [tasks, results] = Ring.createPair(POOL_RING_BYTES);
    this.tasks = queueOver<Task>(tasks);
    this.results = queueOver<Result>(results);
    const pipes: [Connection, Connection][] = [];
    try {
      this.running = RawArray('i', processes) as unknown as Int32Array;
      // All the shared memory first: a full /dev/shm fails here, before any worker holds a handle.
      for (let i = 0; i < processes; i++) pipes.push(Pipe({ duplex: false }));
      for (let i = 0; i < processes; i++) this.spawn(i, pipes[i]);
    } catch (err) {
      this.abandon(err as Error, pipes);
      throw err;
    }
  }

  /**
   * No half-made pool when the constructor fails. The workers started already hold handles
   * to the rings: they leave by an exit sentinel, dropping them (killed before they took
   * them, they would leak the rings until the process tree ends).
   */
  private abandon(err: Error, pipes: [Connection, Connection][]): void {
    this.broken = err; // no replacements
    this.state = 'close';
    for (const [i, w] of this.workers.entries()) {
      if (w !== null) this.tasks.putSync(null);
      else for (const end of pipes[i] ?? []) end.close();
    }
    this.release();
  }

  // ----------------------------------------------------------------------- workers

  private spawn(index: number, pipe: [Connection, Connection] = Pipe({ duplex: false })): void {
    const [theirs, ours] = pipe;
    const args: WorkerArgs = {
      tasks: this.tasks,
      results: this.results,
      control: theirs,
      running: this.running,
      index,
      initializer: this.initializer,
      initargs: this.initargs,
      maxtasks: this.maxtasks,
      fns: this.fnRefs,
    };
    const proc = new this.ProcessClass({ target: WORKER_TARGET, args: [args], name: `PoolWorker-${++workerCounter}`, daemon: true });
    Atomics.store(this.running, index, NOT_STARTED);
    try {
      proc.start();
    } catch (err) {
      Atomics.store(this.running, index, 0);
      theirs.close();
      ours.close();
      throw err;
    }
    theirs.close(); // the child holds its own end now (its handle was taken at start)
    this.workers[index] = { proc, control: ours };
    void exitedOf(proc).then((code) => this.exited(index, proc, code));
  }

  private exited(index: number, proc: Process, code: number): void {
    const w = this.workers[index];
    if (w === undefined || w === null || w.proc !== proc) return;
    this.workers[index] = null;
    w.control.close();
    // Results it put before dying are taken first: only a chunk still without a result was lost.
    this.takeResults();
    const chunkId = Atomics.exchange(this.running, index, 0);
    const entry = chunkId <= 0 ? undefined : this.chunks.get(chunkId);
    // Claimed as it was read: if it died before the record was consumed, the record is
    // still first in the queue and another worker will take it.
    const head = this.tasks.peekNow();
    let stillQueued = Array.isArray(head) && head[0] === chunkId;
    // ...or another worker took the lock over and already claimed it.
    for (let k = 0; k < this.size && !stillQueued; k++) if (k !== index && Atomics.load(this.running, k) === chunkId) stillQueued = true;
    if (entry !== undefined && !stillQueued) {
      this.chunks.delete(chunkId);
      const signal = signalName(code);
      const how = signal === null ? `exit code ${code}` : signal;
      entry.job.fail(
        new WorkerLostError(`worker ${proc.name} (pid ${proc.pid}) died (${how}) while running a task`, {
          exitcode: signal === null ? code : null,
          signal,
        }),
      );
    }
    if (this.broken !== null || this.state === 'terminate') return;
    if (chunkId !== NOT_STARTED) this.failedStarts = 0;
    else if (++this.failedStarts >= MAX_FAILED_STARTS) {
      const signal = signalName(code);
      this.breakPool(
        new ProcessError(
          `the pool's workers keep dying before they are ready (${this.failedStarts} in a row, the last ${proc.name} with ` +
            `${signal ?? `exit code ${code}`}); their stderr says why (a process or thread limit reached, ` +
            'an initializer that exits the process, ...)',
        ),
      );
      return;
    }
    // Replaced unless it left by taking its exit sentinel (a closing pool): a worker that
    // died, or left after maxtasksperchild, did not take one, and its replacement will.
    if (this.state === 'run' || chunkId !== EXIT_BY_SENTINEL) {
      try {
        this.spawn(index);
      } catch (err) {
        this.breakPool(new ProcessError(`the pool cannot replace a worker that exited: ${(err as Error).message}`, { cause: err }));
        return;
      }
    }
    this.settleIdle();
  }

  // ----------------------------------------------------------------------- dispatch

  private fnId(fn: Fn): number {
    const isRef = typeof fn !== 'function';
    const key = isRef ? `${fn.module}\0${fn.name}` : '';
    let id = isRef ? this.refIds.get(key) : this.fnIds.get(fn);
    if (id !== undefined) return id;
    const ref = describeTarget(fn, callerFile());
    // An inline arrow function is a new object at each call: known by its source instead.
    const sourceKey = ref.kind === 'source' ? `${ref.file ?? ''}\0${ref.source}` : null;
    const known = sourceKey === null ? undefined : this.refIds.get(sourceKey);
    if (known !== undefined) {
      if (!isRef) this.fnIds.set(fn, known);
      return known;
    }
    id = this.fnRefs.length + 1;
    this.fnRefs.push([id, ref]);
    if (isRef) this.refIds.set(key, id);
    else this.fnIds.set(fn, id);
    if (sourceKey !== null) this.refIds.set(sourceKey, id);
    // Never blocks: a busy worker's full control pipe keeps the definition pending here
    // (a worker that needs it waits for it, and this process flushes it).
    for (const w of this.workers) if (w !== null) w.control.send([id, ref]).catch(() => {});
    return id;
  }

  private checkRunning(): void {
    if (this.state !== 'run') throw new ValueError('Pool not running');
  }

  private send(job: Job, fnId: number, star: 0 | 1, items: unknown[], index: number): void {
    if (this.broken !== null) {
      job.fail(this.broken);
      return;
    }
    if (this.state === 'terminate') return; // terminate() failed the job already
    const id = this.nextChunk;
    this.nextChunk = id >= 0x3fffffff ? 1 : id + 1;
    this.chunks.set(id, { job, index });
    try {
      this.tasks.putSync([id, fnId, star, items]);
    } catch (err) {
      // Not sendable (a function among the arguments, ...): no chunk is outstanding.
      this.chunks.delete(id);
      throw err;
    }
    if (!this.draining) void this.drain();
  }

  /** Hand every result already in the result queue to its job. */
  private takeResults(): void {
    for (let r = this.results.takeNow(); r !== undefined; r = this.results.takeNow()) this.handle(r);
  }

  private handle([chunkId, ok, payload]: Result): void {
    if (chunkId === 0) {
      if (ok === INIT_FAILED) {
        const info = payload as ErrorInfo;
        this.breakPool(new RemoteError(`the pool's initializer failed: ${info.name}: ${info.message}`, info.error, info.stack));
      }
      return;
    }
    const entry = this.chunks.get(chunkId);
    if (entry === undefined) return; // its job was aborted
    this.chunks.delete(chunkId);
    if (!entry.job.live) return;
    if (ok === 1) entry.job.chunk(entry.index, true, payload);
    else entry.job.fail(remoteError(payload as ErrorInfo));
  }

  /** Fail every pending and later task with `err`, and end the workers. */
  private breakPool(err: Error): void {
    if (this.broken !== null) return;
    this.broken = err;
    const jobs = new Set([...this.chunks.values()].map((e) => e.job));
    this.chunks.clear();
    this.drainAbort?.abort(); // no result is awaited any more: the loop must not be held
    for (const job of jobs) job.fail(err);
    for (const w of this.workers) w?.proc.terminate();
  }

  /** Drain results while chunks are outstanding; the pending get is what holds the loop. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.chunks.size > 0) {
        this.takeResults();
        if (this.chunks.size === 0) break;
        const abort = new AbortController();
        this.drainAbort = abort;
        let r: Result;
        try {
          r = await this.results.get({ signal: abort.signal });
        } catch {
          if (this.released) break; // the result queue is closed: nothing more comes
          continue; // chunks were dropped (abort, terminate): look again
        } finally {
          this.drainAbort = null;
        }
        this.handle(r);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Forget `job`'s outstanding chunks (aborted or failed); their results will be ignored. */
  private drop(job: Job): void {
    let dropped = false;
    for (const [id, e] of this.chunks) {
      if (e.job === job) {
        this.chunks.delete(id);
        dropped = true;
      }
    }
    if (dropped) this.purgeTasks();
    if (this.chunks.size === 0) this.drainAbort?.abort();
  }

  /**
   * Take the queued tasks out and put back those still wanted: the chunks of a dropped
   * job would otherwise still run, and later tasks would wait behind them. This process
   * is the queue's only writer, so what it puts back keeps its order.
   */
  private purgeTasks(): void {
    // With puts pending here, what is put back would go behind them (and behind exit
    // sentinels): leave the queue as it is and let the dropped chunks run for nothing.
    if (this.tasks.pendingPuts > 0) return;
    const keep: Task[] = [];
    for (let t = this.tasks.takeNow(); t !== undefined; t = this.tasks.takeNow()) {
      if (t === null || this.chunks.has(t[0])) keep.push(t);
    }
    for (const t of keep) this.tasks.putSync(t);
  }

  /** Jobs that still have chunks to send: close() holds the workers' exit sentinels for them. */
  private readonly feeding = new Set<object>();
  private sentinelsSent = false;

  private fed(token: object): void {
    this.feeding.delete(token);
    if (this.state === 'close') this.sendSentinels();
  }

  private sendSentinels(): void {
    if (this.sentinelsSent || this.feeding.size > 0) return;
    this.sentinelsSent = true;
    for (const w of this.workers) if (w !== null) this.tasks.putSync(null);
  }

  private watch(job: Job, signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    if (signal.aborted) {
      job.fail(signal.reason as Error);
      return;
    }
    signal.addEventListener('abort', () => job.fail(signal.reason as Error), { once: true });
  }

  // ----------------------------------------------------------------------- the API

  /** fn(...args) in a worker; resolves with its result. */
  apply<R>(fn: Fn, args: unknown[] = [], options?: TaskOptions): Promise<R> {
    // Python's apply takes no callbacks: only the signal goes on (a callback given here
    // used to be called when the task ended).
    const signal = options === undefined ? undefined : checkOptions<TaskOptions>('options', options).signal;
    return this.applyAsync<R>(fn, args, signal === undefined ? undefined : { signal }).get();
  }

  applyAsync<R>(fn: Fn, args: unknown[] = [], options?: ApplyOptions<R>): AsyncResult<R> {
    this.checkRunning();
    const f = checkFn('fn', fn);
    if (!Array.isArray(args)) throw new TypeError(`args must be an array, got ${describe(args)}`);
    const o = checkOptions<ApplyOptions<R>>('options', options);
    const signal = checkSignal(o.signal);
    const result = new AsyncResult<R>(o.callback, o.errorCallback);
    const job: Job = {
      live: true,
      chunk: (_i, _ok, payload) => {
        job.live = false;
        result.resolve((payload as R[])[0]!);
      },
      fail: (err) => {
        if (!job.live) return;
        job.live = false;
        this.drop(job);
        result.reject(err);
      },
    };
    this.watch(job, signal);
    if (job.live) this.send(job, this.fnId(f), 1, [args], 0);
    return result;
  }

  /** fn over every item, in order (Python's map); rejects with the first error. */
  async map<R>(fn: Fn, iterable: Iterable<unknown> | AsyncIterable<unknown>, options?: MapOptions): Promise<R[]> {
    return this.mapAsyncOf<R>(fn, iterable, options, 0).get();
  }

  mapAsync<R>(fn: Fn, iterable: Iterable<unknown> | AsyncIterable<unknown>, options?: MapOptions & ApplyOptions<R[]>): AsyncResult<R[]> {
    return this.mapAsyncOf<R>(fn, iterable, options, 0);
  }

  /** fn(...args) for every args array, in order (Python's starmap). */
  async starmap<R>(fn: Fn, iterable: Iterable<unknown[]> | AsyncIterable<unknown[]>, options?: MapOptions): Promise<R[]> {
    return this.mapAsyncOf<R>(fn, iterable, options, 1).get();
  }

  starmapAsync<R>(
    fn: Fn,
    iterable: Iterable<unknown[]> | AsyncIterable<unknown[]>,
    options?: MapOptions & ApplyOptions<R[]>,
  ): AsyncResult<R[]> {
    return this.mapAsyncOf<R>(fn, iterable, options, 1);
  }

  /**
   * Arguments are checked now; an array or sync iterable is read now, an async one is
   * read first and its items then go out (the result settles either way).
   */
  private mapAsyncOf<R>(fn: Fn, iterable: unknown, options: (MapOptions & ApplyOptions<R[]>) | undefined, star: 0 | 1): AsyncResult<R[]> {
    this.checkRunning();
    const f = checkFn('fn', fn);
    const o = checkOptions<MapOptions & ApplyOptions<R[]>>('options', options);
    const signal = checkSignal(o.signal);
    const chunksize = o.chunksize === undefined || o.chunksize === null ? 0 : checkInteger('options.chunksize', o.chunksize, 1);
    if (!isIterable(iterable)) throw new TypeError(`iterable must be an iterable or async iterable, got ${describe(iterable)}`);
    const result = new AsyncResult<R[]>(o.callback, o.errorCallback);
    const start = (items: unknown[]) => {
      if (star === 1) {
        for (const [i, a] of items.entries()) if (!Array.isArray(a)) throw new TypeError(`iterable[${i}] must be an array of arguments, got ${describe(a)}`);
      }
      this.mapItems(f, items, chunksize, star, signal, o.progress, result);
    };
    if (typeof (iterable as Iterable<unknown>)[Symbol.iterator] === 'function') {
      start(Array.isArray(iterable) ? iterable : Array.from(iterable as Iterable<unknown>));
    } else {
      // A close() while the items are read waits for them (Python's map_async, close, join).
      const token = {};
      this.feeding.add(token);
      toArray('iterable', iterable)
        .then((items) => {
          if (this.state === 'terminate') throw new ValueError('the pool was terminated before the task finished');
          start(items);
        })
        .catch((err: Error) => result.reject(err))
        .finally(() => this.fed(token));
    }
    return result;
  }

  private mapItems<R>(
    f: Fn,
    items: unknown[],
    chunksizeOption: number,
    star: 0 | 1,
    signal: AbortSignal | undefined,
    progressOption: ProgressOption | undefined,
    result: AsyncResult<R[]>,
  ): void {
    const n = items.length;
    if (n === 0) {
      result.resolve([]);
      return;
    }
    let chunksize = chunksizeOption;
    if (chunksize === 0) chunksize = Math.ceil(n / (this.size * 4));
    const progress = progressFor(progressOption, n);
    // Made when the first result comes, while the workers run, not before the first chunk
    // goes out: a big array's fresh memory costs about 5 ns per item to fault in here.
    let out: R[] | null = null;
    const chunks = Math.ceil(n / chunksize);
    let sent = 0;
    let done = 0;
    // Chunks go out as results come back, a bounded number ahead: the task ring then
    // never overflows into the feeder, whose waiting would cost a wake per task taken.
    const ahead = Math.max(64, this.size * 16);
    const sendMore = () => {
      while (job.live && sent < chunks && sent - done < ahead) {
        const i = sent++;
        try {
          this.send(job, fnId, star, new ArraySlice(items, i * chunksize, Math.min(n, (i + 1) * chunksize)) as unknown as unknown[], i);
        } catch (err) {
          job.fail(err as Error); // an item that cannot be sent (a function, ...)
        }
      }
      if (sent === chunks || !job.live) this.fed(job);
    };
    const job: Job = {
      live: true,
      chunk: (index, _ok, payload) => {
        const values = payload as ArrayLike<R>;
        out ??= new Array<R>(n);
        copyInto(out, index * chunksize, values);
        try {
          progress.add(values.length);
        } catch (err) {
          job.fail(err as Error); // the user's progress callback threw
          return;
        }
        if (++done === chunks) {
          job.live = false;
          progress.end();
          result.resolve(out);
        } else {
          sendMore();
        }
      },
      fail: (err) => {
        if (!job.live) return;
        job.live = false;
        this.drop(job);
        this.fed(job);
        progress.end();
        result.reject(err);
      },
    };
    this.watch(job, signal);
    if (!job.live) return;
    this.feeding.add(job);
    const fnId = this.fnId(f);
    sendMore();
  }

  /** Results in order, as they come; pulls the iterable lazily (an endless one works). */
  imap<R>(fn: Fn, iterable: Iterable<unknown> | AsyncIterable<unknown>, options?: IMapOptions): AsyncIterableIterator<R> {
    return this.imapOf<R>(fn, iterable, options, true);
  }

  /** Results as they complete, in any order. */
  imapUnordered<R>(fn: Fn, iterable: Iterable<unknown> | AsyncIterable<unknown>, options?: IMapOptions): AsyncIterableIterator<R> {
    return this.imapOf<R>(fn, iterable, options, false);
  }

  private imapOf<R>(fn: Fn, iterable: unknown, options: IMapOptions | undefined, ordered: boolean): AsyncIterableIterator<R> {
    this.checkRunning();
    const f = checkFn('fn', fn);
    const o = checkOptions<IMapOptions>('options', options);
    const signal = checkSignal(o.signal);
    const chunksize = o.chunksize === undefined || o.chunksize === null ? 1 : checkInteger('options.chunksize', o.chunksize, 1);
    if (!isIterable(iterable)) throw new TypeError(`iterable must be an iterable or async iterable, got ${describe(iterable)}`);
    const total = Array.isArray(iterable) ? iterable.length : undefined;
    const progress = progressFor(o.progress, total);
    // Counted as sending from now (not from its first next()), so that a close() right
    // after imap() lets it finish. An imap that is never iterated nor return()ed holds
    // the workers' exit until the pool is terminated.
    const token = {};
    this.feeding.add(token);
    const host: StreamHost = {
      size: this.size,
      terminated: () => this.state === 'terminate',
      watch: (job, s) => this.watch(job, s),
      fnId: () => this.fnId(f),
      send: (job, fnId, items, index) => this.send(job, fnId, 0, items, index),
      done: (job) => {
        this.drop(job);
        this.fed(token);
      },
      exhausted: () => this.fed(token),
    };
    return streamResults<R>(host, iterable, chunksize, ordered, signal, progress);
  }

  // ----------------------------------------------------------------------- lifecycle

  /** No more tasks; the workers exit once the queued ones are done. */
  close(): void {
    if (this.state !== 'run') return;
    this.state = 'close';
    this.sendSentinels();
  }

  /** Stop the workers now; outstanding tasks reject. Resolves when they are gone. */
  async terminate(): Promise<void> {
    if (this.state !== 'terminate') {
      this.state = 'terminate';
      const err = new ValueError('the pool was terminated before the task finished');
      const jobs = new Set([...this.chunks.values()].map((e) => e.job));
      this.chunks.clear();
      this.drainAbort?.abort();
      for (const job of jobs) job.fail(err);
      for (const w of this.workers) w?.proc.kill();
    }
    await this.join();
  }

  /** Resolves when every worker has exited (after close() or terminate()). */
  async join(): Promise<void> {
    if (this.state === 'run') throw new ValueError('Pool is still running: call close() or terminate() first');
    for (;;) {
      const live = this.workers.filter((w) => w !== null);
      if (live.length === 0) break;
      // join() holds the event loop (the exit watchers do not): a replacement started
      // meanwhile is joined on the next round.
      await Promise.all(live.map((w) => w.proc.join()));
      await new Promise((r) => setImmediate(r));
    }
    this.release();
  }

  private settleIdle(): void {
    if (this.state !== 'run' && this.workers.every((w) => w === null)) this.release();
  }

  private released = false;
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.tasks.cancelJoinThread();
    this.tasks.close();
    this.results.close();
  }

  /** `await using pool = new Pool()`: terminate at scope exit (Python's `with Pool()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.terminate();
  }
}
