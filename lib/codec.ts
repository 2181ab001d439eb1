// The message codec of queues and pipes. Serialization is their main cost: v8.serialize
// plus deserialize of [i, "abc"] takes about 3 us here (a new serializer and Buffer per
// call), this codec about 0.15 us. It covers the shapes messages usually have: numbers,
// strings, booleans, null, undefined, dense arrays, plain objects, typed arrays and
// Buffers, as trees. Anything else (a Map, a Date, a BigInt, a shared object, a cycle or
// an object referenced twice, a class instance) makes the whole message go through
// reduction.dumps (structured clone with shared handles), so the round trip is what
// structured clone would give, with one exception: named (non-index) properties of an
// array, such as a RegExp match's `index`, are not carried. Finding them costs an
// Object.keys per array (80 ns for [i, "abc"], half of this codec's whole cost), and such
// arrays are rare in messages; wrap them in an object, or send a Map, to keep them.
//
// Wire form: the first byte is FORMAT_FAST or FORMAT_V8; then tagged values (below), or
// the v8 bytes. Numbers are little-endian.
import { ValueError } from './errors.js';
import { dumps, fromWire } from './reduction.js';
import { deserialize as v8Deserialize } from 'node:v8';

export const FORMAT_FAST = 1;
export const FORMAT_V8 = 2;

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_INT32 = 4;
const T_FLOAT64 = 5;
const T_LATIN1 = 6; // u8 length, then one byte per char (short strings, chars < 256)
const T_UTF8 = 7; // u32 byte length, then UTF-8 (well-formed strings)
const T_UTF16 = 8; // u32 char count, then UTF-16LE (strings with lone surrogates)
const T_ARRAY = 9; // u32 length, then the elements
const T_OBJECT = 10; // u32 key count, then key (a string value), value, ...
const T_TYPED = 11; // u8 kind, u32 byte length, then the bytes
const T_INT32_ARRAY = 12; // u32 length, then int32 elements: an array of small integers
const T_FLOAT64_ARRAY = 13; // u32 length, then float64 elements: an array of numbers

/** Arrays of numbers at least this long are written packed (no tag per element). */
const PACKED_MIN = 8;

/** Arrays up to this long are written without a first look (the scratch may grow for nothing). */
const PACKED_UNCHECKED = 1 << 16;

/** Strings up to this length are written char by char (faster than a native call). */
const SHORT_STRING = 32;
/** Containers per message before the fast path gives up (identity checks are linear). */
const MAX_CONTAINERS = 64;
const MAX_DEPTH = 64;

