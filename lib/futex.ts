// Sleeping on a 32-bit word in shared memory, the one thing the fast paths cannot do in
// JavaScript: Atomics.wait is process-local in V8, so sleeps go through the addon.
// Callers loop on their own condition; a wake here only means "look again".
import { type AsyncWaitResult, native, type WaitResult } from './native.js';
import { flushPendingNow, hasPending } from './pending_writes.js';

/** How long a Sync wait sleeps at a time while this thread has puts pending. */
const FLUSH_SLICE_MS = 1;

let nextWaitId = 1;

/**
 * Block this thread while `view[index] === expected`, at most `timeoutMs`. While this
 * thread has queue or pipe messages pending (pending_writes.ts), it moves them first and
 * sleeps at most FLUSH_SLICE_MS: blocked here, it is its own feeder thread, whatever it
 * waits for (a lock, an event, a queue). Callers loop on their own condition and deadline.
 */
export function waitSync(view: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult {
  if (hasPending()) {
    flushPendingNow();
    if (timeoutMs > FLUSH_SLICE_MS) return native.wait(view, index, expected, FLUSH_SLICE_MS);
  }
  return native.wait(view, index, expected, timeoutMs);
}

/**
 * Async waits that end together: a ring's, when the object that sleeps on its words is
 * released (its memory is about to be unmapped). end() cancels those in progress and
 * those started after.
 */
export class WaitGroup {
  /** Ids of the waits in progress. */
  readonly ids = new Set<number>();
  ended = false;

  /** Every wait of the group, now and later, resolves 'cancelled'. */
  end(): void {
    this.ended = true;
    for (const id of this.ids) native.cancelWait(id);
    this.ids.clear();
  }
}

/**
 * Resolve when `view[index] !== expected`, a wake arrives, `timeoutMs` passes, or `signal`
 * aborts or `group` ends ('cancelled'). Resolved from the addon's waiter thread: no libuv
 * pool thread.
 */
export function waitAsync(
  view: Int32Array,
  index: number,
  expected: number,
  timeoutMs: number,
  signal?: AbortSignal,
  group?: WaitGroup,
): Promise<AsyncWaitResult> {
  if (signal?.aborted || group?.ended) return Promise.resolve('cancelled');
  const id = nextWaitId++;
  if (nextWaitId > 0x3fffffff) nextWaitId = 1;
  let pending = native.waitAsync(id, view, index, expected, timeoutMs);
  if (group !== undefined) {
    group.ids.add(id);
    pending = pending.finally(() => group.ids.delete(id));
  }
  if (signal === undefined) return pending;
  const onAbort = () => native.cancelWait(id);
  signal.addEventListener('abort', onAbort, { once: true });
  return pending.finally(() => signal.removeEventListener('abort', onAbort));
}

/** Wake up to `count` sleepers on `view[index]`, in any process. */
export function wake(view: Int32Array, index: number, count: number): number {
  return native.wake(view, index, count);
}

/** Milliseconds left until `deadline` (performance.now() based); Infinity stays Infinity. */
export function remaining(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - performance.now());
}

export function deadlineAfter(timeoutMs: number): number {
  return timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
}
