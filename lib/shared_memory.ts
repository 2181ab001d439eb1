// SharedMemory and ShareableList, as Python's multiprocessing.shared_memory (3.12).
//
// SharedMemory is a named POSIX segment mapped as one external ArrayBuffer by the addon.
// ShareableList lays its items out in such a segment byte for byte as CPython 3.11/3.12
// does (struct formats, offsets, back-transform codes, native byte order), so a Python
// process and a Node process can share one list by name.
//
// Decisions where Python's behaviour does not translate one to one:
// - Errors from the OS (a taken name, a missing name, a full /dev/shm, a second unlink)
//   are plain `Error`s shaped like Node's own fs errors: message
//   "ENOENT: no such file or directory, shm_open 'name'", `code` ('ENOENT', 'EEXIST',
//   'ENOSPC', ...), `errno` (negative, as Node's), `syscall` and `path` (the segment name).
//   They stand for Python's FileNotFoundError / FileExistsError / OSError.
// - Bad values are ValueError (size 0 on create, an empty or '/'-containing name, a str
//   too long for its slot, index() of a missing value); wrong types are TypeError naming
//   the argument; a list index out of range is a RangeError (Python's IndexError).
// - Only a creating process registers a segment with the resource tracker; attaching
//   never does (Python 3.13's track=False behaviour: an attacher exiting must not destroy
//   a segment someone else owns). `track: false` opts a created segment out.
// - ShareableList: a JS number that is an integer within int64 is stored as an int ('q'),
//   any other number as a float ('d'), a bigint as an int (RangeError beyond int64).
//   Ints read back as numbers, or as bigints beyond Number.MAX_SAFE_INTEGER; bytes read
//   back as Buffers. str storage is sized by the UTF-8 byte length (CPython sizes it by
//   characters and silently truncates non-ASCII text); the layout is the same, so CPython
//   reads such lists correctly.
import * as os from 'node:os';
import { inspect } from 'node:util';
import { ValueError } from './errors.js';
import { native, type ShmAttached, type ShmCreated } from './native.js';
import { HANDLE_KIND, registerReviver, type Shareable, type SharedHandle, toHandle } from './reduction.js';
import { register, unregister } from './resource_tracker.js';
import { checkOptions, describe } from './validate.js';

// ---------------------------------------------------------------------------------------
// SharedMemory

export interface SharedMemoryOptions {
  /** Segment name without the leading slash; random when creating without one. */
  name?: string | null;
  /** Create a new segment (O_CREAT | O_EXCL) instead of attaching to an existing one. */
  create?: boolean;
  /** Size in bytes of a new segment; ignored when attaching (the segment's size is used). */
  size?: number;
  /**
   * Register a created segment with the resource tracker (default true), so it is unlinked
   * once the process tree is gone unless `unlink()` was called. Attaching never registers
   * (Python 3.13's `track=False` behaviour): a process that merely attaches must not
   * destroy a segment that someone else owns when it exits.
   */
  track?: boolean;
}

const SHM_OPTION_KEYS = new Set(['name', 'create', 'size', 'track']);

function checkSegmentName(name: unknown, creating: boolean): string {
  if (typeof name !== 'string') throw new TypeError(`name must be a string, null or undefined, got ${describe(name)}`);
  // Python prepends the slash itself and reports names without it; accept either spelling.
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (bare.length === 0) throw new ValueError('name must not be empty');
  if (bare.length > 255) throw new ValueError(`name must be at most 255 characters, got ${bare.length}`);
  if (bare.includes('/') || bare.includes('\0') || bare === '.' || bare === '..') {
    throw new ValueError(`name must not contain '/' (except one leading) or NUL characters, nor be '.' or '..', got ${describe(name)}`);
  }
  // The resource tracker's protocol is one line per name, whitespace separated.
  if (creating && /\s/.test(bare)) throw new ValueError(`name of a created segment must not contain whitespace, got ${describe(name)}`);
  return bare;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOSPC: 'no space left on device',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  ENAMETOOLONG: 'name too long',
  EMFILE: 'too many open files',
  ENOMEM: 'not enough memory',
  EFBIG: 'file too large',
};

