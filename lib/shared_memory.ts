// SharedMemory, as Python's multiprocessing.shared_memory (3.12). ShareableList, which
// lives in such a segment, is in shareable_list.ts.
//
// SharedMemory is a named POSIX segment mapped as one external ArrayBuffer by the addon.
//
// Decisions where Python's behaviour does not translate one to one:
// - Errors from the OS (a taken name, a missing name, a full /dev/shm, a second unlink)
//   are plain `Error`s shaped like Node's own fs errors: message
//   "ENOENT: no such file or directory, shm_open 'name'", `code` ('ENOENT', 'EEXIST',
//   'ENOSPC', ...), `errno` (negative, as Node's), `syscall` and `path` (the segment name).
//   They stand for Python's FileNotFoundError / FileExistsError / OSError.
// - Bad values are ValueError (size 0 on create, an empty or '/'-containing name); wrong
//   types are TypeError naming the argument.
// - Only a creating process registers a segment with the resource tracker; attaching
//   never does (Python 3.13's track=False behaviour: an attacher exiting must not destroy
//   a segment someone else owns). `track: false` opts a created segment out.
import * as os from 'node:os';
import { inspect } from 'node:util';
import { ValueError } from './errors.js';
import { text } from './handle_shape.js';
import { native, type ShmAttached, type ShmCreated } from './native.js';
import { pyStr } from './pyrepr.js';
import { HANDLE_KIND, registerReviver, type Shareable, type SharedHandle, toHandle } from './reduction.js';
import { createTrackedSegment, registerCreated, unregister } from './resource_tracker.js';
import { checkOptions, describe } from './validate.js';

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

/** Turn an addon error into a Node-style system error naming the segment. */
function systemError(err: unknown, syscall: string, name: string): Error {
  if (!(err instanceof Error)) return new Error(`${syscall} '${name}' failed: ${String(err)}`);
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return err;
  // The addon's own syscall (posix_fallocate, mmap, ...) and hint (what to do) when it gave them.
  const { syscall: nativeSyscall, hint } = err as { syscall?: unknown; hint?: unknown };
  const call = typeof nativeSyscall === 'string' ? nativeSyscall : syscall;
  const text = ERRNO_TEXT[code] ?? err.message;
  const message = `${code}: ${text}, ${call} '${name}'${typeof hint === 'string' ? ` (${hint})` : ''}`;
  const out = new Error(message, { cause: err }) as NodeJS.ErrnoException;
  out.code = code;
  const errno = (os.constants.errno as Record<string, number | undefined>)[code];
  if (errno !== undefined) out.errno = -errno;
  out.syscall = call;
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
      // A generated name is registered before the segment exists (no kill can leak it);
      // a name the user chose only after, since it may turn out to be someone else's.
      const registeredFirst = this._track && name === null;
      try {
        if (registeredFirst) created = createTrackedSegment(size);
        else created = name === null ? native.shmCreate(size) : native.shmCreate(size, name);
      } catch (err) {
        throw systemError(err, 'shm_open', name ?? '<random>');
      }
      this._name = created.name;
      this._buffer = created.buffer;
      this._size = size;
      if (this._track && !registeredFirst) registerCreated(created);
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

registerReviver('SharedMemory', { name: text }, (h) => new SharedMemory({ name: h.name }));
