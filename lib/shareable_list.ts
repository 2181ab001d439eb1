// ShareableList, as Python's multiprocessing.shared_memory (3.12), in a SharedMemory
// segment (shared_memory.ts). It lays its items out byte for byte as CPython 3.11/3.12
// does (struct formats, offsets, back-transform codes, native byte order), so a Python
// process and a Node process can share one list by name.
//
// Decisions where Python's behaviour does not translate one to one (the segment's own,
// on OS errors and tracking, are SharedMemory's: see shared_memory.ts):
// - Bad values are ValueError (a str too long for its slot, index() of a missing value);
//   wrong types are TypeError naming the argument; an index out of range is a RangeError
//   (Python's IndexError).
// - A JS number that is an integer within int64 is stored as an int ('q'), any other
//   number as a float ('d'), a bigint as an int (RangeError beyond int64).
//   Ints read back as numbers, or as bigints beyond Number.MAX_SAFE_INTEGER; bytes read
//   back as Buffers. str storage is sized by the UTF-8 byte length (CPython sizes it by
//   characters and silently truncates non-ASCII text); the layout is the same, so CPython
//   reads such lists correctly.
import * as os from 'node:os';
import { inspect } from 'node:util';
import { ValueError } from './errors.js';
import { text } from './handle_shape.js';
import { pyFloat, pyRepr, pyStr } from './pyrepr.js';
import { HANDLE_KIND, registerReviver, type Shareable, type SharedHandle, toHandle } from './reduction.js';
import { SharedMemory } from './shared_memory.js';
import { checkOptions, describe } from './validate.js';

// ---------------------------------------------------------------------------------------
// CPython's layout, little or big endian as the host (struct's native mode).
//
//   0                 int64  N, the number of items
//   8                 int64  allocated offsets [N + 1], relative to the data area
//   (N + 2) * 8       data area: 8 bytes per int/float/bool/None, a multiple of 8 per str/bytes
//   ... + offsets[N]  N struct formats, 8 bytes each, NUL-padded ('q', 'd', 'xxxxxxx?', ...)
//   ... + 8 N         N int8 back-transform codes (0 value, 1 str, 2 bytes, 3 None)

/** What a ShareableList item may be set to. */
export type ShareableItem = number | bigint | boolean | string | Uint8Array | null;
/** What reading an item gives: ints as numbers (bigint beyond 2^53), bytes as Buffers. */
export type ShareableValue = number | bigint | boolean | string | Buffer | null;

const ALIGN = 8;
const LE = os.endianness() === 'LE';
const FMT_INT = 'q';
const FMT_FLOAT = 'd';
const FMT_BOOL = 'xxxxxxx?';
const FMT_NONE = 'xxxxxx?x';
const CODE_VALUE = 0;
const CODE_STR = 1;
const CODE_BYTES = 2;
const CODE_NONE = 3;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const utf8 = new TextDecoder('utf-8');

interface Encoded {
  fmt: string; // for str/bytes: 's' only; the size comes from the slot
  code: number;
  bytes?: Uint8Array;
  int?: bigint;
  float?: number;
  bool?: boolean;
}

function encodeItem(value: unknown, what: string): Encoded {
  if (value === null) return { fmt: FMT_NONE, code: CODE_NONE };
  switch (typeof value) {
    case 'boolean':
      return { fmt: FMT_BOOL, code: CODE_VALUE, bool: value };
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`${what} does not fit in a 64-bit signed integer: ${value}`);
      return { fmt: FMT_INT, code: CODE_VALUE, int: value };
    case 'number':
      // Integers (within int64) are Python ints; everything else is a Python float.
      if (Number.isInteger(value) && !Object.is(value, -0) && value >= -(2 ** 63) && value < 2 ** 63) {
        return { fmt: FMT_INT, code: CODE_VALUE, int: BigInt(value) };
      }
      return { fmt: FMT_FLOAT, code: CODE_VALUE, float: value };
    case 'string':
      return { fmt: 's', code: CODE_STR, bytes: Buffer.from(value, 'utf8') };
    default:
      if (value instanceof Uint8Array) return { fmt: 's', code: CODE_BYTES, bytes: value };
      throw new TypeError(
        `${what} must be a number, bigint, boolean, string, Buffer/Uint8Array or null, got ${describe(value)}`,
      );
  }
}

