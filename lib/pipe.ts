// Pipe and its connections: two rings (one per direction), or one for a one-way
// pipe. Messages keep their boundaries; empty byte messages are fine. A reader whose
// writers all closed (or died) gets EOFError once the ring is drained; a writer whose
// readers are all gone gets a broken-pipe error (pipe_ends.ts does the counting).
import { Connection, brokenPipe, bytesArg, maxlengthArg, tooLong } from './connection.js';
import { EOFError, ValueError } from './errors.js';
import { Feeder, type PutResult } from './feeder.js';
import { integer, orNull } from './handle_shape.js';
import { MessageReader, Outgoing, leftoverBlocks } from './messages.js';
import { READERS, type Side, WRITERS, adoptEnd, dropEnd, endClosed, endGone, holdEnd, sendEnd } from './pipe_ends.js';
import { HANDLE_KIND, type Shareable, type SharedHandle, registerReviver, toHandle } from './reduction.js';
import { CLOSED, GONE, Ring } from './ring.js';
import { ringField } from './ring_handle.js';
import { checkBoolean, checkOptions, timeoutToMs } from './validate.js';
import { PID } from './owner.js';

/** Ring size of each direction of a pipe (Linux's pipe buffer is 64 KiB). */
const PIPE_RING_BYTES = 64 * 1024;
const READER_CHECK_MS = 100;

/** One end of a Pipe. */
export class PipeConnection extends Connection implements Shareable {
  private recvRing: Ring | null;
  private sendRing: Ring | null;
  private feeder: Feeder | null = null;
  private readonly out = new Outgoing();
  private readonly reader = new MessageReader();
  private readonly bytesReader = new MessageReader(true);
  private readonly writersGone: () => boolean;
  private readersCheckedAt = 0;

  /** @internal Pipe() makes connections. */
  constructor(recvRing: Ring | null, sendRing: Ring | null, from?: number) {
    super();
    this.recvRing = recvRing;
    this.sendRing = sendRing;
    if (recvRing !== null) this.hold(recvRing, READERS, from);
    if (sendRing !== null) {
      this.hold(sendRing, WRITERS, from);
      const ring = sendRing;
      this.feeder = new Feeder(ring, 0, () => endGone(ring.header, READERS));
    }
    const r = recvRing;
    this.writersGone = () => r !== null && endGone(r.header, WRITERS);
    if (recvRing !== null || sendRing !== null) closer.register(this, { recvRing, sendRing, feeder: this.feeder }, this);
  }

  private hold(ring: Ring, side: Side, from: number | undefined): void {
    if (from === undefined) holdEnd(ring.header, side);
    else adoptEnd(ring.header, side, from);
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.recvRing === null && this.sendRing === null;
  }

  get readable(): boolean {
    return this.recvRing !== null;
  }

  get writable(): boolean {
    return this.sendRing !== null;
  }

  [toHandle](): SharedHandle {
    if (this.closed) throw closedError();
    if (this.recvRing !== null) sendEnd(this.recvRing.header, READERS);
    if (this.sendRing !== null) sendEnd(this.sendRing.header, WRITERS);
    return {
      [HANDLE_KIND]: 'Connection',
      r: this.recvRing?.handle() ?? null,
      w: this.sendRing?.handle() ?? null,
      from: PID,
    };
  }

  private checkSend(): { ring: Ring; feeder: Feeder } {
    if (this.closed) throw closedError();
    if (this.sendRing === null || this.feeder === null) throw new ValueError('Connection is read-only');
    const ring = this.sendRing;
    if (endClosed(ring.header, READERS)) throw brokenPipe('the other end of the pipe is closed');
    // A reader killed without closing is found by a scan of the holders: done only while
    // the reader is behind (messages wait in the ring), at most every READER_CHECK_MS.
    if (!ring.isEmpty()) {
      const now = performance.now();
      if (now - this.readersCheckedAt > READER_CHECK_MS) {
        this.readersCheckedAt = now;
        if (endGone(ring.header, READERS)) throw brokenPipe('the process at the other end of the pipe died');
      }
    }
    return { ring, feeder: this.feeder };
  }

  private checkRecv(): Ring {
    if (this.closed) throw closedError();
    if (this.recvRing === null) throw new ValueError('Connection is write-only');
    return this.recvRing;
  }

  private encode(ring: Ring, obj: unknown): Outgoing {
    return this.out.value(ring, obj, 'Connection', 'send');
  }

  private static sent(result: PutResult): void {
    if (result === GONE) throw brokenPipe('the other end of the pipe is closed');
    if (result === CLOSED) throw closedError();
  }

  /** Send `obj` (structured clone, shared objects as handles); resolves when it is in the pipe. */
  async send(obj: unknown): Promise<void> {
    const { ring, feeder } = this.checkSend();
    PipeConnection.sent(await feeder.put(this.encode(ring, obj), Infinity, false));
  }

  /** send() that blocks while the pipe is full. */
  sendSync(obj: unknown): void {
    const { ring, feeder } = this.checkSend();
    PipeConnection.sent(feeder.putSync(this.encode(ring, obj), Infinity, false));
  }

  private bytesOut(buf: unknown, offset: unknown, size: unknown): Outgoing {
    const { ring } = this.checkSend();
    return this.out.bytes(ring, bytesArg(buf, offset, size), 'Connection', 'sendBytes');
  }

