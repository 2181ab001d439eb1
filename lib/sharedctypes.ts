// Value and RawValue (Python's multiprocessing.sharedctypes), on blocks of the shared heap
// (heap.ts), and the `lock:` option that Value and Array share. Array and RawArray are in
// shared_array.ts.
//
// A Value is a small object over a one-element view. Its `.value` is one atomic access:
// Atomics.load/store for every integer kind (BigInt64 included). Float32/Float64 are read
// and written plainly: an aligned 4- or 8-byte load or store is a single instruction on
// x64 and arm64 and cannot tear (blocks are 16-byte aligned), and Atomics does not take
// float arrays.
//
// Element access on an Array is not locked (as API.md says); the lock of a Value or Array
// is for compound updates: `using _ = v.getLock().hold(); v.value += 1`.
import { inspect } from 'node:util';
import {
  type AnyTypedArray,
  describeValue,
  type NormalizeTypecode,
  type TypeInfo,
  type Typecode,
  type TypecodeOrCtype,
  TYPECODES,
  TYPES,
  typeInfo,
} from './ctypes.js';
import { ValueError } from './errors.js';
import { type Field, dependent, oneOf, orNull } from './handle_shape.js';
import { allocate, attachBlock, type Block, type BlockHandle, blockField, blockHandle, trackOwner } from './heap.js';
import { type CheckedHandle, HANDLE_KIND, handleOf, isShareable, nestedHandle, registerReviver, reviveChecked, type SharedHandle, toHandle } from './reduction.js';
import { coerceScalar, K_CHAR, K_FLOAT, K_INT, kindOf, type Scalar, wcharString } from './scalars.js';
import { Lock, RLock } from './synchronize.js';

// ---------------------------------------------------------------------------------------
// Locks

/** What `lock:` accepts besides true/false: a Lock or an RLock (anything lock-shaped). */
export type LockLike = Lock | RLock;

export interface SharedOptions {
  /** true (default): a new RLock; false: no lock (a raw object); or the lock to use. */
  lock?: boolean | LockLike;
}

