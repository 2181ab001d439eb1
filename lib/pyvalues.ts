// Python's value semantics for structured-clone data, as the manager's list and dict need
// them: == (pyEquals: `in`, index, count, remove), < (pyCompare: sort), which keys a dict
// accepts, which of them collide and what builds a dict (checkKey, dictSlot, dictPairs),
// and sequence index and slice arithmetic (negative indexes, clamped bounds).
import { ValueError } from './errors.js';
import { describe } from './validate.js';

/** What a manager dict accepts as a key (Python's hashable values, in JS terms). */
export type DictKey = string | number | bigint | boolean | null | undefined;

// ---------------------------------------------------------------------------------------
// Equality

function sameNumber(a: number, b: number): boolean {
  // Python's `in` finds NaN by identity; a cloned NaN has no identity, so NaN finds NaN.
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

function numberEqualsBigint(n: number, b: bigint): boolean {
  return Number.isInteger(n) && BigInt(n) === b;
}

/** Pairs being compared further up the stack: a cycle met again is assumed equal. */
type InProgress = Map<object, Set<object>>;

function arraysEqual(a: unknown[], b: unknown[], seen: InProgress): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!equals(a[i], b[i], seen)) return false;
  return true;
}

function typedArraysEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a instanceof DataView || b instanceof DataView) return false;
  const x = a as unknown as ArrayLike<number | bigint>;
  const y = b as unknown as ArrayLike<number | bigint>;
  // The element type, not the class: a Buffer equals a Uint8Array with the same bytes.
  const tag = (v: ArrayBufferView): string => Object.prototype.toString.call(v);
  if (tag(a) !== tag(b) || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const p = x[i];
    const q = y[i];
    if (p !== q && !(typeof p === 'number' && typeof q === 'number' && sameNumber(p, q))) return false;
  }
  return true;
}

function mapsEqual(a: Map<unknown, unknown>, b: Map<unknown, unknown>, seen: InProgress): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (!b.has(k) || !equals(v, b.get(k), seen)) return false;
  return true;
}

function setsEqual(a: Set<unknown>, b: Set<unknown>): boolean {
  if (a.size !== b.size) return false;
  for (const v of a) if (!b.has(v)) return false;
  return true;
}

function objectsEqual(a: object, b: object, seen: InProgress): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of ka) if (!Object.hasOwn(b, k) || !equals(ra[k], rb[k], seen)) return false;
  return true;
}

function structureEquals(a: object, b: object, seen: InProgress): boolean {
  if (Array.isArray(a)) return Array.isArray(b) && arraysEqual(a, b, seen);
  if (ArrayBuffer.isView(a)) return ArrayBuffer.isView(b) && typedArraysEqual(a, b);
  if (a instanceof Date) return b instanceof Date && sameNumber(a.getTime(), b.getTime());
  if (a instanceof Map) return b instanceof Map && mapsEqual(a, b, seen);
  if (a instanceof Set) return b instanceof Set && setsEqual(a, b);
  if (isPlainObject(a)) return isPlainObject(b) && objectsEqual(a, b, seen);
  return false; // any other object: identity only, checked by the caller
}

function equals(a: unknown, b: unknown, seen: InProgress): boolean {
  if (a === b) return true;
  if (typeof a === 'number') {
    if (typeof b === 'number') return sameNumber(a, b);
    return typeof b === 'bigint' && numberEqualsBigint(a, b);
  }
  if (typeof a === 'bigint') return typeof b === 'number' && numberEqualsBigint(b, a);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  let partners = seen.get(a);
  if (partners?.has(b)) return true;
  if (!partners) seen.set(a, (partners = new Set()));
  partners.add(b);
  try {
    return structureEquals(a, b, seen);
  } finally {
    partners.delete(b);
  }
}

/**
 * Python's == for cloned data: deep and structural. NaN equals NaN, 1 equals 1n, +0
 * equals -0; arrays element-wise, plain objects by own keys, Maps by entries (keys by
 * identity, as Map.has), Sets by members, typed arrays by element type and elements,
 * Dates by time; any other object only itself. true is not 1 (unlike Python): JS
 * programs keep booleans and numbers apart.
 */
export function pyEquals(a: unknown, b: unknown): boolean {
  return equals(a, b, new Map());
}

// ---------------------------------------------------------------------------------------
// Ordering

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'Array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'Object';
  return typeof v;
}

function isNumeric(v: unknown): v is number | bigint | boolean {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean';
}

