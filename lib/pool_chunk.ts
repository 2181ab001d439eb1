// What a pool worker does with one chunk: the function over its items, in order.
//
// A map over numbers is the common case, and its results then travel as a typed array
// (8 or more of them): they go into an Int32Array while they are int32s, a Float64Array
// while they are numbers, an array from the first other value on. The codec carries a typed array as its
// bytes (one copy, no per-item work) and the parent copies the numbers into the result
// array, so this loop is all the per-item work a worker does. The items of a map's chunk
// come as a typed array too when they are numbers (codec.ts ArraySlice).
//
// Small functions on purpose: V8 compiles them within a few ms of their first hot loop,
// where a loop inside poolWorker waited for the whole of poolWorker to be compiled.
import { isThenable } from './iterables.js';

type Fn = (...args: unknown[]) => unknown;

/** A chunk's items: an array, or a map's numbers as an Int32Array or Float64Array. */
export type Items = ArrayLike<unknown>;
/** A chunk's results, as above. */
export type Values = unknown[] | Int32Array | Float64Array;

function callAt(fn: Fn, items: Items, i: number, star: 0 | 1): unknown {
  return star === 1 ? fn(...(items[i] as unknown[])) : fn(items[i]);
}

/** Fewer results than this go as an array: a typed array costs more than it saves. */
const TYPED_MIN = 8;

/** The results of fn over `items` (fn(...item) if `star`); a promise once one is a thenable. */
export function runChunk(fn: Fn, items: Items, star: 0 | 1): Values | Promise<Values> {
  const n = items.length;
  if (n < TYPED_MIN) return runAny(fn, items, star, []);
  const ints = new Int32Array(n);
  let i = 0;
  let r: unknown;
  for (; i < n; i++) {
    // The call written out, not callAt(): V8 optimizes this loop sooner without the extra call.
    r = star === 1 ? fn(...(items[i] as unknown[])) : fn(items[i]);
    if (typeof r !== 'number' || (r | 0) !== r || (r === 0 && 1 / r < 0)) break;
    ints[i] = r;
  }
  if (i === n) return ints;
  if (typeof r === 'number') return runFloats(fn, items, star, ints, i, r);
  return continueAny(fn, items, star, Array.from(ints.subarray(0, i)), r);
}

/** From item i on, its result `r` not an int32: results[0, i) are in `ints`. */
function runFloats(fn: Fn, items: Items, star: 0 | 1, ints: Int32Array, i: number, r: number): Values | Promise<Values> {
  const n = items.length;
  const floats = new Float64Array(n);
  floats.set(ints.subarray(0, i));
  let next: unknown = r;
  while (typeof next === 'number') {
    floats[i++] = next;
    if (i === n) return floats;
    next = star === 1 ? fn(...(items[i] as unknown[])) : fn(items[i]);
  }
  return continueAny(fn, items, star, Array.from(floats.subarray(0, i)), next);
}

/** `r` is the result of item out.length, the results before it in `out`. */
function continueAny(fn: Fn, items: Items, star: 0 | 1, out: unknown[], r: unknown): unknown[] | Promise<unknown[]> {
  if (isThenable(r)) return finishAsync(fn, items, star, out, r);
  out.push(r);
  return runAny(fn, items, star, out);
}

/** The results from item out.length on, into `out`. */
function runAny(fn: Fn, items: Items, star: 0 | 1, out: unknown[]): unknown[] | Promise<unknown[]> {
  while (out.length < items.length) {
    const r = callAt(fn, items, out.length, star);
    if (isThenable(r)) return finishAsync(fn, items, star, out, r);
    out.push(r);
  }
  return out;
}

/** From the first thenable on: each result awaited before the next call. */
async function finishAsync(fn: Fn, items: Items, star: 0 | 1, out: unknown[], pending: PromiseLike<unknown>): Promise<unknown[]> {
  out.push(await pending);
  while (out.length < items.length) {
    let r = callAt(fn, items, out.length, star);
    if (isThenable(r)) r = await r;
    out.push(r);
  }
  return out;
}
