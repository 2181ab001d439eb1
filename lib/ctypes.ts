// Typecodes of Python's `array` module / `multiprocessing.sharedctypes`, and the ctypes
// type names Python also accepts there, mapped to the JS typed array that views them.
//
// Sizes follow the C ABI of the platform this runs on: `wchar_t` is 4 bytes on Linux and
// macOS but 2 on Windows, and `long` is 8 bytes on LP64 (Linux, macOS) but 4 on Windows
// (LLP64). Alignment equals size for every kind here, as on every ABI Node supports.
import { className } from './validate.js';
import { ValueError } from './errors.js';

export type Typecode = 'c' | 'u' | 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'l' | 'L' | 'q' | 'Q' | 'f' | 'd';

/** ctypes names accepted in place of a typecode (Python accepts the ctypes types). */
export const CTYPE_NAMES = {
  c_char: 'c',
  c_wchar: 'u',
  c_byte: 'b',
  c_ubyte: 'B',
  c_short: 'h',
  c_ushort: 'H',
  c_int: 'i',
  c_uint: 'I',
  c_long: 'l',
  c_ulong: 'L',
  c_longlong: 'q',
  c_ulonglong: 'Q',
  c_float: 'f',
  c_double: 'd',
  c_int8: 'b',
  c_uint8: 'B',
  c_int16: 'h',
  c_uint16: 'H',
  c_int32: 'i',
  c_uint32: 'I',
  c_int64: 'q',
  c_uint64: 'Q',
  c_bool: 'B',
  c_size_t: 'Q',
  c_ssize_t: 'q',
} as const satisfies Record<string, Typecode>;

export type CtypeName = keyof typeof CTYPE_NAMES;
/** What Value/Array accept as their first argument. */
export type TypecodeOrCtype = Typecode | CtypeName;
/** The typecode a typecode or ctypes name stands for. */
export type NormalizeTypecode<T extends TypecodeOrCtype> = T extends CtypeName ? (typeof CTYPE_NAMES)[T] : T;

export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface TypedArrayConstructorLike {
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): AnyTypedArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

export interface TypeInfo {
  readonly code: Typecode;
  /** The C type, for messages. */
  readonly ctype: string;
  readonly ArrayType: TypedArrayConstructorLike;
  readonly size: number;
  readonly align: number;
  /** Elements are bigint (8-byte integers). */
  readonly bigint: boolean;
  /** Elements are floating point. */
  readonly float: boolean;
  /** Inclusive range; bigint for the 8-byte integer kinds, ±Infinity for floats. */
  readonly min: number | bigint;
  readonly max: number | bigint;
}

const WIN = process.platform === 'win32';

function int(code: Typecode, ctype: string, ArrayType: TypedArrayConstructorLike, signed: boolean): TypeInfo {
  const size = ArrayType.BYTES_PER_ELEMENT;
  const bits = size * 8;
  if (size === 8) {
    const min = signed ? -(1n << 63n) : 0n;
    const max = signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
    return { code, ctype, ArrayType, size, align: size, bigint: true, float: false, min, max };
  }
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return { code, ctype, ArrayType, size, align: size, bigint: false, float: false, min, max };
}

function flt(code: Typecode, ctype: string, ArrayType: TypedArrayConstructorLike): TypeInfo {
  const size = ArrayType.BYTES_PER_ELEMENT;
  return { code, ctype, ArrayType, size, align: size, bigint: false, float: true, min: -Infinity, max: Infinity };
}

export const TYPES: Readonly<Record<Typecode, TypeInfo>> = Object.freeze({
  c: int('c', 'char', Uint8Array, false),
  u: int('u', 'wchar_t', WIN ? Uint16Array : Uint32Array, false),
  b: int('b', 'signed char', Int8Array, true),
  B: int('B', 'unsigned char', Uint8Array, false),
  h: int('h', 'short', Int16Array, true),
  H: int('H', 'unsigned short', Uint16Array, false),
  i: int('i', 'int', Int32Array, true),
  I: int('I', 'unsigned int', Uint32Array, false),
  l: int('l', 'long', WIN ? Int32Array : BigInt64Array, true),
  L: int('L', 'unsigned long', WIN ? Uint32Array : BigUint64Array, false),
  q: int('q', 'long long', BigInt64Array, true),
  Q: int('Q', 'unsigned long long', BigUint64Array, false),
  f: flt('f', 'float', Float32Array),
  d: flt('d', 'double', Float64Array),
});