const ERRNO_HINT: Record<string, string> = {
  ENOSPC:
    process.platform === 'linux'
      ? '/dev/shm is full: free space or mount a larger /dev/shm (Docker: --shm-size)'
      : 'no space left for shared memory',
  EMFILE: 'too many open files: close some or raise the limit (ulimit -n)',
  ENFILE: 'too many open files in the system',
  ENOMEM: 'not enough memory or address space to map it',
  EACCES: 'created by another user?',
};

/** Turn an addon error into a Node-style system error naming the segment. */
function systemError(err: unknown, syscall: string, name: string): Error {
  if (!(err instanceof Error)) return new Error(`${syscall} '${name}' failed: ${String(err)}`);
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return err;
  const text = ERRNO_TEXT[code] ?? err.message;
  const hint = ERRNO_HINT[code];
  const message = `${code}: ${text}, ${syscall} '${name}'${hint === undefined ? '' : ` (${hint})`}`;
  const out = new Error(message, { cause: err }) as NodeJS.ErrnoException;
  out.code = code;
  const errno = (os.constants.errno as Record<string, number | undefined>)[code];
  if (errno !== undefined) out.errno = -errno;
  out.syscall = syscall;
  out.path = name;
  return out;
}

export class SharedMemory implements Shareable, Disposable {
  private _name: string;
  private _size: number;
  private _buffer: ArrayBuffer;
  private _buf: Uint8Array;
  private _closed = false;
  private readonly _track: boolean;

  /**
   * `new SharedMemory({ name?, create = false, size = 0, track = true })`, or
   * `new SharedMemory(name, { create?, size?, track? })` as Python's positional form.
   */
  constructor(nameOrOptions?: string | SharedMemoryOptions | null, maybeOptions?: SharedMemoryOptions) {
    let opts: SharedMemoryOptions;
    if (typeof nameOrOptions === 'string') {
      const rest = checkOptions<SharedMemoryOptions>('options', maybeOptions);
      if ('name' in rest) throw new TypeError('SharedMemory got the name twice (as the first argument and as an option)');
      opts = { ...rest, name: nameOrOptions };
    } else {
      if (maybeOptions !== undefined) {
        throw new TypeError('SharedMemory takes one options object, or a name and an options object');
      }
      opts = checkOptions<SharedMemoryOptions>('options', nameOrOptions);
    }
    for (const key of Object.keys(opts)) {
      if (!SHM_OPTION_KEYS.has(key)) throw new TypeError(`SharedMemory got an unknown option '${key}'`);
    }
    const create = opts.create ?? false;
    if (typeof create !== 'boolean') throw new TypeError(`create must be a boolean, got ${describe(create)}`);
    const track = opts.track ?? true;
    if (typeof track !== 'boolean') throw new TypeError(`track must be a boolean, got ${describe(track)}`);
    const size = opts.size ?? 0;
    if (typeof size !== 'number' || !Number.isInteger(size)) {
      throw new TypeError(`size must be an integer number of bytes, got ${describe(size)}`);
    }
    if (size < 0) throw new ValueError("'size' must be a positive integer");
    if (create && size === 0) throw new ValueError("'size' must be a positive number different from zero");
    if (size > Number.MAX_SAFE_INTEGER) throw new RangeError(`size is too large: ${size}`);
    const rawName = opts.name ?? null;
    if (rawName === null && !create) throw new ValueError("'name' can only be null if create is true");
    const name = rawName === null ? null : checkSegmentName(rawName, create);

    this._track = create && track;
    if (create) {
      let created: ShmCreated;
      try {
        created = name === null ? native.shmCreate(size) : native.shmCreate(size, name);
      } catch (err) {
        throw systemError(err, 'shm_open', name ?? '<random>');
      }
      this._name = created.name;
      this._buffer = created.buffer;
      this._size = size;
      if (this._track) {
        try {
          register(this._name);
        } catch (err) {
          // Never leave an untracked segment behind.
          native.shmClose(this._buffer);
          try {
            native.shmUnlink(this._name);
          } catch {}
          throw err;
        }
      }
    } else {
      let attached: ShmAttached;
      try {
        attached = native.shmAttach(name as string);
      } catch (err) {
        throw systemError(err, 'shm_open', name as string);
      }
      this._name = name as string;
      this._buffer = attached.buffer;
      this._size = attached.size;
    }
    this._buf = new Uint8Array(this._buffer);
  }

