// The objects a manager server holds for the typeids dict, list, Namespace, Value and
// Array: plain in-process data with Python's semantics (dict, list, SimpleNamespace,
// managers.Value, array.array). The server calls the methods listed in each class's
// `exposed` with the arguments a proxy sent, and sends back what they return; the
// symbol method kSnapshot gives a proxy's `_getvalue()`.
import { type TypeInfo, typeInfo } from './ctypes.js';
import { KeyError, ValueError } from './errors.js';
import { checkIndex, checkKey, type DictKey, dictPairs, dictSlot, isIterable, isPlainObject, itemIndex } from './pyvalues.js';
import { plainObject, pyCompare, pyEquals, showValue, sliceBound } from './pyvalues.js';
import { bytesOf, coerceScalar, K_WCHAR, kindOf, wcharString, wcharUnits } from './scalars.js';
import { checkBoolean, checkInteger, checkOptions, checkString, describe } from './validate.js';

/** The method that returns a copy of the whole object, for a proxy's `_getvalue()`. */
export const kSnapshot = Symbol.for('multiprocessing.manager.snapshot');

// ---------------------------------------------------------------------------------------
// dict

/**
 * Python's dict, for keys that are primitives. Keys that are == share an entry (1 and 1n;
 * the first one stored is kept, as Python keeps the first key object); true and 1 do not.
 */
export class ManagedDict {
  static readonly exposed: readonly string[] = Object.freeze([
    'get', 'set', 'delete', 'has', 'keys', 'values', 'items', 'update',
    'pop', 'popitem', 'setdefault', 'clear', 'length', 'copy',
  ]);

  /** slot (dictSlot of the key) -> [the key as first stored, value], in insertion order. */
  readonly #entries = new Map<DictKey, [DictKey, unknown]>();

  constructor(init?: unknown) {
    for (const [k, v] of dictPairs('init', init)) this.set(k, v);
  }

  get(key: unknown, fallback: unknown = undefined): unknown {
    const entry = this.#entries.get(dictSlot(checkKey(key)));
    return entry ? entry[1] : fallback;
  }

  set(key: unknown, value: unknown): void {
    const k = checkKey(key);
    const entry = this.#entries.get(dictSlot(k));
    if (entry) entry[1] = value;
    else this.#entries.set(dictSlot(k), [k, value]);
  }