export const TYPECODES = Object.keys(TYPES) as Typecode[];

/**
 * The TypeInfo for a typecode or ctypes name. Not a string: TypeError naming `argName`;
 * an unknown string: ValueError listing the valid typecodes.
 */
export function typeInfo(typecode: unknown, argName = 'typecode'): TypeInfo {
  if (typeof typecode !== 'string') {
    const got = typecode === null ? 'null' : typeof typecode;
    throw new TypeError(`${argName} must be a typecode string such as 'd' or 'i' (or a ctypes name such as 'c_int'), got ${got}`);
  }
  if (Object.hasOwn(TYPES, typecode)) return TYPES[typecode as Typecode];
  if (Object.hasOwn(CTYPE_NAMES, typecode)) return TYPES[CTYPE_NAMES[typecode as CtypeName]];
  throw new ValueError(
    `${argName} must be one of ${TYPECODES.map((c) => `'${c}'`).join(', ')} (or a ctypes name such as 'c_int', 'c_double'), got ${JSON.stringify(typecode.slice(0, 40))}`,
  );
}

function show(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${className(value as object)})`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  return `${typeof value} ${String(value)}`;
}

/**
 * Check one numeric element for `info` and return what the typed array stores: a number,
 * or a bigint for the 8-byte kinds. Wrong type: TypeError; out of range: RangeError.
 * Never wraps or truncates silently (a float for an integer kind is a TypeError, as in
 * Python; a finite double too large for a float32 is a RangeError rather than Infinity).
 */
export function coerceNumber(info: TypeInfo, value: unknown, argName: string): number | bigint {
  if (info.float) {
    if (typeof value === 'number') {
      if (info.size === 4 && Number.isFinite(value) && !Number.isFinite(Math.fround(value))) {
        throw new RangeError(`${argName} ${show(value)} is out of range for '${info.code}' (${info.ctype})`);
      }
      return value;
    }
    if (typeof value === 'bigint') {
      const n = Number(value);
      if (!Number.isFinite(n)) {
        throw new RangeError(`${argName} ${show(value)} is out of range for '${info.code}' (${info.ctype})`);
      }
      return coerceNumber(info, n, argName);
    }
    throw new TypeError(`${argName} must be a number for '${info.code}' (${info.ctype}), got ${show(value)}`);
  }
  if (info.bigint) {
    let v: bigint;
    if (typeof value === 'bigint') v = value;
    else if (typeof value === 'number') {
      if (!Number.isInteger(value)) {
        throw new TypeError(`${argName} must be an integer (bigint) for '${info.code}' (${info.ctype}), got ${show(value)}`);
      }
      if (!Number.isSafeInteger(value)) {
        throw new TypeError(
          `${argName} ${show(value)} is not a safe integer; pass a bigint for '${info.code}' (${info.ctype}) to keep every digit`,
        );
      }
      v = BigInt(value);
    } else {
      throw new TypeError(`${argName} must be a bigint for '${info.code}' (${info.ctype}), got ${show(value)}`);
    }
    if (v < (info.min as bigint) || v > (info.max as bigint)) {
      throw new RangeError(`${argName} ${v}n is out of range for '${info.code}' (${info.ctype}): ${info.min} .. ${info.max}`);
    }
    return v;
  }
  let n: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) {
      throw new TypeError(`${argName} must be an integer for '${info.code}' (${info.ctype}), got ${show(value)}`);
    }
    n = value;
  } else if (typeof value === 'bigint') {
    if (value < BigInt(info.min as number) || value > BigInt(info.max as number)) {
      throw new RangeError(`${argName} ${value}n is out of range for '${info.code}' (${info.ctype}): ${info.min} .. ${info.max}`);
    }
    return Number(value);
  } else {
    throw new TypeError(`${argName} must be an integer for '${info.code}' (${info.ctype}), got ${show(value)}`);
  }
  if (n < (info.min as number) || n > (info.max as number)) {
    throw new RangeError(`${argName} ${show(n)} is out of range for '${info.code}' (${info.ctype}): ${info.min} .. ${info.max}`);
  }
  // -0 stored in an integer array is 0; no information is lost.
  return n === 0 ? 0 : n;
}

export { show as describeValue };