/** Bytes CPython allocates for a str/bytes item: the next multiple of 8 strictly above. */
function allocationFor(byteLength: number, what: string): number {
  const n = ALIGN * (Math.floor(byteLength / ALIGN) + 1);
  // The format ('<n>s') must fit its 8-byte slot, as CPython asserts.
  if (String(n).length + 1 > 8) throw new ValueError(`${what} is too large for a ShareableList item (${byteLength} bytes)`);
  return n;
}

function isIndexKey(key: string | symbol): key is string {
  return typeof key === 'string' && /^-?(0|[1-9][0-9]*)$/.test(key);
}

const indexProxy: ProxyHandler<ShareableList> = {
  get(target, key, receiver) {
    if (isIndexKey(key)) return target.get(Number(key));
    return Reflect.get(target, key, receiver);
  },
  set(target, key, value, receiver) {
    if (isIndexKey(key)) {
      target.set(Number(key), value as ShareableItem);
      return true;
    }
    return Reflect.set(target, key, value, receiver);
  },
  has(target, key) {
    if (isIndexKey(key)) {
      const i = Number(key);
      return i >= 0 && i < target.length;
    }
    return Reflect.has(target, key);
  },
};

export interface ShareableListOptions {
  /** Create the list under this name, or (with a null sequence) attach to it. */
  name?: string | null;
}

export class ShareableList implements Shareable, Disposable, Iterable<ShareableValue> {
  /** `sl[i]` reads and `sl[i] = v` writes item i (negative counts from the end). */
  [index: number]: ShareableValue;
  /** The segment holding the list. */
  readonly shm: SharedMemory;
  private readonly _view: DataView;
  private readonly _len: number;
  private readonly _offsets: number[];

