// A Connection over a stream socket (TCP or Unix), framed as Python 3.12 frames it, so
// either end can be CPython: a message is a 4-byte big-endian signed length and the
// bytes; a length of -1 is followed by an 8-byte unsigned length (messages over 2 GiB).
// send()/recv() carry this library's codec bytes (codec.ts); a Python peer exchanges
// sendBytes()/recvBytes() with its send_bytes()/recv_bytes().
//
// Reading: the socket flows into a list of chunks ('data' events), paused while more than
// READ_AHEAD bytes wait unread. The Sync forms cannot wait for events, so they read the fd
// themselves (blocking in the addon's fdPoll): whatever the events delivered is older than
// what is still in the kernel, so chunks are consumed first and order is kept.
// Writing: always straight to the fd (so Sync and async sends never reorder); when the
// kernel buffer is full, a Sync send blocks in fdPoll, an async one polls on a timer.
import type { Socket } from 'node:net';
import { readSync, writeSync } from 'node:fs';
import { Decoder, Encoder, revive } from './codec.js';
import { Connection, brokenPipe, bytesArg, maxlengthArg, tooLong } from './connection.js';
import { EOFError, ValueError } from './errors.js';
import { deadlineAfter, remaining } from './futex.js';
import { withNetworkTransport } from './reduction.js';
import { native } from './native.js';
import { timeoutToMs } from './validate.js';

const READ_AHEAD = 1 << 20;
const READ_CHUNK = 64 * 1024;
/** fillSync reads into this and keeps a copy of what came (one 64 KiB buffer, not one per read). */
const readScratch = Buffer.allocUnsafe(READ_CHUNK);
const INT32_MAX = 0x7fffffff;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function header(n: number): Buffer {
  if (n <= INT32_MAX) {
    const h = Buffer.allocUnsafe(4);
    h.writeInt32BE(n, 0);
    return h;
  }
  const h = Buffer.allocUnsafe(12);
  h.writeInt32BE(-1, 0);
  h.writeBigUInt64BE(BigInt(n), 4);
  return h;
}

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

export class SocketConnection extends Connection {
  private socket: Socket | null;
  private readonly fd: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;
  private failure: Error | null = null;
  private wakeReaders: (() => void)[] = [];
  private readonly encoder = new Encoder();
  private readonly decoder = new Decoder();
  /** A message longer than a recvBytes maxlength was announced: the stream is unusable. */
  private broken = false;
  /** Set by stream(): frames are pushed to it as they arrive instead of being recv()'d. */
  private sink: (FrameSink & { maxlength: number }) | null = null;
  /** holdStream(true): frames wait in the buffer (and the socket is paused). */
  private held = false;

