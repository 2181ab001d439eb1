// What a pool worker runs (lib/pool.ts starts it as a Process target). It pulls chunks
// from the pool's one task queue, runs the function on each item and puts one result
// message per chunk. Its slot in the shared `running` array names the chunk it runs, so
// that the parent can fail exactly that chunk if the worker dies.
//
// Messages (arrays, so the codec's fast path carries them):
//   task:   [chunkId, fnId, star (0|1), items]      or null: exit (one per worker, at close)
//   result: [chunkId, 1, values] | [chunkId, 0, error] | [0, INIT_FAILED, error]
// items and values are arrays, or typed arrays when they are numbers (pool_chunk.ts).
// Functions come by reference or source once (pool.ts sends each new one to every
// worker's control pipe before the first chunk that uses it) and are then named by id.
import type { Connection } from './connection.js';
import type { Queue } from './queues.js';
import { isThenable } from './iterables.js';
import { type Items, runChunk } from './pool_chunk.js';
import { importingTarget } from './process.js';
import { type TargetRef, refModule, resolveTarget } from './targets.js';

export const INIT_FAILED = 1;
/** A worker's slot when it leaves because it took an exit sentinel (a closing pool). */
export const EXIT_BY_SENTINEL = -1;
/** A worker's slot from its start until it is ready for tasks (its initializer done). */
export const NOT_STARTED = -2;

export type Task = [chunkId: number, fnId: number, star: 0 | 1, items: Items] | null;
export type Result = [chunkId: number, ok: 0 | 1, payload: unknown];

/** An error as data (structured clone keeps Errors, but a thrown non-Error is anything). */
export interface ErrorInfo {
  name: string;
  message: string;
  stack: string;
  error: unknown;
}

export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack ?? String(err), error: err };
  return { name: 'Error', message: String(err), stack: `Uncaught ${String(err)}`, error: err };
}

type Fn = (...args: unknown[]) => unknown;

export interface WorkerArgs {
  tasks: Queue<Task>;
  results: Queue<Result>;
  control: Connection;
  running: Int32Array;
  index: number;
  initializer: TargetRef | null;
  initargs: unknown[];
  maxtasks: number;
  fns: [number, TargetRef][];
}

export async function poolWorker(a: WorkerArgs): Promise<void> {
  const refs = new Map<number, TargetRef>(a.fns);
  const fns = new Map<number, Fn>();
  const fnFor = async (id: number): Promise<Fn> => {
    let fn = fns.get(id);
    if (fn !== undefined) return fn;
    // Definitions are in the control pipe before the first chunk that names them.
    while (!refs.has(id)) {
      const [newId, ref] = a.control.recvSync() as [number, TargetRef];
      refs.set(newId, ref);
    }
    const ref = refs.get(id)!;
    // With the entry-module guard armed: top-level code of the function's module that
    // starts processes gets the error that explains the guard.
    fn = await importingTarget(refModule(ref), () => resolveTarget(ref));
    fns.set(id, fn);
    return fn;
  };

  if (a.initializer !== null) {
    try {
      const ref = a.initializer;
      const init = await importingTarget(refModule(ref), () => resolveTarget(ref));
      const r = init(...a.initargs);
      if (isThenable(r)) await r;
    } catch (err) {
      a.results.putSync([0, INIT_FAILED, errorInfo(err)]);
      return;
    }
  }

  Atomics.store(a.running, a.index, 0); // ready: a death from now on is not a failed start
  // The task is claimed (its id in our slot) as it is read, before its record is
  // consumed: there is no instant at which a task is taken but nobody's.
  a.tasks.onTake = (task) => {
    Atomics.store(a.running, a.index, task === null ? EXIT_BY_SENTINEL : task[0]);
  };
  for (let done = 0; a.maxtasks === 0 || done < a.maxtasks; done++) {
    const task = a.tasks.getSync();
    if (task === null) {
      Atomics.store(a.running, a.index, EXIT_BY_SENTINEL); // it took its sentinel: no replacement
      return;
    }
    const [chunkId, fnId, star, items] = task;
    Atomics.store(a.running, a.index, chunkId); // claimed already, unless it came the v8 way
    let result: Result;
    try {
      // Known functions without an await: a microtask turn per chunk shows at chunksize 1.
      const fn = fns.get(fnId) ?? (await fnFor(fnId));
      const values = runChunk(fn, items, star);
      result = [chunkId, 1, values instanceof Promise ? await values : values];
    } catch (err) {
      result = [chunkId, 0, errorInfo(err)];
    }
    try {
      a.results.putSync(result);
    } catch (err) {
      // A result that cannot be sent (a function in it, ...) fails its task, not the worker.
      a.results.putSync([chunkId, 0, errorInfo(err)]);
    }
    // The result must be in the ring, not pending in this process, before the slot
    // stops naming its chunk: a death after this point must not lose it.
    a.results.flushSync();
    Atomics.store(a.running, a.index, 0);
  }
}