type TypedCtor = { new (buffer: ArrayBuffer, byteOffset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT: number };

interface TypedKind {
  proto: object;
  bytesPerElement: number;
  /** A view of `length` elements over the whole of `buffer`. */
  make(buffer: ArrayBuffer, length: number): ArrayBufferView;
}

function kind(ctor: TypedCtor): TypedKind {
  return { proto: ctor.prototype, bytesPerElement: ctor.BYTES_PER_ELEMENT, make: (b, n) => new ctor(b, 0, n) };
}

/** Exact classes carried as raw bytes (subclasses, such as mp.Array, are not). */
const TYPED: readonly TypedKind[] = [
  // Buffer.from over the ArrayBuffer (`new Buffer` is deprecated).
  { proto: Buffer.prototype, bytesPerElement: 1, make: (b, n) => Buffer.from(b, 0, n) },
  kind(Uint8Array),
  kind(Int8Array),
  kind(Uint8ClampedArray),
  kind(Int16Array),
  kind(Uint16Array),
  kind(Int32Array),
  kind(Uint32Array),
  kind(Float32Array),
  kind(Float64Array),
  kind(BigInt64Array),
  kind(BigUint64Array),
];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const INT32_KIND = TYPED.findIndex((k) => k.proto === Int32Array.prototype);
const FLOAT64_KIND = TYPED.findIndex((k) => k.proto === Float64Array.prototype);

function typedKind(v: object): number {
  const proto: unknown = Object.getPrototypeOf(v);
  for (let k = 0; k < TYPED.length; k++) if (TYPED[k]!.proto === proto) return k;
  return -1;
}

/**
 * A range of an array, sent as an array of its own without copying it first (a pool's
 * chunks). Only as an element of a message's top-level array. A range of at least
 * PACKED_MIN numbers arrives as an Int32Array (all int32, no -0) or a Float64Array (on a
 * little-endian host), whose bytes the reader copies in one go: a pool worker reads its
 * items by index only.
 */
export class ArraySlice {
  constructor(
    readonly array: readonly unknown[],
    readonly start: number,
    readonly end: number,
  ) {}
}

/** The message with its ArraySlices made real arrays (for the structured-clone path). */
function materialize(value: unknown): unknown {
  // Only a pool's chunk list holds slices, and it is short: a long array is left alone.
  if (!Array.isArray(value) || value.length > 65536 || !value.some((e) => e instanceof ArraySlice)) return value;
  return value.map((e) => (e instanceof ArraySlice ? e.array.slice(e.start, e.end) : e));
}

// The loops over packed number arrays are small functions of their own, given their
// buffers as arguments: V8 compiles a small function in a few ms even with every CPU
// busy, where the loop inlined in Encoder/Decoder methods waited 15-60 ms for its
// optimized code (the whole method compiled, twice: once for the loop, once for the
// call), and the first maps of a pool ran in the interpreter meanwhile.

/**
 * a[start, end) as int32s at `dv[p]`, while they are int32s (not -0): the index of the
 * first element that is not one (`end` when all are).
 */
function writeInt32s(a: readonly unknown[], start: number, end: number, dv: DataView, p: number): number {
  for (let k = start; k < end; k++, p += 4) {
    const e = a[k];
    if (typeof e !== 'number' || (e | 0) !== e || (e === 0 && 1 / e < 0)) return k;
    dv.setInt32(p, e, true);
  }
  return end;
}

/** a[start, end) as float64s at `dv[p]`, while they are numbers: as writeInt32s. */
function writeFloat64s(a: readonly unknown[], start: number, end: number, dv: DataView, p: number): number {
  for (let k = start; k < end; k++, p += 8) {
    const e = a[k];
    if (typeof e !== 'number') return k;
    dv.setFloat64(p, e, true);
  }
  return end;
}

function firstNonNumber(a: readonly unknown[], start: number, end: number): number {
  for (let k = start; k < end; k++) if (typeof a[k] !== 'number') return k;
  return end;
}

function readInt32s(dv: DataView, p: number, n: number): number[] {
  const a = new Array<number>(n);
  for (let k = 0; k < n; k++, p += 4) a[k] = dv.getInt32(p, true);
  return a;
}

function readFloat64s(dv: DataView, p: number, n: number): number[] {
  const a = new Array<number>(n);
  for (let k = 0; k < n; k++, p += 8) a[k] = dv.getFloat64(p, true);
  return a;
}

/** Thrown (as this one object) when a value is not for the fast path. */
const BAIL = Symbol('bail');

/**
 * Writes one message into a growing scratch buffer. Reused: `encode` returns a view of
 * the scratch that is valid until the next `encode`.
 */
export class Encoder {
  private buf = new Uint8Array(4096);
  private dv = new DataView(this.buf.buffer);
  private pos = 0;
  private containers: object[] = [];

  /** The message's bytes (a view of the scratch, valid until the next call). */
  encode(value: unknown): Uint8Array {
    const n = this.encodeLength(value); // first: it may replace the scratch
    return this.buf.subarray(0, n);
  }

  /** The scratch that encodeLength wrote to (valid until the next call). */
  get bytes(): Uint8Array {
    return this.buf;
  }

  /** Encode into the scratch (`bytes`) and return the length: no view to allocate. */
  encodeLength(value: unknown): number {
    this.pos = 0;
    this.containers.length = 0;
    try {
      this.u8(FORMAT_FAST);
      this.value(value, 0);
    } catch (err) {
      if (err !== BAIL) throw err;
      const bytes = dumps(materialize(value));
      this.pos = 0;
      this.ensure(bytes.length + 1);
      this.buf[0] = FORMAT_V8;
      this.buf.set(bytes, 1);
      this.pos = bytes.length + 1;
    }
    return this.pos;
  }

  /** Give a scratch that a huge message grew back to the allocator. */
  shrink(): void {
    if (this.buf.length > 1 << 20) {
      this.buf = new Uint8Array(4096);
      this.dv = new DataView(this.buf.buffer);
    }
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // Doubling, but a single huge value gets exactly its size (a 1 GiB Buffer: 1 GiB).
    const size = Math.max(this.buf.length * 2, this.pos + n);
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  private u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  private u32(n: number): void {
    this.ensure(4);
    this.dv.setUint32(this.pos, n, true);
    this.pos += 4;
  }

  private value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'number':
        // -0 is not an int32 (it would come back as 0).
        if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
          this.ensure(5);
          this.buf[this.pos] = T_INT32;
          this.dv.setInt32(this.pos + 1, v, true);
          this.pos += 5;
        } else {
          this.ensure(9);
          this.buf[this.pos] = T_FLOAT64;
          this.dv.setFloat64(this.pos + 1, v, true);
          this.pos += 9;
        }
        return;
      case 'string':
        this.string(v);
        return;
      case 'boolean':
        this.u8(v ? T_TRUE : T_FALSE);
        return;
      case 'undefined':
        this.u8(T_UNDEFINED);
        return;
      case 'object':
        if (v === null) this.u8(T_NULL);
        else this.object(v, depth);
        return;
      default:
        throw BAIL; // bigint, symbol (v8 throws the right error), function
    }
  }

  /** a[start, end) as an array (numbers as a typed array if `typed`: see ArraySlice). */
  private array(a: readonly unknown[], start: number, end: number, depth: number, typed: boolean): void {
    const n = end - start;
    // A typed array's bytes are in the host's order (they are written little-endian), and
    // its byte length must fit the u32 of T_TYPED.
    if (n >= PACKED_MIN && this.packed(a, start, end, typed && LITTLE_ENDIAN && n < 2 ** 29)) return;
    this.u8(T_ARRAY);
    this.u32(n);
    for (let k = start; k < end; k++) {
      const e: unknown = a[k];
      if (e === undefined && !(k in a)) throw BAIL; // a hole
      this.value(e, depth + 1);
    }
  }

  /**
   * a[start, end), all numbers (no holes), as one packed run (T_INT32_ARRAY or
   * T_FLOAT64_ARRAY; with `typed`, a T_TYPED Int32Array or Float64Array); false if it is
   * not one.
   */
  private packed(a: readonly unknown[], start: number, end: number, typed: boolean): boolean {
    const n = end - start;
    const head = typed ? 6 : 5;
    // A long array is seen to be numbers before the scratch grows for it (a holey one of
    // length 2 ** 32 - 1 must not ask for 16 GiB).
    if (n > PACKED_UNCHECKED && this.pos + head + n * 4 > this.buf.length && firstNonNumber(a, start, end) < end) return false;
    // One pass for the common case (all int32), a second as float64 if one is not.
    this.ensure(head + n * 4);
    let stop = writeInt32s(a, start, end, this.dv, this.pos + head);
    let width = 4;
    if (stop < end) {
      if (typeof a[stop] !== 'number') return false;
      this.ensure(head + n * 8);
      stop = writeFloat64s(a, start, end, this.dv, this.pos + head);
      if (stop < end) return false;
      width = 8;
    }
    const p = this.pos;
    if (typed) {
      this.buf[p] = T_TYPED;
      this.buf[p + 1] = width === 4 ? INT32_KIND : FLOAT64_KIND;
      this.dv.setUint32(p + 2, n * width, true);
    } else {
      this.buf[p] = width === 4 ? T_INT32_ARRAY : T_FLOAT64_ARRAY;
      this.dv.setUint32(p + 1, n, true);
    }
    this.pos = p + head + n * width;
    return true;
  }

  private string(s: string): void {
    const n = s.length;
    if (n <= SHORT_STRING) {
      this.ensure(2 + n);
      const buf = this.buf;
      const start = this.pos;
      let k = 0;
      for (; k < n; k++) {
        const c = s.charCodeAt(k);
        if (c > 0xff) break;
        buf[start + 2 + k] = c;
      }
      if (k === n) {
        buf[start] = T_LATIN1;
        buf[start + 1] = n;
        this.pos = start + 2 + n;
        return;
      }
    }
    if ((s as string & { isWellFormed(): boolean }).isWellFormed()) {
      const max = n * 3;
      this.ensure(5 + max);
      this.buf[this.pos] = T_UTF8;
      const written = Buffer.prototype.utf8Write.call(this.buf, s, this.pos + 5, max) as number;
      this.dv.setUint32(this.pos + 1, written, true);
      this.pos += 5 + written;
    } else {
      this.ensure(5 + n * 2);
      this.buf[this.pos] = T_UTF16;
      this.dv.setUint32(this.pos + 1, n, true);
      Buffer.prototype.ucs2Write.call(this.buf, s, this.pos + 5, n * 2);
      this.pos += 5 + n * 2;
    }
  }

  private object(v: object, depth: number): void {
    if (depth >= MAX_DEPTH) throw BAIL;
    // Structured clone keeps identity (two references stay one object) and cycles; this
    // format does not, so a container seen twice sends the message the v8 way.
    const containers = this.containers;
    if (containers.length >= MAX_CONTAINERS || containers.includes(v)) throw BAIL;
    containers.push(v);
    if (v instanceof ArraySlice) {
      this.array(v.array, v.start, v.end, depth, true);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      const kind = typedKind(v);
      if (kind < 0) throw BAIL;
      const len = v.byteLength;
      this.ensure(6 + len);
      this.buf[this.pos] = T_TYPED;
      this.buf[this.pos + 1] = kind;
      this.dv.setUint32(this.pos + 2, len, true);
      this.buf.set(new Uint8Array(v.buffer, v.byteOffset, len), this.pos + 6);
      this.pos += 6 + len;
      return;
    }
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) throw BAIL; // a subclass
      this.array(v, 0, v.length, depth, false);
      return;
    }
    if (Object.getPrototypeOf(v) !== Object.prototype) throw BAIL;
    const keys = Object.keys(v);
    this.u8(T_OBJECT);
    this.u32(keys.length);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      this.string(key);
      this.value((v as Record<string, unknown>)[key], depth + 1);
    }
  }
}