function compareNumeric(a: number | bigint | boolean, b: number | bigint | boolean): number {
  const x = typeof a === 'boolean' ? Number(a) : a;
  const y = typeof b === 'boolean' ? Number(b) : b;
  // < and > between number and bigint are exact; NaN is neither (0, as Python's < says).
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(i) as number;
    // Code points, not UTF-16 units: '\u{10000}' sorts after '\uffff', as in Python.
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function compareArrays(a: unknown[], b: unknown[]): number {
  const n = Math.min(a.length, b.length);
  // As Python: the first pair that is not == decides; only that pair must be orderable.
  for (let i = 0; i < n; i++) if (!pyEquals(a[i], b[i])) return pyCompare(a[i], b[i]);
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/**
 * Python's ordering for list.sort: -1, 0 or 1. Numbers, bigints and booleans compare
 * numerically with each other, strings by code point (not locale), arrays
 * lexicographically, Dates by time. Anything else, or two different kinds, is a TypeError
 * as Python's "'<' not supported between instances of 'str' and 'int'".
 */
export function pyCompare(a: unknown, b: unknown): number {
  if (isNumeric(a) && isNumeric(b)) return compareNumeric(a, b);
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return compareArrays(a, b);
  if (a instanceof Date && b instanceof Date) return compareNumeric(a.getTime(), b.getTime());
  throw new TypeError(`'<' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`);
}

// ---------------------------------------------------------------------------------------
// Dict keys

/** A dict key, or a TypeError: only primitives are keys (Python's hashable values). */
export function checkKey(key: unknown): DictKey {
  const t = typeof key;
  if (key === null || t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean' || t === 'undefined') {
    return key as DictKey;
  }
  throw new TypeError(
    `unhashable key type '${typeName(key)}': manager dict keys must be primitives (string, number, bigint, boolean, null or undefined); for a compound key use a string such as JSON.stringify(key)`,
  );
}

export function isIterable(v: unknown): v is Iterable<unknown> {
  return typeof v === 'string' || (typeof v === 'object' && v !== null && Symbol.iterator in v);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A plain object with these own properties; defineProperty so '__proto__' is just a name. */
export function plainObject(entries: Iterable<readonly [string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
  return out;
}

/** The [key, value] pairs of a dict's init or update argument, all checked before any is used. */
export function dictPairs(name: string, src: unknown): [DictKey, unknown][] {
  if (src === undefined || src === null) return [];
  if (src instanceof Map) return Array.from(src, ([k, v]) => [checkKey(k), v]);
  if (isIterable(src)) {
    return Array.from(src, (pair, i): [DictKey, unknown] => {
      if (!Array.isArray(pair)) {
        throw new TypeError(`${name}: element #${i} must be a [key, value] array, got ${describe(pair)}`);
      }
      if (pair.length !== 2) throw new ValueError(`${name}: dictionary update sequence element #${i} has length ${pair.length}; 2 is required`);
      return [checkKey(pair[0]), pair[1]];
    });
  }
  if (isPlainObject(src)) return Object.entries(src);
  throw new TypeError(`${name} must be a plain object, a Map or an iterable of [key, value] pairs, got ${describe(src)}`);
}

/**
 * The Map key under which a dict stores `key`: keys that are == collide, as in Python
 * (1, 1n and -0 share a slot; integral numbers become bigints, other keys stay as they are).
 */
export function dictSlot(key: DictKey): DictKey {
  return typeof key === 'number' && Number.isInteger(key) ? BigInt(key) : key;
}

/** A short JS rendering of a value for error messages (the key of a KeyError, ...). */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (v === null || typeof v !== 'object') return String(v);
  try {
    const json = JSON.stringify(v);
    if (json !== undefined && (Array.isArray(v) || isPlainObject(v))) return json.length > 80 ? `${json.slice(0, 80)}...` : json;
  } catch {
    // bigints or cycles inside: fall back to the type name
  }
  return Array.isArray(v) ? 'an array' : `an object (${typeName(v)})`;
}

// ---------------------------------------------------------------------------------------
// Sequence indexes and slices

/** An integer index, or a TypeError naming `name` (Python: "indices must be integers"). */
export function checkIndex(name: string, i: unknown): number {
  if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`${name} must be an integer, got ${describe(i)}`);
  return i;
}

/** `i` counted from the end when negative; -1 when out of range either way. */
export function itemIndex(i: number, length: number): number {
  const j = i < 0 ? i + length : i;
  return j >= 0 && j < length ? j : -1;
}

/** A slice bound as Python computes it: null/undefined is the end, negative counts back, clamped. */
export function sliceBound(name: string, bound: unknown, length: number, missing: number): number {
  if (bound === undefined || bound === null) return missing;
  const i = checkIndex(name, bound);
  if (i < 0) return Math.max(0, i + length);
  return Math.min(i, length);
}
