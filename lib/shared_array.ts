// Array and RawArray (Python's multiprocessing.sharedctypes), on blocks of the shared
// heap (heap.ts). The `lock:` option is sharedctypes.ts's, as for Value.
//
// An Array IS a typed array: an instance of a per-typecode subclass of the typecode's
// typed array class (SharedFloat64Array extends Float64Array, ...), so `arr[i]` is the
// engine's own element access. The subclass adds getLock/getObj/typecode and the
// `[toHandle]` that lets it travel to other processes; its `Symbol.species` is the base
// class, so slice/map/filter return plain typed arrays (copies, as they should), while
// `subarray` returns a shared view that keeps the root (which owns the block) alive.
// (bench/element-access.mjs measures a subclass instance against a plain Float64Array.)
//
// Element access is not locked (as API.md says); the lock is for compound updates.
import {
  type AnyTypedArray,
  describeValue,
  type NormalizeTypecode,
  TYPECODES,
  TYPES,
  type TypeInfo,
  type Typecode,
  type TypecodeOrCtype,
  typeInfo,
} from './ctypes.js';
import { ValueError } from './errors.js';
import { dependent, integerIn } from './handle_shape.js';
import { allocate, attachBlock, type Block, type BlockHandle, blockField, blockHandle, trackOwner } from './heap.js';
import { HANDLE_KIND, registerReviver, type SharedHandle, toHandle } from './reduction.js';
import { bytesOf, coerceScalar, K_CHAR, K_WCHAR, kindOf, type Scalar, wcharString, wcharUnits } from './scalars.js';
import { type LockLike, lockField, lockFrom, lockFromHandle, lockHandle, noLock, type SharedOptions, typecodeField } from './sharedctypes.js';

/** Members every shared array adds to its typed array class. */
export interface SharedArrayExtras {
  /** The typecode (ctypes names are reported as their typecode). */
  readonly typecode: Typecode;
  /** The lock (throws a ValueError for RawArray / lock: false). */
  getLock(): LockLike;
  /** The same memory without the lock (Python's get_obj()); a raw array returns itself. */
  getObj(): this;
  /** Describe for another process (used by the serializer). */
  [toHandle](): SharedHandle;
}

export interface SharedInt8Array extends Int8Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedUint8Array extends Uint8Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedInt16Array extends Int16Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedUint16Array extends Uint16Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedInt32Array extends Int32Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedUint32Array extends Uint32Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedBigInt64Array extends BigInt64Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedBigUint64Array extends BigUint64Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedFloat32Array extends Float32Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
export interface SharedFloat64Array extends Float64Array<ArrayBuffer>, SharedArrayExtras {
  subarray(begin?: number, end?: number): this;
}
/** A 'c' array: bytes, with `.value` (up to the first NUL) and `.raw` (all of them). */
export interface SharedCharArray extends SharedUint8Array {
  /** The bytes up to the first NUL (a copy). Setting writes them plus a NUL if room. */
  get value(): Buffer;
  set value(v: Uint8Array | string);
  /** All the bytes (a copy). Setting writes them at the start. */
  get raw(): Buffer;
  set raw(v: Uint8Array | string);
}
/** A 'u' array: wchar_t units, with `.value` (the string up to the first NUL). */
export interface SharedWcharArray extends SharedUint32Array {
  get value(): string;
  set value(v: string);
}

/** The array type for each typecode ('l'/'L' as on LP64 Linux/macOS; Int32/Uint32 on Windows). */
export interface SharedArrayTypes {
  c: SharedCharArray;
  u: SharedWcharArray;
  b: SharedInt8Array;
  B: SharedUint8Array;
  h: SharedInt16Array;
  H: SharedUint16Array;
  i: SharedInt32Array;
  I: SharedUint32Array;
  l: SharedBigInt64Array;
  L: SharedBigUint64Array;
  q: SharedBigInt64Array;
  Q: SharedBigUint64Array;
  f: SharedFloat32Array;
  d: SharedFloat64Array;
}
export type SharedArrayOf<T extends Typecode> = SharedArrayTypes[T];

