// The imap/imapUnordered side of a Pool: pulls the iterable lazily, keeps a bounded
// number of chunks in flight, and yields results in order (or as they come).
import { ValueError } from './errors.js';
import type { Progress } from './progress.js';

/** Where a chunk's result goes. */
export interface Job {
  /** Still wants results (false once settled or aborted). */
  live: boolean;
  chunk(index: number, ok: boolean, payload: unknown): void;
  fail(err: Error): void;
}

/** What the stream needs from its Pool. */
export interface StreamHost {
  readonly size: number;
  terminated(): boolean;
  watch(job: Job, signal: AbortSignal | undefined): void;
  /** The function's id (sent to the workers on first use). */
  fnId(): number;
  send(job: Job, fnId: number, items: unknown[], index: number): void;
  /** Everything it sent is answered or dropped (the stream ended, however). */
  done(job: Job): void;
  /** The iterable ran out: no more chunks will be sent. */
  exhausted(): void;
}

/** Results of `host`'s function over `iterable`, chunk by chunk. */
export async function* streamResults<R>(
  host: StreamHost,
  iterable: Iterable<unknown> | AsyncIterable<unknown>,
  chunksize: number,
  ordered: boolean,
  signal: AbortSignal | undefined,
  progress: Progress,
): AsyncIterableIterator<R> {
  const syncIt = typeof (iterable as Iterable<unknown>)[Symbol.iterator] === 'function' ? (iterable as Iterable<unknown>)[Symbol.iterator]() : null;
  const asyncIt = syncIt === null ? (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]() : null;
  const ready = new Map<number, R[]>();
  const arrivals: number[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const job: Job = {
    live: true,
    chunk: (index, _ok, payload) => {
      ready.set(index, payload as R[]);
      arrivals.push(index);
      wake?.();
    },
    fail: (err) => {
      if (failure === null) failure = err;
      wake?.();
    },
  };
  host.watch(job, signal);
  // Bounded read-ahead: at most this many chunks in flight.
  const ahead = Math.max(16, host.size * 8);
  let sent = 0;
  let next = 0; // next index to yield (ordered)
  let exhausted = false;
  let items = 0;
  const pull = async (): Promise<unknown[]> => {
    const chunk: unknown[] = [];
    while (chunk.length < chunksize) {
      const r = syncIt !== null ? syncIt.next() : await asyncIt!.next();
      if (r.done) {
        exhausted = true;
        break;
      }
      chunk.push(r.value);
    }
    return chunk;
  };
  try {
    let fnId = 0;
    for (;;) {
      while (!exhausted && sent - next < ahead && failure === null) {
        if (host.terminated()) throw new ValueError('the pool was terminated before the task finished');
        const chunk = await pull();
        if (chunk.length === 0) break;
        if (fnId === 0) fnId = host.fnId();
        items += chunk.length;
        host.send(job, fnId, chunk, sent++);
      }
      if (exhausted) {
        progress.setTotal(items);
        host.exhausted();
      }
      if (failure !== null) throw failure;
      if (ordered) {
        while (ready.has(next)) {
          const values = ready.get(next)!;
          ready.delete(next++);
          progress.add(values.length);
          for (const v of values) yield v;
        }
      } else {
        while (arrivals.length > 0) {
          const index = arrivals.shift()!;
          const values = ready.get(index)!;
          ready.delete(index);
          next++;
          progress.add(values.length);
          for (const v of values) yield v;
        }
      }
      if (exhausted && next === sent) return;
      if (failure !== null) throw failure;
      if (ready.has(next) || (!ordered && arrivals.length > 0)) continue;
      if (!exhausted && sent - next < ahead) continue;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  } finally {
    job.live = false;
    host.done(job);
    progress.end();
    await syncIt?.return?.();
    await asyncIt?.return?.();
  }
}
