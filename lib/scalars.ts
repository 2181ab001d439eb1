// One element of a shared C value or array (sharedctypes.ts, shared_array.ts): its kind,
// and the JS value a typecode's element is given or read as. Numbers are ctypes.ts's
// coerceNumber; 'c' (bytes) and 'u' (wchar_t: code points, or UTF-16 units on Windows)
// take characters too.
import { coerceNumber, describeValue, TYPES, type TypeInfo } from './ctypes.js';

// How a typecode's element is read and written: plain (floats), atomically (integers),
// as bytes ('c') or as characters ('u').
export const K_INT = 0;
export const K_FLOAT = 1;
export const K_CHAR = 2;
export const K_WCHAR = 3;

export function kindOf(info: TypeInfo): number {
  if (info.code === 'c') return K_CHAR;
  if (info.code === 'u') return K_WCHAR;
  return info.float ? K_FLOAT : K_INT;
}

export type Scalar = number | bigint;

export function coerceScalar(info: TypeInfo, kind: number, v: unknown, argName: string): Scalar {
  if (kind === K_CHAR) return charByte(v, argName);
  if (kind === K_WCHAR) return wcharUnit(v, argName);
  return coerceNumber(info, v, argName);
}

// ---------------------------------------------------------------------------------------
// Characters: 'c' (bytes) and 'u' (wchar_t)

const WCHAR_IS_UTF16 = TYPES.u.size === 2;

export function wcharUnits(s: string): number[] {
  const out: number[] = [];
  if (WCHAR_IS_UTF16) for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  else for (const ch of s) out.push(ch.codePointAt(0) as number);
  return out;
}

export function wcharString(units: ArrayLike<number>, end: number): string {
  if (WCHAR_IS_UTF16) {
    let s = '';
    for (let i = 0; i < end; i += 8192) s += String.fromCharCode(...Array.prototype.slice.call(units, i, Math.min(end, i + 8192)));
    return s;
  }
  let s = '';
  for (let i = 0; i < end; i++) {
    const cp = units[i];
    s += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
  }
  return s;
}

function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

/** One byte for 'c': an integer 0..255, a 1-byte Buffer/Uint8Array, or a 1-byte string. */
function charByte(v: unknown, argName: string): number {
  if (typeof v === 'number' || typeof v === 'bigint') return coerceNumber(TYPES.c, v, argName) as number;
  if (isBytes(v)) {
    if (v.length !== 1) throw new TypeError(`${argName} must be one byte for 'c' (char), got ${v.length} bytes`);
    return v[0];
  }
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    if (b.length !== 1) throw new TypeError(`${argName} must be a single byte for 'c' (char), got ${describeValue(v)} (${b.length} bytes in UTF-8)`);
    return b[0];
  }
  throw new TypeError(`${argName} must be a 1-byte Buffer, a 1-character ASCII string or an integer 0..255 for 'c' (char), got ${describeValue(v)}`);
}

/** One wchar_t for 'u': a 1-character string (or a code point number). */
function wcharUnit(v: unknown, argName: string): number {
  if (typeof v === 'string') {
    const units = wcharUnits(v);
    if (units.length !== 1) throw new TypeError(`${argName} must be a single character for 'u' (wchar_t), got ${describeValue(v)}`);
    return units[0];
  }
  if (typeof v === 'number' || typeof v === 'bigint') return coerceNumber(TYPES.u, v, argName) as number;
  throw new TypeError(`${argName} must be a 1-character string for 'u' (wchar_t), got ${describeValue(v)}`);
}

/** Bytes for a 'c' array's .value/.raw setters. */
export function bytesOf(v: unknown, argName: string): Uint8Array {
  if (isBytes(v)) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError(`${argName} must be a Buffer, a Uint8Array or a string, got ${describeValue(v)}`);
}