/** What `sizeOrValues` accepts besides a size. */
export type ArrayInit<T extends Typecode> = T extends 'c'
  ? string | Uint8Array | Iterable<number | string | Uint8Array> | ArrayLike<number | string | Uint8Array>
  : T extends 'u'
    ? string | Iterable<string | number> | ArrayLike<string | number>
    : T extends 'q' | 'Q' | 'l' | 'L'
      ? Iterable<bigint | number> | ArrayLike<bigint | number>
      : Iterable<number> | ArrayLike<number>;

const INTERNAL: unique symbol = Symbol('multiprocessing.sharedArray');

interface ArrayClassStatics {
  /** A new root array over `block` (which it owns). */
  _create(block: Block, length: number, lock: LockLike | null): AnyTypedArray & SharedArrayExtras;
  /** A view of `length` elements from `start` of the root array `root`. */
  _view(root: AnyTypedArray, start: number, length: number, lock: LockLike | null): AnyTypedArray & SharedArrayExtras;
}

// Every typed array class has the same members; Float64Array stands for them in types.
// biome-ignore lint/suspicious/noExplicitAny: a mixin base must take any[] (TS2545)
type AnyCtor = new (...args: any[]) => Float64Array;

const CLASS_NAMES: Partial<Record<Typecode, string>> = { c: 'SharedCharArray', u: 'SharedWcharArray' };