  /** @internal Listener.accept() and Client() make these from connected sockets. */
  constructor(socket: Socket) {
    super();
    this.socket = socket;
    this.fd = fdOf(socket);
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered > READ_AHEAD) socket.pause();
      this.notify();
    });
    socket.on('end', () => {
      this.eof = true;
      this.notify();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A peer that hung up with data unread resets the connection: for a reader that is
      // the end of the stream (EOFError), as a clean close would be.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.eof = true;
      else this.failure = err;
      this.notify();
    });
    socket.on('close', () => {
      this.eof = true;
      this.notify();
    });
    socket.resume();
  }

  private notify(): void {
    if (this.sink !== null) this.pump(this.sink);
    const waiting = this.wakeReaders;
    this.wakeReaders = [];
    for (const w of waiting) w();
  }

  get closed(): boolean {
    return this.socket === null;
  }

  get readable(): boolean {
    return this.socket !== null && !this.broken;
  }

  get writable(): boolean {
    return this.socket !== null;
  }

  private open(): Socket {
    if (this.socket === null) throw new ValueError('Connection is closed');
    return this.socket;
  }

  private checkRead(): void {
    this.open();
    if (this.broken) throw new ValueError('Connection is not readable: an earlier message was longer than maxlength');
  }

  // ----------------------------------------------------------------------- reading

  /** Copy `n` buffered bytes starting `skip` bytes in, without consuming. */
  private peek(skip: number, n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    let pos = 0;
    for (const c of this.chunks) {
      if (at >= n) break;
      const from = Math.max(0, skip - pos);
      if (from < c.length) {
        const copied = c.copy(out, at, from, Math.min(c.length, from + n - at));
        at += copied;
      }
      pos += c.length;
    }
    return out;
  }

  /** Consume `n` buffered bytes. */
  private consume(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first !== undefined && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0]!;
        const take = Math.min(c.length, n - at);
        c.copy(out, at, 0, take);
        at += take;
        if (take === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(take);
      }
    }
    this.buffered -= n;
    if (this.buffered <= READ_AHEAD && !this.held && this.socket?.isPaused()) this.socket.resume();
    return out;
  }

  /**
   * The next whole frame's payload if it is buffered, else null. A frame longer than
   * `maxlength` throws before its payload is read (a hostile 1 GiB length costs nothing).
   */
  private frame(maxlength: number, onTooLong: (size: number) => Error): Buffer | null {
    if (this.buffered < 4) return null;
    let size = this.peek(0, 4).readInt32BE(0);
    let head = 4;
    if (size === -1) {
      if (this.buffered < 12) return null;
      size = Number(this.peek(4, 8).readBigUInt64BE(0));
      head = 12;
    } else if (size < 0) {
      this.broken = true;
      throw new ValueError(`corrupt stream: negative message length ${size}`);
    }
    if (size > maxlength) {
      this.broken = true;
      throw onTooLong(size);
    }
    if (this.buffered < head + size) {
      // Let a big message arrive in full even past the read-ahead limit.
      if (this.socket?.isPaused() && this.buffered < head + size) this.socket.resume();
      return null;
    }
    this.consume(head);
    return this.consume(size);
  }

  private eofError(): Error {
    if (this.failure !== null) return this.failure;
    return new EOFError('the other end of the connection is closed and nothing is left to receive');
  }

  /** Read what the kernel has into the chunks, blocking up to `ms` for some. False on timeout. */
  private fillSync(ms: number): boolean {
    if (this.fd < 0) throw new ValueError('blocking calls are not available on this socket (no file descriptor); use the async forms');
    const bits = native.fdPoll(this.fd, false, ms === Infinity ? -1 : Math.ceil(ms));
    if (bits === 0) return false;
    const chunk = readScratch;
    let n: number;
    try {
      n = readSync(this.fd, chunk, 0, READ_CHUNK, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return true;
      if (code === 'ECONNRESET') {
        this.eof = true;
        return true;
      }
      throw err;
    }
    if (n === 0) this.eof = true;
    else {
      this.chunks.push(Buffer.from(chunk.subarray(0, n))); // a copy: the scratch is reused
      this.buffered += n;
    }
    return true;
  }

  private recvFrameSync(maxlength: number, onTooLong: (size: number) => Error, timeoutMs = Infinity): Buffer | null {
    this.checkRead();
    const deadline = deadlineAfter(timeoutMs);
    for (;;) {
      const f = this.frame(maxlength, onTooLong);
      if (f !== null) return f;
      if (this.eof || this.failure !== null) throw this.eofError();
      // With no time left this still takes what the kernel has (a poll of 0 ms).
      if (!this.fillSync(remaining(deadline)) && remaining(deadline) === 0) return null;
    }
  }

  private async recvFrame(maxlength: number, onTooLong: (size: number) => Error): Promise<Buffer> {
    this.checkRead();
    for (;;) {
      const f = this.frame(maxlength, onTooLong);
      if (f !== null) return f;
      if (this.eof || this.failure !== null) throw this.eofError();
      await new Promise<void>((r) => this.wakeReaders.push(r));
      this.checkRead();
    }
  }

  /** @internal recvBytes with the error a handshake gives for an oversized message. */
  recvBytesCapped(maxlength: number, onTooLong: (size: number) => Error): Promise<Buffer> {
    return this.recvFrame(maxlength, onTooLong);
  }

  private static tooLongError(maxlength: number): (size: number) => Error {
    return (size) => tooLong(size, maxlength);
  }

  async recvBytes(maxlength?: number): Promise<Buffer> {
    const max = maxlengthArg(maxlength);
    return this.recvFrame(max, SocketConnection.tooLongError(max));
  }

  recvBytesSync(maxlength?: number): Buffer {
    const max = maxlengthArg(maxlength);
    return this.recvFrameSync(max, SocketConnection.tooLongError(max))!;
  }

  private decode(bytes: Buffer): unknown {
    if (bytes.length === 0 || (bytes[0] !== 1 && bytes[0] !== 2)) {
      throw new ValueError(
        `received ${bytes.length} bytes that are not a message of this library (a Python peer's pickle?); use recvBytes() for raw bytes`,
      );
    }
    const value = this.decoder.decode(bytes, 0, bytes.length);
    const wire = this.decoder.wire;
    return wire ? withNetworkTransport(() => revive(value, wire)) : value;
  }

  async recv(): Promise<unknown> {
    return this.decode(await this.recvBytes());
  }

  recvSync(): unknown {
    return this.decode(this.recvBytesSync());
  }

  async pollUntil(timeout: number | null, signal?: AbortSignal): Promise<boolean> {
    const ms = timeoutToMs('timeout', timeout);
    this.checkRead();
    const deadline = deadlineAfter(ms);
    for (;;) {
      if (this.ready()) return true;
      const left = remaining(deadline);
      if (left === 0 || signal?.aborted) return false;
      let timer: NodeJS.Timeout | undefined;
      let done: () => void = () => {};
      await new Promise<void>((r) => {
        done = () => r();
        this.wakeReaders.push(done);
        if (left !== Infinity) timer = setTimeout(done, left);
        signal?.addEventListener('abort', done, { once: true });
      });
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      this.checkRead();
    }
  }

  pollSync(timeout: number | null = 0): boolean {
    const ms = timeoutToMs('timeout', timeout);
    this.checkRead();
    const deadline = deadlineAfter(ms);
    for (;;) {
      if (this.ready()) return true;
      if (!this.fillSync(remaining(deadline)) && remaining(deadline) === 0) return this.ready();
    }
  }

  /** A whole frame (or EOF) is buffered. */
  private ready(): boolean {
    if (this.eof || this.failure !== null) return true;
    if (this.buffered < 4) return false;
    const size = this.peek(0, 4).readInt32BE(0);
    if (size < -1) return true; // corrupt: recv will say so
    if (size === -1) return this.buffered >= 12 && this.buffered >= 12 + Number(this.peek(4, 8).readBigUInt64BE(0));
    return this.buffered >= 4 + size;
  }

  // ----------------------------------------------------------------------- writing

  /** Write as much of `data` as the kernel takes now; returns the bytes written. */
  private writeSome(data: Uint8Array): number {
    try {
      return writeSync(this.fd, data, 0, data.length);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return 0;
      if (code === 'EPIPE' || code === 'ECONNRESET') throw brokenPipe();
      throw err;
    }
  }

  private checkWrite(): void {
    this.open();
    if (this.fd < 0) throw new ValueError('this socket has no file descriptor to write to');
  }

  private writeAllSync(parts: Uint8Array[]): void {
    for (let part of parts) {
      while (part.length > 0) {
        const n = this.writeSome(part);
        part = part.subarray(n);
        if (part.length > 0) native.fdPoll(this.fd, true, 1000);
      }
    }
  }

  private async writeAll(parts: Uint8Array[]): Promise<void> {
    let wait = 0;
    for (let part of parts) {
      while (part.length > 0) {
        this.checkWrite();
        const n = this.writeSome(part);
        part = part.subarray(n);
        if (part.length === 0) break;
        if (n > 0) wait = 0;
        else await sleep((wait = Math.min(wait + 1, 10)));
      }
    }
  }

  private framed(payload: Uint8Array): Uint8Array[] {
    // One write for small messages (as Python: header and payload together up to 16 KiB).
    const h = header(payload.length);
    if (payload.length > 16384) return [h, payload];
    return [Buffer.concat([h, payload])];
  }

  // Sends copy the payload first when they may have to wait, so callers can reuse theirs.
  async sendBytes(buf: ArrayBufferView, offset?: number, size?: number): Promise<void> {
    const bytes = bytesArg(buf, offset, size);
    this.checkWrite();
    await this.writeAll(this.framed(bytes.slice()));
  }

  sendBytesSync(buf: ArrayBufferView, offset?: number, size?: number): void {
    const bytes = bytesArg(buf, offset, size);
    this.checkWrite();
    this.writeAllSync(this.framed(bytes));
  }

  private encode(obj: unknown): Uint8Array {
    try {
      return withNetworkTransport(() => this.encoder.encode(obj));
    } catch (err) {
      throw new TypeError(`Connection.send: the object cannot be sent: ${(err as Error).message}`, { cause: err });
    }
  }

  async send(obj: unknown): Promise<void> {
    this.checkWrite();
    await this.writeAll(this.framed(this.encode(obj).slice()));
  }

  sendSync(obj: unknown): void {
    this.checkWrite();
    this.writeAllSync(this.framed(this.encode(obj)));
    this.encoder.shrink();
  }

  close(): void {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    socket.destroy();
    this.notify();
  }

  // ------------------------------------------------------- push mode (managers)

  /**
   * @internal Hand each whole frame to `sink.frame` as it arrives, from the socket's
   * events (a manager's multiplexed protocol: no recv() per message). A frame longer
   * than `maxlength` or a corrupt length ends the stream before its payload is read.
   * `sink.end` runs once: with null at EOF, with the error otherwise; then the socket
   * is closed.
   */
  stream(maxlength: number, sink: FrameSink): void {
    this.checkRead();
    this.sink = { maxlength, frame: sink.frame, end: sink.end, ...(sink.spin ? { spin: sink.spin } : {}) };
    this.pump(this.sink);
  }

  private pump(sink: FrameSink & { maxlength: number }): void {
    const max = sink.maxlength;
    try {
      let delivered = false;
      while (this.socket !== null && this.sink === sink && !this.held) {
        const f = this.frame(max, (size) => new ValueError(`message of ${size} bytes is longer than the limit of ${max}`));
        if (f !== null) {
          delivered = true;
          sink.frame(f);
          continue;
        }
        // Drained: a sink that expects more soon may read the kernel directly for a moment.
        if (!delivered || this.eof || sink.spin === undefined) break;
        const us = sink.spin.budget();
        if (us <= 0) break;
        const hit = this.spinRead(us);
        sink.spin.result(hit);
        if (!hit) break;
        delivered = false;
      }
    } catch (err) {
      this.endStream(sink, err as Error);
      return;
    }
    if (this.sink === sink && (this.eof || this.failure !== null || this.socket === null)) this.endStream(sink, this.failure);
  }

  private endStream(sink: FrameSink, err: Error | null): void {
    if (this.sink !== sink) return;
    this.sink = null;
    this.close();
    sink.end(err);
  }

  /**
   * @internal Queue a framed message on the socket (ordered, never blocks the thread;
   * Node buffers what the kernel does not take yet). Returns the bytes still buffered,
   * so a caller can give up on a peer that stops reading.
   */
  sendQueued(payload: Uint8Array): number {
    const socket = this.open();
    for (const part of this.framed(payload)) socket.write(part === payload ? Buffer.from(part) : part);
    return socket.writableLength;
  }

  /**
   * @internal Poll the socket itself (not the event loop) for up to `us` microseconds and
   * read what arrives into the buffer. A reply that comes within the spin costs no
   * sleep and wake-up of this thread (30-60 us on a busy machine). True if data came.
   */
  spinRead(us: number): boolean {
    if (this.fd < 0 || this.socket === null || this.eof) return false;
    const end = performance.now() + us / 1000;
    do {
      if (this.fillSync(0)) return true;
    } while (performance.now() < end);
    return false;
  }

  /** @internal spinRead, then hand what came to the stream's sink. True if something came. */
  spinStream(us: number): boolean {
    const sink = this.sink;
    if (sink === null) return false;
    try {
      if (!this.spinRead(us)) return false;
    } catch (err) {
      this.endStream(sink, err as Error);
      return false;
    }
    this.pump(sink);
    return true;
  }

  /**
   * @internal Stop (true) or resume (false) handing frames to the stream's sink: a
   * server holds a client that does not read its replies, instead of buffering for it.
   */
  holdStream(on: boolean): void {
    this.held = on;
    if (on) this.socket?.pause();
    else {
      this.socket?.resume();
      if (this.sink !== null) this.pump(this.sink);
    }
  }

  /** @internal Run `fn` once the socket's write buffer has drained. */
  onDrain(fn: () => void): void {
    this.socket?.once('drain', fn);
  }

  /** @internal Whether this socket keeps the event loop alive (unref'd while idle). */
  setRef(on: boolean): void {
    if (on) this.socket?.ref();
    else this.socket?.unref();
  }
}

/** @internal Receives the frames of a streamed connection (SocketConnection.stream). */
export interface FrameSink {
  frame(payload: Buffer): void;
  end(err: Error | null): void;
  /** After frames were delivered and none is left: whether to spin for more, and for how long. */
  spin?: { budget(): number; result(hit: boolean): void };
}
