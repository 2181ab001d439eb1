// Sleeping on a 32-bit word in shared memory, the one thing the fast paths cannot do in
// JavaScript: Atomics.wait is process-local in V8, so sleeps go through the addon.
// Callers loop on their own condition; a wake here only means "look again".
import { type AsyncWaitResult, native, type WaitResult } from './native.js';

let nextWaitId = 1;

/** Block this thread while `view[index] === expected`, at most `timeoutMs`. */
export function waitSync(view: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult {
  return native.wait(view, index, expected, timeoutMs);
}

/**
 * Resolve when `view[index] !== expected`, a wake arrives, `timeoutMs` passes, or `signal`
 * aborts ('cancelled'). Resolved from the addon's waiter thread: no libuv pool thread.
 */
export function waitAsync(
  view: Int32Array,
  index: number,
  expected: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<AsyncWaitResult> {
  if (signal?.aborted) return Promise.resolve('cancelled');
  const id = nextWaitId++;
  if (nextWaitId > 0x3fffffff) nextWaitId = 1;
  const pending = native.waitAsync(id, view, index, expected, timeoutMs);
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