  /**
   * `new ShareableList(sequence, { name? })` creates a list (under `name` if given);
   * `new ShareableList(null, { name })` attaches to an existing one.
   */
  constructor(sequence?: Iterable<ShareableItem> | null, options?: ShareableListOptions) {
    const opts = checkOptions<ShareableListOptions>('options', options);
    for (const key of Object.keys(opts)) {
      if (key !== 'name') throw new TypeError(`ShareableList got an unknown option '${key}'`);
    }
    const name = opts.name ?? null;
    if (name !== null && typeof name !== 'string') throw new TypeError(`name must be a string, null or undefined, got ${describe(name)}`);
    const seq = sequence ?? null;
    if (seq !== null && (typeof seq === 'string' || typeof (seq as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function')) {
      throw new TypeError(
        `sequence must be an iterable of items, null or undefined, got ${describe(seq)}` +
          (typeof seq === 'string' ? '; to attach by name use new ShareableList(null, { name })' : ''),
      );
    }

    if (name === null || seq !== null) {
      const items = seq === null ? [] : Array.from(seq, (v, i) => encodeItem(v, `sequence[${i}]`));
      const offsets = [0];
      for (const [i, item] of items.entries()) {
        const slot = item.fmt === 's' ? allocationFor((item.bytes as Uint8Array).length, `sequence[${i}]`) : ALIGN;
        offsets.push((offsets[offsets.length - 1] as number) + slot);
      }
      const n = items.length;
      const dataSize = offsets[n] as number;
      const size = 8 + 8 * (n + 1) + dataSize + 8 * n + n;
      this.shm = new SharedMemory({ name, create: true, size });
      this._view = new DataView(this.shm.buf.buffer, this.shm.buf.byteOffset, this.shm.size);
      this._len = n;
      this._offsets = offsets;
      this._view.setBigInt64(0, BigInt(n), LE);
      for (let i = 0; i <= n; i++) this._view.setBigInt64(8 + 8 * i, BigInt(offsets[i] as number), LE);
      for (let i = 0; i < n; i++) this._write(i, items[i] as Encoded, `sequence[${i}]`);
    } else {
      this.shm = new SharedMemory({ name });
      try {
        this._view = new DataView(this.shm.buf.buffer, this.shm.buf.byteOffset, this.shm.size);
        const [len, offsets] = readHeader(this._view, this.shm.size, name);
        this._len = len;
        this._offsets = offsets;
      } catch (err) {
        this.shm.close();
        throw err;
      }
    }
    // biome-ignore lint/correctness/noConstructorReturn: index access (sl[0]) needs a Proxy
    return new Proxy(this, indexProxy);
  }

  /** Number of items (fixed at creation). */
  get length(): number {
    return this._len;
  }

  /** The struct format of every current item, concatenated (as Python's `format`). */
  get format(): string {
    this._checkOpen();
    let out = '';
    for (let i = 0; i < this._len; i++) out += this._format(i);
    return out;
  }

  /** Item `index` (negative counts from the end). RangeError when out of range. */
  get(index: number): ShareableValue {
    const i = this._position(index, 'index out of range');
    this._checkOpen();
    const fmt = this._format(i);
    const at = this._dataOffset(i);
    const code = this._view.getInt8(this._codesOffset() + i);
    if (code === CODE_NONE) return null;
    if (fmt.endsWith('s')) {
      const n = Number.parseInt(fmt, 10);
      let end = at + n;
      while (end > at && this._view.getUint8(end - 1) === 0) end--; // Python's rstrip(b'\0')
      const raw = Buffer.from(this._view.buffer, this._view.byteOffset + at, end - at);
      return code === CODE_STR ? utf8.decode(raw) : Buffer.from(raw); // a copy: bytes are immutable
    }
    switch (fmt) {
      case FMT_INT: {
        const v = this._view.getBigInt64(at, LE);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case FMT_FLOAT:
        return this._view.getFloat64(at, LE);
      case FMT_BOOL:
        return this._view.getUint8(at + 7) !== 0;
      case FMT_NONE:
        return null;
      default:
        throw new ValueError(`ShareableList item ${i} has an unknown format ${JSON.stringify(fmt)}`);
    }
  }

  /**
   * Replace item `index`. A str/bytes value may not be longer than the storage the item
   * got at creation (ValueError "bytes/str item exceeds available storage"), as in Python.
   */
  set(index: number, value: ShareableItem): void {
    const i = this._position(index, 'assignment index out of range');
    const item = encodeItem(value, 'value');
    this._checkOpen();
    this._write(i, item, 'value');
  }

  /** How many items equal `value` (Python equality: 1 == 1.0 == true, bytes by content). */
  count(value: ShareableItem): number {
    let n = 0;
    for (const v of this) if (pyEquals(value, v)) n++;
    return n;
  }

  /** Index of the first item equal to `value`; ValueError when there is none. */
  index(value: ShareableItem): number {
    let i = 0;
    for (const v of this) {
      if (pyEquals(value, v)) return i;
      i++;
    }
    throw new ValueError(`${pyRepr(value)} not in this container`);
  }

  *[Symbol.iterator](): Iterator<ShareableValue> {
    for (let i = 0; i < this._len; i++) yield this.get(i);
  }

  /** Unmap the list's segment from this process (`shm.close()`). Idempotent. */
  close(): void {
    this.shm.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    if (this.shm.closed) return `ShareableList(<closed>, name=${pyStr(this.shm.name)})`;
    const items: string[] = [];
    for (let i = 0; i < this._len; i++) {
      const v = this.get(i);
      // A Python float with an integral value reads back as a JS integer: show it as 2.0.
      items.push(typeof v === 'number' && this._format(i) === FMT_FLOAT ? pyFloat(v) : pyRepr(v));
    }
    return `ShareableList([${items.join(', ')}], name=${pyStr(this.shm.name)})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  [toHandle](): SharedHandle {
    return { [HANDLE_KIND]: 'ShareableList', name: this.shm.name };
  }

  private _checkOpen(): void {
    if (this.shm.closed) throw new ValueError('operation on a closed ShareableList (its shared memory was closed)');
  }

  private _position(index: unknown, message: string): number {
    if (typeof index !== 'number' || !Number.isInteger(index)) {
      throw new TypeError(`index must be an integer, got ${describe(index)}`);
    }
    const i = index < 0 ? index + this._len : index;
    if (i < 0 || i >= this._len) throw new RangeError(`ShareableList ${message}: ${index} (length ${this._len})`);
    return i;
  }

  private _dataOffset(i: number): number {
    return (this._len + 2) * 8 + (this._offsets[i] as number);
  }

  private _formatsOffset(): number {
    return (this._len + 2) * 8 + (this._offsets[this._len] as number);
  }

  private _codesOffset(): number {
    return this._formatsOffset() + this._len * 8;
  }

  private _format(i: number): string {
    const at = this._formatsOffset() + i * 8;
    let s = '';
    for (let k = 0; k < 8; k++) {
      const c = this._view.getUint8(at + k);
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }

  private _write(i: number, item: Encoded, what: string): void {
    const at = this._dataOffset(i);
    let fmt = item.fmt;
    if (fmt === 's') {
      const allocated = (this._offsets[i + 1] as number) - (this._offsets[i] as number);
      const bytes = item.bytes as Uint8Array;
      if (bytes.length > allocated) {
        throw new ValueError(`bytes/str item exceeds available storage (${what} is ${bytes.length} bytes, item ${i} has ${allocated})`);
      }
      // Python keeps the current '<n>s' format of a str/bytes slot, else the slot size.
      const current = this._format(i);
      fmt = current.endsWith('s') ? current : `${allocated}s`;
      const n = Number.parseInt(fmt, 10);
      const dst = new Uint8Array(this._view.buffer, this._view.byteOffset + at, n);
      dst.fill(0);
      dst.set(bytes.subarray(0, n));
    } else {
      for (let k = 0; k < 8; k++) this._view.setUint8(at + k, 0);
      if (item.int !== undefined) this._view.setBigInt64(at, item.int, LE);
      else if (item.float !== undefined) this._view.setFloat64(at, item.float, LE);
      else if (item.bool !== undefined) this._view.setUint8(at + 7, item.bool ? 1 : 0);
    }
    const fmtAt = this._formatsOffset() + i * 8;
    for (let k = 0; k < 8; k++) this._view.setUint8(fmtAt + k, k < fmt.length ? fmt.charCodeAt(k) : 0);
    this._view.setInt8(this._codesOffset() + i, item.code);
  }
}

/** Read and sanity-check the list header of an attached segment. */
function readHeader(view: DataView, size: number, name: string): [number, number[]] {
  const bad = (why: string) => new ValueError(`shared memory '${name}' does not hold a ShareableList (${why})`);
  if (size < 16) throw bad('too small');
  const n = view.getBigInt64(0, LE);
  if (n < 0n || (n + 2n) * 8n > BigInt(size)) throw bad(`item count ${n}`);
  const len = Number(n);
  const offsets: number[] = [];
  for (let i = 0; i <= len; i++) {
    const o = view.getBigInt64(8 + 8 * i, LE);
    const prev = i === 0 ? 0n : BigInt(offsets[i - 1] as number);
    if (o < prev || o > BigInt(size)) throw bad(`offset ${i}`);
    offsets.push(Number(o));
  }
  if (offsets[0] !== 0) throw bad('first offset');
  if ((len + 2) * 8 + (offsets[len] as number) + 9 * len > size) throw bad('layout exceeds the segment');
  return [len, offsets];
}

registerReviver('ShareableList', { name: text }, (h) => new ShareableList(null, { name: h.name }));

// ---------------------------------------------------------------------------------------
// Python's == for list items (count, index); their repr is in pyrepr.ts.

function pyEquals(a: unknown, b: unknown): boolean {
  if (a === null || b === null) return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  const num = (v: unknown) => (typeof v === 'boolean' ? Number(v) : v);
  const x = num(a);
  const y = num(b);
  // Loose equality compares number and bigint by mathematical value.
  // biome-ignore lint/suspicious/noDoubleEquals: intended, see above
  return (typeof x === 'number' || typeof x === 'bigint') && (typeof y === 'number' || typeof y === 'bigint') && x == y;
}