function makeArrayClass(info: TypeInfo): ArrayClassStatics {
  const Base = info.ArrayType as unknown as AnyCtor;
  const BPE = info.size;
  const baseSubarray = Base.prototype.subarray as (this: Float64Array, b?: number, e?: number) => Float64Array;

  class Shared extends Base {
    // slice/map/filter make copies: plain typed arrays, not shared ones.
    static get [Symbol.species](): AnyCtor {
      return Base;
    }

    #lock: LockLike | null = null;
    /** The array that owns the block; null when this is it. */
    #root: Shared | null = null;
    #block: Block | null = null;
    /** Element offset in the root. */
    #start = 0;
    #raw: Shared | null = null;

    // `new arr.constructor(...)` or `arr.constructor.from(...)` in user code (lodash's
    // clone does that) makes a plain typed array: only this module makes shared ones.
    // biome-ignore lint/correctness/noUnreachableSuper: see above
    // biome-ignore lint/suspicious/noExplicitAny: see AnyCtor
    constructor(...args: any[]) {
      // biome-ignore lint/correctness/noConstructorReturn: see above
      if (args[3] !== INTERNAL) return new Base(...args) as unknown as Shared;
      super(args[0], args[1], args[2]);
    }

    static _create(block: Block, length: number, lock: LockLike | null): Shared {
      const a = new Shared(block.buffer, block.byteOffset, length, INTERNAL);
      a.#block = block;
      a.#lock = lock;
      trackOwner(a, block);
      return a;
    }

    static _view(root: Shared, start: number, length: number, lock: LockLike | null): Shared {
      const v = new Shared(root.buffer, root.byteOffset + start * BPE, length, INTERNAL);
      v.#root = root;
      v.#start = start;
      v.#lock = lock;
      return v;
    }

    getLock(): LockLike {
      if (this.#lock === null) noLock('Array');
      return this.#lock;
    }

    getObj(): this {
      if (this.#lock === null) return this;
      this.#raw ??= Shared._view(this.#root ?? this, this.#start, this.length, null);
      return this.#raw as this;
    }

    // A view that keeps the root (and so the shared block) alive.
    override subarray(begin?: number, end?: number): this {
      const plain = baseSubarray.call(this, begin, end);
      const root = this.#root ?? this;
      return Shared._view(root, (plain.byteOffset - root.byteOffset) / BPE, plain.length, this.#lock) as this;
    }

    [toHandle](): SharedHandle {
      const root = this.#root ?? this;
      return {
        [HANDLE_KIND]: 'Array',
        t: info.code,
        b: blockHandle(root.#block as Block),
        s: this.#start,
        n: this.length,
        lock: lockHandle(this.#lock, 'Array'),
      };
    }
  }

  Object.defineProperty(Shared, 'name', { value: CLASS_NAMES[info.code] ?? `Shared${Base.name}` });
  Object.defineProperty(Shared.prototype, 'typecode', { value: info.code, enumerable: false });
  if (info.code === 'c') Object.defineProperties(Shared.prototype, charArrayAccessors());
  if (info.code === 'u') Object.defineProperties(Shared.prototype, wcharArrayAccessors());
  return Shared as unknown as ArrayClassStatics;
}

function nulIndex(a: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (a[i] === 0) return i;
  return a.length;
}

function charArrayAccessors(): PropertyDescriptorMap {
  return {
    value: {
      get(this: Uint8Array): Buffer {
        const end = this.indexOf(0);
        return Buffer.from(this.subarray(0, end < 0 ? this.length : end));
      },
      set(this: Uint8Array, v: unknown) {
        const bytes = bytesOf(v, 'value');
        if (bytes.length > this.length) throw new ValueError(`byte string too long (${bytes.length} bytes for ${this.length})`);
        Uint8Array.prototype.set.call(this, bytes);
        if (bytes.length < this.length) this[bytes.length] = 0;
      },
      enumerable: false,
      configurable: true,
    },
    raw: {
      get(this: Uint8Array): Buffer {
        return Buffer.from(this);
      },
      set(this: Uint8Array, v: unknown) {
        const bytes = bytesOf(v, 'raw');
        if (bytes.length > this.length) throw new ValueError(`byte string too long (${bytes.length} bytes for ${this.length})`);
        Uint8Array.prototype.set.call(this, bytes);
      },
      enumerable: false,
      configurable: true,
    },
  };
}

function wcharArrayAccessors(): PropertyDescriptorMap {
  return {
    value: {
      get(this: Uint32Array): string {
        return wcharString(this, nulIndex(this));
      },
      set(this: Uint32Array, v: unknown) {
        if (typeof v !== 'string') throw new TypeError(`value must be a string, got ${describeValue(v)}`);
        const units = wcharUnits(v);
        if (units.length > this.length) throw new ValueError(`string too long (${units.length} characters for ${this.length})`);
        (TYPES.u.ArrayType.prototype as Uint32Array).set.call(this, units);
        if (units.length < this.length) this[units.length] = 0;
      },
      enumerable: false,
      configurable: true,
    },
  };
}

const ARRAY_CLASSES = Object.fromEntries(TYPECODES.map((c) => [c, makeArrayClass(TYPES[c])])) as Record<
  Typecode,
  ArrayClassStatics
>;

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && x !== undefined && typeof (x as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

function isArrayLike(x: unknown): x is ArrayLike<unknown> {
  if (x === null || typeof x !== 'object') return false;
  const n = (x as { length?: unknown }).length;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}

/** The checked elements of `values` for `info`, ready for TypedArray.prototype.set. */
function elementsOf(info: TypeInfo, values: unknown, fn: string): ArrayLike<Scalar> {
  const kind = kindOf(info);
  const arg = `${fn}: sizeOrValues`;
  if (kind === K_CHAR) {
    if (typeof values === 'string') return Buffer.from(values, 'utf8');
    if (values instanceof Uint8Array || values instanceof Uint8ClampedArray) return values;
  } else if (kind === K_WCHAR) {
    if (typeof values === 'string') return wcharUnits(values);
  } else {
    if (typeof values === 'string') {
      throw new TypeError(`${arg} must be a size or an iterable of numbers for '${info.code}' (${info.ctype}), got a string`);
    }
    // The same element type cannot hold an out-of-range value: copy as is.
    if (values instanceof (info.ArrayType as unknown as AnyCtor)) return values as AnyTypedArray;
  }
  let list: unknown[];
  if (Array.isArray(values)) list = values;
  else if (isIterable(values)) list = Array.from(values as Iterable<unknown>);
  else if (isArrayLike(values)) {
    // Array.from would fail with a bare RangeError past 2**32-1 elements.
    if (values.length > 0xffffffff) throw new RangeError(`${arg} has length ${values.length}, more elements than an array can hold`);
    list = Array.from(values);
  }
  else {
    throw new TypeError(
      `${arg} must be a non-negative integer size or an iterable of values for '${info.code}' (${info.ctype}), got ${describeValue(values)}`,
    );
  }
  const out: Scalar[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) out[i] = coerceScalar(info, kind, list[i], `${arg}[${i}]`);
  return out;
}

function newArray(info: TypeInfo, sizeOrValues: unknown, lock: LockLike | null, fn: string): AnyTypedArray & SharedArrayExtras {
  let length: number;
  let values: ArrayLike<Scalar> | null = null;
  if (typeof sizeOrValues === 'number') {
    if (!Number.isInteger(sizeOrValues)) {
      throw new TypeError(`${fn}: sizeOrValues must be a non-negative integer size or an iterable of values, got ${describeValue(sizeOrValues)}`);
    }
    if (sizeOrValues < 0) throw new RangeError(`${fn}: size must be >= 0, got ${sizeOrValues}`);
    length = sizeOrValues;
  } else {
    values = elementsOf(info, sizeOrValues, fn);
    length = values.length;
  }
  if (length * info.size > Number.MAX_SAFE_INTEGER) throw new RangeError(`${fn}: size ${length} is too large`);
  const block = allocate(length * info.size, info.align);
  const arr = ARRAY_CLASSES[info.code]._create(block, length, lock);
  if (values !== null && length > 0) (arr as Float64Array).set(values as ArrayLike<number>);
  return arr;
}

/**
 * `Array(typecode, sizeOrValues, { lock? })` (exported as `Array`): a typed array over
 * shared memory, zero-filled for a size. Element access is not locked.
 */
export function SharedArray<T extends TypecodeOrCtype>(
  typecode: T,
  sizeOrValues: number | ArrayInit<NormalizeTypecode<T>>,
  options?: SharedOptions,
): SharedArrayOf<NormalizeTypecode<T>>;
export function SharedArray(typecode: unknown, sizeOrValues: unknown, options?: unknown): AnyTypedArray & SharedArrayExtras {
  const info = typeInfo(typecode, 'Array: typecode');
  if (sizeOrValues === undefined) {
    throw new TypeError('Array: sizeOrValues is required (a non-negative integer size or an iterable of values)');
  }
  return newArray(info, sizeOrValues, lockFrom(options, 'Array'), 'Array');
}

/** `RawArray(typecode, sizeOrValues)`: the same without a lock. */
export function RawArray<T extends TypecodeOrCtype>(
  typecode: T,
  sizeOrValues: number | ArrayInit<NormalizeTypecode<T>>,
): SharedArrayOf<NormalizeTypecode<T>>;
export function RawArray(typecode: unknown, sizeOrValues: unknown): AnyTypedArray & SharedArrayExtras {
  const info = typeInfo(typecode, 'RawArray: typecode');
  if (sizeOrValues === undefined) {
    throw new TypeError('RawArray: sizeOrValues is required (a non-negative integer size or an iterable of values)');
  }
  return newArray(info, sizeOrValues, null, 'RawArray');
}

/** The elements the block of a checked handle holds. */
const elementCount = (h: { t: Typecode; b: BlockHandle }): number => Math.floor(h.b.n / TYPES[h.t].size);

const ARRAY_SHAPE = {
  t: typecodeField,
  b: blockField(0),
  // The view: `n` elements from element `s`, inside the block.
  s: dependent((v, h: { t: Typecode; b: BlockHandle }) => integerIn(v, 0, elementCount(h))),
  n: dependent((v, h: { t: Typecode; b: BlockHandle; s: number }) => integerIn(v, 0, elementCount(h) - h.s)),
  lock: lockField,
};

registerReviver('Array', ARRAY_SHAPE, (h) => {
  const lock = lockFromHandle(h.lock);
  const cls = ARRAY_CLASSES[h.t];
  const total = elementCount(h);
  const root = cls._create(attachBlock(h.b), total, lock);
  return h.s === 0 && h.n === total ? root : cls._view(root, h.s, h.n, lock);
});
