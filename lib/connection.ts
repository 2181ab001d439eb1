// What every Connection has, whatever carries it (a shared ring for Pipe, a socket for
// Listener/Client): the public methods of API.md, argument checks, and the byte-level
// helpers built on the abstract ones.
import { BufferTooShort, ValueError } from './errors.js';
import { checkInteger } from './validate.js';

/** The error Python raises as BrokenPipeError: nobody can read what is sent. */
export function brokenPipe(what = 'the other end of the connection is closed'): Error {
  const err = new Error(`${what}: nobody can receive this message`);
  Object.assign(err, { name: 'BrokenPipeError', code: 'EPIPE' });
  return err;
}

/** The bytes of `buf` from `offset` (bytes), `size` bytes long; TypeError/RangeError if bad. */
export function bytesArg(buf: unknown, offset: unknown, size: unknown): Uint8Array {
  if (!ArrayBuffer.isView(buf)) throw new TypeError('buf must be a Buffer, TypedArray or DataView');
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const start = offset === undefined || offset === null ? 0 : checkInteger('offset', offset, 0, bytes.length);
  const n = size === undefined || size === null ? bytes.length - start : checkInteger('size', size, 0, bytes.length - start);
  return bytes.subarray(start, start + n);
}

export function maxlengthArg(maxlength: unknown): number {
  return maxlength === undefined || maxlength === null ? Infinity : checkInteger('maxlength', maxlength);
}

export function tooLong(length: number, maxlength: number): ValueError {
  return new ValueError(`message of ${length} bytes is longer than maxlength ${maxlength}`);
}

function intoArgs(buf: unknown, offset: unknown): number {
  if (!ArrayBuffer.isView(buf)) throw new TypeError('buf must be a Buffer, TypedArray or DataView');
  return offset === undefined || offset === null ? 0 : checkInteger('offset', offset, 0, buf.byteLength);
}

function copyInto(bytes: Buffer, buf: ArrayBufferView, offset: number): number {
  const target = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (offset + bytes.length > target.length) {
    throw new BufferTooShort(bytes, `buffer has ${target.length - offset} bytes from offset ${offset}, the message ${bytes.length}`);
  }
  target.set(bytes, offset);
  return bytes.length;
}

/**
 * One end of a connection (Python's multiprocessing.connection.Connection). Made by
 * mp.Pipe(), Listener.accept() and Client(). Every waiting method has a Promise form and
 * a Sync form.
 */
export abstract class Connection implements Disposable {
  /** True once close() was called. */
  abstract get closed(): boolean;
  abstract get readable(): boolean;
  abstract get writable(): boolean;

  /** Send `obj` (structured clone; shared objects travel as handles over a Pipe). */
  abstract send(obj: unknown): Promise<void>;
  abstract sendSync(obj: unknown): void;
  /** The next message; EOFError when the other end closed and nothing is left. */
  abstract recv(): Promise<unknown>;
  abstract recvSync(): unknown;
  /** Send bytes as one message (Python's send_bytes); offset and size count bytes. */
  abstract sendBytes(buf: ArrayBufferView, offset?: number, size?: number): Promise<void>;
  abstract sendBytesSync(buf: ArrayBufferView, offset?: number, size?: number): void;
  /** The next message as bytes (Python's recv_bytes). ValueError when longer than `maxlength`. */
  abstract recvBytes(maxlength?: number): Promise<Buffer>;
  abstract recvBytesSync(maxlength?: number): Buffer;
  /** Whether a message (or EOF) can be read now, waiting up to `timeout` seconds (default 0). */
  poll(timeout: number | null = 0): Promise<boolean> {
    return this.pollUntil(timeout);
  }
  abstract pollSync(timeout?: number | null): boolean;
  /** @internal poll() that `signal` can end early (connection.wait). */
  abstract pollUntil(timeout: number | null, signal?: AbortSignal): Promise<boolean>;
  /** Close this end. Idempotent. */
  abstract close(): void;

  /**
   * Read the next message into `buf` at byte `offset`; returns its length. BufferTooShort
   * (the message in `.data`) when it does not fit; the message is consumed either way.
   */
  async recvBytesInto(buf: ArrayBufferView, offset?: number): Promise<number> {
    const at = intoArgs(buf, offset);
    return copyInto(await this.recvBytes(), buf, at);
  }

  recvBytesIntoSync(buf: ArrayBufferView, offset?: number): number {
    const at = intoArgs(buf, offset);
    return copyInto(this.recvBytesSync(), buf, at);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
