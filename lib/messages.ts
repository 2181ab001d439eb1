// Messages over a ring (queues and pipes): a value or raw bytes becomes one record. A
// message too big for the ring travels in a shared block of its own (heap.ts: an arena
// block, or a dedicated segment above 64 KiB), and the record carries the block's handle;
// the reader maps it, reads it and drops it, and the block goes away. A handle carries a
// reference of its own, so the block lives while the record is in the ring, and the
// resource tracker removes it if the whole tree dies first. The block is internal
// (heap.ts): the writer's mapping goes as soon as it is written, the reader's as soon as
// it is read (the message is decoded into memory of its own), not at a GC.
import { Decoder, Encoder, revive } from './codec.js';
import { withContext } from './error_context.js';
import { type Block, type BlockHandle, allocate, attachBlock, blockHandle, dropHandle, releaseBlock } from './heap.js';
import { FLAG_BYTES, FLAG_EXTERNAL, type RecordReader, type Ring } from './ring.js';

/** A message ready to go into a ring: `payload[0, length)`, valid until the next encode. */
export class Outgoing {
  payload: Uint8Array = new Uint8Array(0);
  length = 0;
  flags = 0;
  /** The block a big message went into (to drop if the message is never sent). */
  external: BlockHandle | null = null;
  private readonly encoder = new Encoder();
  private readonly handleEncoder = new Encoder();

  /**
   * Encode `value` for `ring`. `owner` and `method` name the call in errors ('Queue',
   * 'put'): a value the codec refuses is a TypeError; no shared memory for a big message
   * keeps its code (ENOSPC, ENOMEM).
   */
  value(ring: Ring, value: unknown, owner: string, method: string): this {
    let n: number;
    try {
      n = this.encoder.encodeLength(value);
    } catch (err) {
      throw new TypeError(`${owner}.${method}: the object cannot be sent to another process: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return this.fit(ring, this.encoder.bytes, n, 0, owner, method);
  }

  /** Raw bytes (Connection.sendBytes): `bytes` is copied into the ring or a block. */
  bytes(ring: Ring, bytes: Uint8Array, owner: string, method: string): this {
    return this.fit(ring, bytes, bytes.length, FLAG_BYTES, owner, method);
  }

  private fit(ring: Ring, bytes: Uint8Array, n: number, flags: number, owner: string, method: string): this {
    this.external = null;
    if (n <= ring.maxPayload) {
      this.payload = bytes;
      this.length = n;
      this.flags = flags;
      return this;
    }
    let block: Block;
    try {
      block = allocate(n, 16, true);
    } catch (err) {
      throw withContext(err, `${owner}.${method}: no shared memory for a ${n}-byte message (too big for the ring, it needs a block of its own)`);
    }
    try {
      new Uint8Array(block.buffer, block.byteOffset, n).set(bytes.subarray(0, n));
      this.external = blockHandle(block);
    } finally {
      releaseBlock(block);
    }
    this.encoder.shrink();
    this.payload = this.handleEncoder.encode(this.external);
    this.length = this.payload.length;
    this.flags = flags | FLAG_EXTERNAL;
    return this;
  }
}

/** Drop the block of a big message that was never put (its handle's reference). */
export function discardExternal(handle: BlockHandle | null): void {
  if (handle !== null) dropHandle(handle);
}

/**
 * A record read under the ring's lock that still needs work once it is consumed: shared
 * handles to revive, or a big message to fetch from its block. Doing that work after the
 * consume keeps it once-only even when a reader dies mid-read and the record is read again.
 */
class Deferred {
  constructor(
    readonly value: unknown,
    readonly flags: number,
    readonly wire: boolean,
  ) {}
}

function copyOut(data: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  out.set(data.subarray(start, end));
  return out;
}

/** Reads message records; `asBytes` gives every message as its bytes (recvBytes). */
export class MessageReader implements RecordReader<unknown> {
  private readonly decoder = new Decoder();
  /**
   * Called with a message as it is read, while its record is not yet consumed (the
   * ring's readers' lock held): a pool worker claims its task there, so that no instant
   * exists where the task is taken but not yet claimed. A v8-format message is passed in
   * wire form; a big one (in a block of its own) is not passed at all.
   */
  onRead: ((value: unknown) => void) | null = null;
  constructor(private readonly asBytes = false) {}

  read(data: Uint8Array, start: number, end: number, flags: number): unknown {
    if ((flags & FLAG_EXTERNAL) !== 0) return new Deferred(this.decoder.decode(data, start, end), flags, false);
    if (this.asBytes || (flags & FLAG_BYTES) !== 0) return copyOut(data, start, end);
    const value = this.decoder.decode(data, start, end);
    // A v8-format message is seen in wire form (shared handles not revived yet), which
    // is enough for onRead's purpose (a pool task's chunk id).
    this.onRead?.(value);
    return this.decoder.wire ? new Deferred(value, flags, true) : value;
  }

  /** The message a record read by `read` stands for (call once, after the consume). */
  finish(read: unknown): unknown {
    if (!(read instanceof Deferred)) return read;
    if (read.wire) return revive(read.value, true);
    const block = attachBlock(read.value as BlockHandle, true);
    try {
      const data = new Uint8Array(block.buffer, block.byteOffset, block.byteLength);
      if (this.asBytes || (read.flags & FLAG_BYTES) !== 0) return copyOut(data, 0, data.length);
      const value = this.decoder.decode(data, 0, data.length);
      return revive(value, this.decoder.wire);
    } finally {
      releaseBlock(block);
    }
  }
}

/** For Ring.release: frees the block a leftover big message points to. */
export const leftoverBlocks: RecordReader<void> = {
  read(data, start, end, flags) {
    if ((flags & FLAG_EXTERNAL) !== 0) discardExternal(new Decoder().decode(data, start, end) as BlockHandle);
  },
};