  /** Unique name of the segment, without the leading slash (as Python reports it on POSIX). */
  get name(): string {
    return this._name;
  }

  /** Size in bytes. */
  get size(): number {
    return this._size;
  }

  /** The whole segment as bytes. After `close()` the view is detached (length 0). */
  get buf(): Uint8Array {
    return this._buf;
  }

  /** True once `close()` ran (not Python; handy for wrappers). */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * Unmap the segment from this process; it still exists for others until unlinked.
   * Every view over `buf` becomes detached (length 0). Idempotent.
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    native.shmClose(this._buffer);
  }

  /**
   * Remove the name (shm_unlink); the memory lives on while any process keeps it mapped.
   * Call it once across all processes. A second call fails with code 'ENOENT'.
   */
  unlink(): void {
    if (process.platform === 'win32') return; // a mapping vanishes with its last handle
    try {
      native.shmUnlink(this._name);
    } catch (err) {
      throw systemError(err, 'shm_unlink', this._name);
    }
    if (this._track) unregister(this._name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `SharedMemory(${pyStr(this._name)}, size=${this._size})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  [toHandle](): SharedHandle {
    return { [HANDLE_KIND]: 'SharedMemory', name: this._name, size: this._size };
  }
}

registerReviver('SharedMemory', (handle) => new SharedMemory({ name: handle.name as string }));

// ---------------------------------------------------------------------------------------
// ShareableList: CPython's layout, little or big endian as the host (struct's native mode).
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

registerReviver('ShareableList', (handle) => new ShareableList(null, { name: handle.name as string }));

// ---------------------------------------------------------------------------------------
// Python's == and repr for list items.

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

function pyQuote(body: string[], hasSingle: boolean, hasDouble: boolean, prefix = ''): string {
  const q = hasSingle && !hasDouble ? '"' : "'";
  return `${prefix}${q}${body.map((c) => (c === q ? `\\${q}` : c)).join('')}${q}`;
}

function pyStr(s: string): string {
  const body: string[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '\\') body.push('\\\\');
    else if (ch === '\n') body.push('\\n');
    else if (ch === '\r') body.push('\\r');
    else if (ch === '\t') body.push('\\t');
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) body.push(`\\x${c.toString(16).padStart(2, '0')}`);
    else body.push(ch);
  }
  return pyQuote(body, s.includes("'"), s.includes('"'));
}

function pyBytes(b: Uint8Array): string {
  const body: string[] = [];
  for (const c of b) {
    if (c === 0x5c) body.push('\\\\');
    else if (c === 0x0a) body.push('\\n');
    else if (c === 0x0d) body.push('\\r');
    else if (c === 0x09) body.push('\\t');
    else if (c < 0x20 || c >= 0x7f) body.push(`\\x${c.toString(16).padStart(2, '0')}`);
    else body.push(String.fromCharCode(c));
  }
  return pyQuote(body, b.includes(0x27), b.includes(0x22), 'b');
}

/** Python's repr of a float: shortest round-trip digits, exponent form outside 1e-4..1e16. */
function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mant, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const e = Number(expText);
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const int = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const frac = digits.slice(e + 1) || '0';
  return `${sign}${int}.${frac}`;
}

function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) < 2 ** 63 ? String(BigInt(v)) : pyFloat(v);
  if (typeof v === 'string') return pyStr(v);
  if (v instanceof Uint8Array) return pyBytes(v);
  return String(v);
}