  /** `del d[key]`: KeyError when missing. */
  delete(key: unknown): void {
    const slot = dictSlot(checkKey(key));
    if (!this.#entries.delete(slot)) throw new KeyError(showValue(key));
  }

  has(key: unknown): boolean {
    return this.#entries.has(dictSlot(checkKey(key)));
  }

  keys(): DictKey[] {
    return Array.from(this.#entries.values(), (e) => e[0]);
  }

  values(): unknown[] {
    return Array.from(this.#entries.values(), (e) => e[1]);
  }

  items(): [DictKey, unknown][] {
    return Array.from(this.#entries.values(), (e) => [e[0], e[1]]);
  }

  /** Add a plain object's properties, a Map's entries or [key, value] pairs; all or none. */
  update(other: unknown): void {
    for (const [k, v] of dictPairs('other', other)) this.set(k, v);
  }

  /** The value removed; `fallback` (if passed at all, even undefined) when missing, else KeyError. */
  pop(key: unknown, ...fallback: unknown[]): unknown {
    if (fallback.length > 1) throw new TypeError(`pop expected at most 2 arguments, got ${fallback.length + 1}`);
    const slot = dictSlot(checkKey(key));
    const entry = this.#entries.get(slot);
    if (entry) {
      this.#entries.delete(slot);
      return entry[1];
    }
    if (fallback.length === 1) return fallback[0];
    throw new KeyError(showValue(key));
  }

  /** Remove and return the last inserted [key, value] (LIFO, as Python 3.7+). */
  popitem(): [DictKey, unknown] {
    // A Map cannot be read from its end; walking it is O(n), fine for a manager's data.
    let last: [DictKey, [DictKey, unknown]] | undefined;
    for (const e of this.#entries) last = e;
    if (!last) throw new KeyError('popitem(): dictionary is empty');
    this.#entries.delete(last[0]);
    return [last[1][0], last[1][1]];
  }

  setdefault(key: unknown, fallback: unknown = undefined): unknown {
    const k = checkKey(key);
    const entry = this.#entries.get(dictSlot(k));
    if (entry) return entry[1];
    this.#entries.set(dictSlot(k), [k, fallback]);
    return fallback;
  }

  clear(): void {
    this.#entries.clear();
  }

  length(): number {
    return this.#entries.size;
  }

  /**
   * A snapshot: a plain object when every key is a string (the common case, and what
   * JSON and object spread expect), otherwise a Map, which keeps non-string keys intact.
   */
  copy(): Record<string, unknown> | Map<DictKey, unknown> {
    const entries = Array.from(this.#entries.values());
    if (entries.every((e) => typeof e[0] === 'string')) return plainObject(entries as [string, unknown][]);
    return new Map(entries);
  }

  [kSnapshot](): Record<string, unknown> | Map<DictKey, unknown> {
    return this.copy();
  }
}

// ---------------------------------------------------------------------------------------
// list

/** Python's list. Equality (remove, index, count) is pyEquals, order (sort) is pyCompare. */
export class ManagedList {
  static readonly exposed: readonly string[] = Object.freeze([
    'get', 'set', 'append', 'extend', 'insert', 'pop', 'remove', 'index',
    'count', 'reverse', 'sort', 'length', 'copy', 'slice',
  ]);

  #items: unknown[];

  constructor(init?: unknown) {
    this.#items = init === undefined || init === null ? [] : ManagedList.#elements('init', init);
  }

  static #elements(name: string, src: unknown): unknown[] {
    if (!isIterable(src)) throw new TypeError(`${name} must be iterable, got ${describe(src)}`);
    return Array.from(src);
  }

  get(index: unknown): unknown {
    const j = itemIndex(checkIndex('index', index), this.#items.length);
    if (j < 0) throw new RangeError('list index out of range');
    return this.#items[j];
  }

  set(index: unknown, value: unknown): void {
    const j = itemIndex(checkIndex('index', index), this.#items.length);
    if (j < 0) throw new RangeError('list assignment index out of range');
    this.#items[j] = value;
  }

  append(value: unknown): void {
    this.#items.push(value);
  }

  extend(iterable: unknown): void {
    // Taken whole first, so l.extend(l) doubles the list once, as in Python.
    for (const v of ManagedList.#elements('iterable', iterable)) this.#items.push(v);
  }

  /** Insert before `index`; an index past either end clamps to it (Python's insert). */
  insert(index: unknown, value: unknown): void {
    const i = checkIndex('index', index);
    const n = this.#items.length;
    this.#items.splice(i < 0 ? Math.max(0, i + n) : Math.min(i, n), 0, value);
  }

  pop(index: unknown = -1): unknown {
    const i = checkIndex('index', index);
    if (this.#items.length === 0) throw new RangeError('pop from empty list');
    const j = itemIndex(i, this.#items.length);
    if (j < 0) throw new RangeError('pop index out of range');
    return this.#items.splice(j, 1)[0];
  }

  remove(value: unknown): void {
    const j = this.#items.findIndex((x) => pyEquals(x, value));
    if (j < 0) throw new ValueError('list.remove(x): x not in list');
    this.#items.splice(j, 1);
  }

  /** The first position of `value` within [start, stop) (slice bounds). ValueError if absent. */
  index(value: unknown, start?: unknown, stop?: unknown): number {
    const n = this.#items.length;
    const end = sliceBound('stop', stop, n, n);
    for (let i = sliceBound('start', start, n, 0); i < end; i++) if (pyEquals(this.#items[i], value)) return i;
    throw new ValueError(`${showValue(value)} is not in list`);
  }

  count(value: unknown): number {
    let n = 0;
    for (const x of this.#items) if (pyEquals(x, value)) n++;
    return n;
  }

  reverse(): void {
    this.#items.reverse();
  }

  /** Stable sort by pyCompare; `{ reverse: true }` keeps equal items in order, as Python. */
  sort(options?: unknown): void {
    const opts = checkOptions<{ key: unknown; reverse: unknown }>('options', options);
    for (const k of Object.keys(opts)) if (k !== 'key' && k !== 'reverse') throw new TypeError(`sort() got an unexpected option '${k}'`);
    if (opts.key !== undefined && opts.key !== null) {
      throw new TypeError(
        'sort() of a manager list cannot take a key function: functions cannot be sent to the manager process; sort a copy locally instead (const a = await list.copy(); a.sort(...))',
      );
    }
    const reverse = opts.reverse === undefined || opts.reverse === null ? false : checkBoolean('options.reverse', opts.reverse);
    const items = this.#items;
    // Array#sort moves undefined to the end without comparing it; Python cannot order None.
    const hole = items.indexOf(undefined);
    if (hole >= 0 && items.length > 1) pyCompare(items[hole], items[hole === 0 ? 1 : 0]);
    // Sorted on a copy: a failed comparison leaves the list as it was.
    this.#items = items.slice().sort(reverse ? (a, b) => pyCompare(b, a) : pyCompare);
  }

  length(): number {
    return this.#items.length;
  }

  copy(): unknown[] {
    return this.#items.slice();
  }

  /** items[start:stop] as Python: negative bounds count back, null/undefined is the end. */
  slice(start?: unknown, stop?: unknown): unknown[] {
    const n = this.#items.length;
    return this.#items.slice(sliceBound('start', start, n, 0), sliceBound('stop', stop, n, n));
  }

  [kSnapshot](): unknown[] {
    return this.copy();
  }
}

// ---------------------------------------------------------------------------------------
// Namespace

/** Python's Namespace: named values. Kept in a Map, so any string is a name ('__proto__' too). */
export class ManagedNamespace {
  static readonly exposed: readonly string[] = Object.freeze(['get', 'set', 'delete', 'has', 'copy']);

  readonly #attrs = new Map<string, unknown>();

  constructor(init?: unknown) {
    if (init === undefined || init === null) return;
    if (!isPlainObject(init)) throw new TypeError(`init must be a plain object of names and values, got ${describe(init)}`);
    for (const [k, v] of Object.entries(init)) this.#attrs.set(k, v);
  }

  get(name: unknown): unknown {
    const n = checkString('name', name);
    if (!this.#attrs.has(n)) throw new ValueError(`Namespace has no attribute '${n}'`);
    return this.#attrs.get(n);
  }

  set(name: unknown, value: unknown): void {
    this.#attrs.set(checkString('name', name), value);
  }

  delete(name: unknown): void {
    const n = checkString('name', name);
    if (!this.#attrs.delete(n)) throw new ValueError(`Namespace has no attribute '${n}'`);
  }

  has(name: unknown): boolean {
    return this.#attrs.has(checkString('name', name));
  }

  copy(): Record<string, unknown> {
    return plainObject(this.#attrs);
  }

  [kSnapshot](): Record<string, unknown> {
    return this.copy();
  }
}

// ---------------------------------------------------------------------------------------
// Value

/** Python's managers.Value: the typecode is checked, the value is stored as given (no coercion). */
export class ManagedValue {
  static readonly exposed: readonly string[] = Object.freeze(['get', 'set']);

  readonly typecode: string;
  #value: unknown;

  constructor(typecode: unknown, value?: unknown) {
    this.typecode = typeInfo(typecode).code;
    this.#value = value;
  }

  get(): unknown {
    return this.#value;
  }

  set(value: unknown): void {
    this.#value = value;
  }

  [kSnapshot](): unknown {
    return this.#value;
  }
}

// ---------------------------------------------------------------------------------------
// Array

type Slots = { [i: number]: number | bigint; readonly length: number };

/**
 * array.array of a fixed length over a plain typed array. Elements are checked as for
 * mp.Array: out of range is a RangeError, a wrong type a TypeError, never a silent wrap.
 * 'u' elements read as one-character strings, 'c' elements as byte numbers.
 */
export class ManagedArray {
  static readonly exposed: readonly string[] = Object.freeze(['get', 'set', 'length', 'copy', 'slice']);

  readonly typecode: string;
  readonly #info: TypeInfo;
  readonly #kind: number;
  readonly #data: Slots;

  constructor(typecode: unknown, sizeOrSequence: unknown) {
    const info = typeInfo(typecode);
    this.typecode = info.code;
    this.#info = info;
    this.#kind = kindOf(info);
    const init = this.#initialUnits(sizeOrSequence);
    const data = new info.ArrayType(new ArrayBuffer((typeof init === 'number' ? init : init.length) * info.size)) as unknown as Slots;
    if (typeof init !== 'number') for (let i = 0; i < init.length; i++) data[i] = init[i];
    this.#data = data;
  }

  /** A length to zero-fill, or the checked elements. */
  #initialUnits(src: unknown): number | ArrayLike<number | bigint> {
    if (typeof src === 'number') return checkInteger('size', src, 0);
    if (typeof src === 'string' && this.#info.code === 'u') return wcharUnits(src);
    if (this.#info.code === 'c' && (typeof src === 'string' || src instanceof Uint8Array)) return bytesOf(src, 'sizeOrSequence');
    if (!isIterable(src)) throw new TypeError(`sizeOrSequence must be a size or an iterable of values, got ${describe(src)}`);
    return Array.from(src, (v, i) => coerceScalar(this.#info, this.#kind, v, `sizeOrSequence[${i}]`));
  }

  #read(j: number): number | bigint | string {
    const unit = this.#data[j];
    return this.#kind === K_WCHAR ? wcharString([unit as number], 1) : unit;
  }

  get(index: unknown): number | bigint | string {
    const j = itemIndex(checkIndex('index', index), this.#data.length);
    if (j < 0) throw new RangeError('array index out of range');
    return this.#read(j);
  }

  set(index: unknown, value: unknown): void {
    const j = itemIndex(checkIndex('index', index), this.#data.length);
    if (j < 0) throw new RangeError('array assignment index out of range');
    this.#data[j] = coerceScalar(this.#info, this.#kind, value, 'value');
  }

  length(): number {
    return this.#data.length;
  }

  copy(): (number | bigint | string)[] {
    return this.slice();
  }

  /** a[start:stop] as a plain JS array, with Python's slice bounds. */
  slice(start?: unknown, stop?: unknown): (number | bigint | string)[] {
    const n = this.#data.length;
    const out: (number | bigint | string)[] = [];
    for (let j = sliceBound('start', start, n, 0), end = sliceBound('stop', stop, n, n); j < end; j++) out.push(this.#read(j));
    return out;
  }

  [kSnapshot](): (number | bigint | string)[] {
    return this.copy();
  }
}