/** Reads one message written by Encoder. */
export class Decoder {
  private buf: Uint8Array = new Uint8Array(0);
  private dv: DataView = new DataView(this.buf.buffer);
  private pos = 0;
  /** Whether the last decoded message is in wire form (its handles not yet revived). */
  wire = false;

  /**
   * The value in `bytes[start, end)`. A v8-format message comes back in wire form (and
   * `wire` is set): its shared handles are revived later, by `revive`, once the record is
   * consumed, so that a record read twice (its reader died) adopts them once.
   */
  decode(bytes: Uint8Array, start: number, end: number): unknown {
    if (bytes[start] === FORMAT_V8) {
      this.wire = true;
      // A copy: v8 makes typed arrays views of its input, and the input is a ring in
      // shared memory that later messages overwrite.
      const copy = Buffer.from(bytes.subarray(start + 1, end));
      try {
        return v8Deserialize(copy);
      } catch (err) {
        throw new ValueError(`corrupt message: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      }
    }
    this.wire = false;
    if (bytes[start] !== FORMAT_FAST) throw new ValueError(`corrupt message: unknown format ${bytes[start]}`);
    if (this.buf !== bytes) {
      this.buf = bytes;
      this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    this.pos = start + 1;
    const value = this.value(end, 0);
    if (this.pos !== end) throw new ValueError('corrupt message: trailing bytes');
    return value;
  }

  private need(n: number, end: number): void {
    if (this.pos + n > end) throw new ValueError('corrupt message: truncated');
  }

  private value(end: number, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new ValueError('corrupt message: nested too deep');
    this.need(1, end);
    const tag = this.buf[this.pos++];
    switch (tag) {
      case T_INT32: {
        this.need(4, end);
        const v = this.dv.getInt32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case T_LATIN1: {
        this.need(1, end);
        const n = this.buf[this.pos++]!;
        this.need(n, end);
        const buf = this.buf;
        const p = this.pos;
        let s = '';
        for (let k = 0; k < n; k++) s += String.fromCharCode(buf[p + k]!);
        this.pos = p + n;
        return s;
      }
      case T_FLOAT64: {
        this.need(8, end);
        const v = this.dv.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case T_ARRAY: {
        const n = this.u32(end);
        // Each element takes at least one byte: a bad length cannot allocate much.
        this.need(n, end);
        const a = new Array(n);
        for (let k = 0; k < n; k++) a[k] = this.value(end, depth + 1);
        return a;
      }
      case T_INT32_ARRAY:
      case T_FLOAT64_ARRAY: {
        const n = this.u32(end);
        const width = tag === T_INT32_ARRAY ? 4 : 8;
        this.need(n * width, end);
        const a = width === 4 ? readInt32s(this.dv, this.pos, n) : readFloat64s(this.dv, this.pos, n);
        this.pos += n * width;
        return a;
      }
      case T_OBJECT: {
        const n = this.u32(end);
        this.need(n * 2, end);
        const o: Record<string, unknown> = {};
        for (let k = 0; k < n; k++) {
          const key = this.value(end, depth + 1);
          if (typeof key !== 'string') throw new ValueError('corrupt message: object key is not a string');
          const v = this.value(end, depth + 1);
          if (key === '__proto__') Object.defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true });
          else o[key] = v;
        }
        return o;
      }
      case T_UTF8: {
        const n = this.u32(end);
        this.need(n, end);
        const s = Buffer.prototype.utf8Slice.call(this.buf, this.pos, this.pos + n) as string;
        this.pos += n;
        return s;
      }
      case T_UTF16: {
        const n = this.u32(end);
        this.need(n * 2, end);
        const s = Buffer.prototype.ucs2Slice.call(this.buf, this.pos, this.pos + n * 2) as string;
        this.pos += n * 2;
        return s;
      }
      case T_TYPED: {
        this.need(1, end);
        const kind = this.buf[this.pos++]!;
        const len = this.u32(end);
        this.need(len, end);
        const entry = TYPED[kind];
        if (entry === undefined || len % entry.bytesPerElement !== 0) throw new ValueError('corrupt message: bad typed array');
        // A fresh, aligned copy the receiver owns (Uint8Array's slice: a Buffer's is a view).
        const copy = Uint8Array.prototype.slice.call(this.buf, this.pos, this.pos + len);
        this.pos += len;
        return entry.make(copy.buffer, len / entry.bytesPerElement);
      }
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      default:
        throw new ValueError(`corrupt message: unknown tag ${tag}`);
    }
  }

  private u32(end: number): number {
    this.need(4, end);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
}

/** Finish a decoded message once its record is consumed: revive its shared handles. */
export function revive(value: unknown, wire: boolean): unknown {
  return wire ? fromWire(value) : value;
}