function isLockLike(x: unknown): x is LockLike {
  if (x instanceof Lock || x instanceof RLock) return true;
  return (
    x !== null &&
    typeof x === 'object' &&
    typeof (x as { acquire?: unknown }).acquire === 'function' &&
    typeof (x as { release?: unknown }).release === 'function'
  );
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** The lock an options object asks for: a lock, or null for lock: false. */
export function lockFrom(options: unknown, fn: string): LockLike | null {
  if (options === undefined || options === null) return new RLock();
  if (!isPlainObject(options)) {
    throw new TypeError(`${fn}: options must be an object such as { lock: false }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'lock') throw new TypeError(`${fn}: unknown option '${key}' (the only option is 'lock')`);
  }
  const lock = options.lock;
  if (lock === undefined || lock === true) return new RLock();
  if (lock === false) return null;
  if (isLockLike(lock)) return lock;
  throw new TypeError(`${fn}: options.lock must be true, false, a Lock or an RLock, got ${describeValue(lock)}`);
}

export function noLock(what: string): never {
  throw new ValueError(`this ${what} has no lock: it was made with lock: false (or as a Raw${what}), so getLock() is not available`);
}

export function lockHandle(lock: LockLike | null, what: string): SharedHandle | null {
  if (lock === null) return null;
  if (!isShareable(lock)) {
    throw new TypeError(`this ${what}'s lock cannot be sent to another process: use a multiprocessing Lock or RLock`);
  }
  return handleOf(lock);
}

// The fields that Value, RawValue and Array handles share.
/** `t`: the typecode. */
export const typecodeField: Field<Typecode> = oneOf(TYPECODES);
/** `lock`: the lock's handle, or null (lock: false). */
export const lockField = orNull(nestedHandle('Lock', 'RLock'));

/** The lock a checked `lock` field names, revived. */
export function lockFromHandle(h: CheckedHandle | null): LockLike | null {
  return h === null ? null : (reviveChecked(h) as LockLike);
}

// ---------------------------------------------------------------------------------------
// Values

/** What `.value` holds for a typecode. */
export type ValueOf<T extends Typecode> = T extends 'c'
  ? Buffer
  : T extends 'u'
    ? string
    : T extends 'q' | 'Q' | 'l' | 'L'
      ? bigint
      : number;
/** What a Value accepts: `.value`'s type, plus safe-integer numbers for bigint kinds. */
export type ValueInit<T extends Typecode> = T extends 'c'
  ? Uint8Array | string | number
  : T extends 'q' | 'Q' | 'l' | 'L'
    ? bigint | number
    : ValueOf<T>;


/** A shared C value without a lock (Python's RawValue, or Value(..., lock=False)). */
export class RawSharedValue<T extends Typecode = Typecode> {
  readonly #info: TypeInfo;
  readonly #kind: number;
  readonly #view: AnyTypedArray;
  readonly #block: Block;

  /** @internal use Value()/RawValue(); `initial` is already checked */
  constructor(info: TypeInfo, block: Block, initial?: Scalar) {
    this.#info = info;
    this.#kind = kindOf(info);
    this.#block = block;
    this.#view = new info.ArrayType(block.buffer, block.byteOffset, 1);
    if (initial !== undefined) this.#view[0] = initial as never;
    trackOwner(this, block);
  }

  /** One atomic read (see the file header). */
  get value(): ValueOf<T> {
    const view = this.#view;
    switch (this.#kind) {
      case K_FLOAT:
        return view[0] as ValueOf<T>;
      case K_INT:
        return Atomics.load(view as Int32Array, 0) as ValueOf<T>;
      case K_CHAR:
        return Buffer.from([Atomics.load(view as Uint8Array, 0)]) as ValueOf<T>;
      default:
        return wcharString([Atomics.load(view as Uint32Array, 0)], 1) as ValueOf<T>;
    }
  }

  /** One atomic write; out-of-range values are a RangeError, wrong types a TypeError. */
  set value(v: ValueInit<T>) {
    const x = coerceScalar(this.#info, this.#kind, v, 'value');
    if (this.#kind === K_FLOAT) this.#view[0] = x as number;
    else Atomics.store(this.#view as Int32Array, 0, x as number);
  }

  get typecode(): T {
    return this.#info.code as T;
  }

  /** The raw object itself. */
  getObj(): RawSharedValue<T> {
    return this;
  }

  getLock(): never {
    return noLock('Value');
  }

  [toHandle](): SharedHandle {
    return { [HANDLE_KIND]: 'RawValue', t: this.#info.code, b: blockHandle(this.#block) };
  }

  /** @internal */
  static _handle(v: RawSharedValue, kind: string, lock: SharedHandle | null): SharedHandle {
    return { [HANDLE_KIND]: kind, t: v.#info.code, b: blockHandle(v.#block), lock };
  }

  toString(): string {
    return `c_${ctypeName(this.#info)}(${reprScalar(this.value)})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function ctypeName(info: TypeInfo): string {
  const names: Record<Typecode, string> = {
    c: 'char', u: 'wchar', b: 'byte', B: 'ubyte', h: 'short', H: 'ushort', i: 'int', I: 'uint',
    l: 'long', L: 'ulong', q: 'longlong', Q: 'ulonglong', f: 'float', d: 'double',
  };
  return names[info.code];
}

function reprScalar(v: unknown): string {
  if (Buffer.isBuffer(v)) return `b${JSON.stringify(v.toString('latin1'))}`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/** A shared C value with a lock (Python's Synchronized wrapper). */
export class Synchronized<T extends Typecode = Typecode> {
  readonly #obj: RawSharedValue<T>;
  readonly #lock: LockLike;

  /** @internal use Value() */
  constructor(obj: RawSharedValue<T>, lock: LockLike) {
    this.#obj = obj;
    this.#lock = lock;
  }

  /** One atomic read; not locked (use getLock() for read-modify-write). */
  get value(): ValueOf<T> {
    return this.#obj.value;
  }

  set value(v: ValueInit<T>) {
    this.#obj.value = v;
  }

  get typecode(): T {
    return this.#obj.typecode;
  }

  getLock(): LockLike {
    return this.#lock;
  }

  /** The raw value underneath (Python's get_obj()). */
  getObj(): RawSharedValue<T> {
    return this.#obj;
  }

  [toHandle](): SharedHandle {
    return RawSharedValue._handle(this.#obj, 'Value', lockHandle(this.#lock, 'Value'));
  }

  toString(): string {
    return `<Synchronized wrapper for ${this.#obj.toString()}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function newRawValue(info: TypeInfo, initial: unknown, fn: string): RawSharedValue {
  const kind = kindOf(info);
  const x = initial === undefined ? undefined : coerceScalar(info, kind, initial, `${fn}: initial value`);
  return new RawSharedValue(info, allocate(info.size, info.align), x);
}

/**
 * `Value(typecode, initial?, { lock? })`: a C value in shared memory. With the default
 * lock (true) or a given Lock/RLock it is a Synchronized wrapper; with `lock: false` the
 * raw value. `Value('i', { lock: false })` also works (a plain object is never a value).
 */
export function Value<T extends TypecodeOrCtype>(
  typecode: T,
  initial: ValueInit<NormalizeTypecode<T>> | undefined,
  options: SharedOptions & { lock: false },
): RawSharedValue<NormalizeTypecode<T>>;
export function Value<T extends TypecodeOrCtype>(typecode: T, options: SharedOptions & { lock: false }): RawSharedValue<NormalizeTypecode<T>>;
export function Value<T extends TypecodeOrCtype>(
  typecode: T,
  initial?: ValueInit<NormalizeTypecode<T>> | SharedOptions,
  options?: SharedOptions,
): Synchronized<NormalizeTypecode<T>>;
export function Value(typecode: unknown, initial?: unknown, options?: unknown): Synchronized | RawSharedValue {
  if (options === undefined && isPlainObject(initial)) {
    options = initial;
    initial = undefined;
  }
  const info = typeInfo(typecode, 'Value: typecode');
  const lock = lockFrom(options, 'Value');
  const obj = newRawValue(info, initial, 'Value');
  return lock === null ? obj : new Synchronized(obj, lock);
}

/** `RawValue(typecode, initial?)`: a C value in shared memory, without a lock. */
export function RawValue<T extends TypecodeOrCtype>(
  typecode: T,
  initial?: ValueInit<NormalizeTypecode<T>>,
): RawSharedValue<NormalizeTypecode<T>>;
export function RawValue(typecode: unknown, initial?: unknown): RawSharedValue {
  return newRawValue(typeInfo(typecode, 'RawValue: typecode'), initial, 'RawValue');
}

/** A value's block: big enough for one element of its typecode. */
const VALUE_BLOCKS = Object.fromEntries(TYPECODES.map((t) => [t, blockField(TYPES[t].size)])) as Record<Typecode, Field<BlockHandle>>;
const RAW_VALUE_SHAPE = { t: typecodeField, b: dependent((v, h: { t: Typecode }) => VALUE_BLOCKS[h.t](v)) };

function reviveValue(t: Typecode, b: BlockHandle, lockOf: CheckedHandle | null): RawSharedValue | Synchronized {
  const lock = lockFromHandle(lockOf);
  const obj = new RawSharedValue(TYPES[t], attachBlock(b));
  return lock === null ? obj : new Synchronized(obj, lock);
}

registerReviver('Value', { ...RAW_VALUE_SHAPE, lock: lockField }, (h) => reviveValue(h.t, h.b, h.lock));
registerReviver('RawValue', RAW_VALUE_SHAPE, (h) => reviveValue(h.t, h.b, null));