  /** Send bytes as one message (Python's send_bytes); offset and size count bytes. */
  async sendBytes(buf: ArrayBufferView, offset?: number, size?: number): Promise<void> {
    const out = this.bytesOut(buf, offset, size);
    PipeConnection.sent(await this.feeder!.put(out, Infinity, false));
  }

  sendBytesSync(buf: ArrayBufferView, offset?: number, size?: number): void {
    const out = this.bytesOut(buf, offset, size);
    PipeConnection.sent(this.feeder!.putSync(out, Infinity, false));
  }

  private received(got: unknown, reader: MessageReader): unknown {
    if (got === GONE) throw new EOFError('the other end of the pipe is closed and nothing is left to receive');
    if (got === CLOSED) throw closedError(); // this end was closed while it waited
    return reader.finish(got);
  }

  /** The next message; rejects with EOFError when the other end closed and the pipe is drained. */
  async recv(): Promise<unknown> {
    const ring = this.checkRecv();
    return this.received(await ring.take(this.reader, Infinity, undefined, this.writersGone), this.reader);
  }

  recvSync(): unknown {
    const ring = this.checkRecv();
    return this.received(ring.takeSync(this.reader, Infinity, this.writersGone), this.reader);
  }

  private static limit(bytes: Buffer, maxlength: number): Buffer {
    if (bytes.length > maxlength) throw tooLong(bytes.length, maxlength);
    return bytes;
  }

  /** The next message as bytes (Python's recv_bytes). ValueError when longer than `maxlength`. */
  async recvBytes(maxlength?: number): Promise<Buffer> {
    const max = maxlengthArg(maxlength);
    const ring = this.checkRecv();
    const got = await ring.take(this.bytesReader, Infinity, undefined, this.writersGone);
    return PipeConnection.limit(this.received(got, this.bytesReader) as Buffer, max);
  }

  recvBytesSync(maxlength?: number): Buffer {
    const max = maxlengthArg(maxlength);
    const ring = this.checkRecv();
    const got = ring.takeSync(this.bytesReader, Infinity, this.writersGone);
    return PipeConnection.limit(this.received(got, this.bytesReader) as Buffer, max);
  }

  async pollUntil(timeout: number | null, signal?: AbortSignal): Promise<boolean> {
    const ms = timeoutToMs('timeout', timeout);
    const ring = this.checkRecv();
    const got = await ring.poll(ms, signal, this.writersGone);
    if (got === CLOSED) throw closedError();
    return got !== false;
  }

  pollSync(timeout: number | null = 0): boolean {
    const ms = timeoutToMs('timeout', timeout);
    const ring = this.checkRecv();
    return ring.pollSync(ms, this.writersGone) !== false;
  }

  /**
   * Close this end; the peer's recv then ends with EOFError once drained, and a recv or
   * poll of this end still waiting rejects. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    closer.unregister(this);
    const ends = { recvRing: this.recvRing, sendRing: this.sendRing, feeder: this.feeder };
    this.recvRing = null;
    this.sendRing = null;
    this.feeder = null;
    releaseEnds(ends);
  }
}

const closedError = () => new ValueError('Connection is closed');

interface Ends {
  recvRing: Ring | null;
  sendRing: Ring | null;
  feeder: Feeder | null;
}

function releaseEnds({ recvRing, sendRing, feeder }: Ends): void {
  if (recvRing !== null) release(recvRing, READERS);
  if (sendRing !== null) {
    // Messages still pending here go first, as an OS pipe's buffer would (and the ring
    // must outlive the flush that writes them).
    if (feeder === null || feeder.pending === 0) release(sendRing, WRITERS);
    else void feeder.idle().then(() => release(sendRing, WRITERS));
  }
}

function release(ring: Ring, side: Side): void {
  dropEnd(ring.header, side);
  ring.wakeAll();
  ring.release(leftoverBlocks);
}

/** Connections collected without close() still let their peers see EOF. */
const closer = new FinalizationRegistry<Ends>(releaseEnds);

export interface PipeOptions {
  /** false: a one-way pipe, the first connection receives and the second sends. Default true. */
  duplex?: boolean;
}

/** Two connected ends (Python's multiprocessing.Pipe). */
export function Pipe(options?: PipeOptions): [PipeConnection, PipeConnection] {
  const { duplex = true } = checkOptions<PipeOptions>('options', options);
  checkBoolean('options.duplex', duplex);
  // Each connection holds its own reference to each of its rings.
  if (!duplex) {
    const a = Ring.create(PIPE_RING_BYTES);
    return [new PipeConnection(a, null), new PipeConnection(null, a.retain())];
  }
  const [a, b] = Ring.createPair(PIPE_RING_BYTES);
  return [new PipeConnection(a, b), new PipeConnection(b.retain(), a.retain())];
}

const CONNECTION_SHAPE = { r: orNull(ringField), w: orNull(ringField), from: integer(1, 2 ** 31 - 1) };

registerReviver('Connection', CONNECTION_SHAPE, ({ r, w, from }) => {
  return new PipeConnection(r === null ? null : Ring.attach(r), w === null ? null : Ring.attach(w), from);
});
