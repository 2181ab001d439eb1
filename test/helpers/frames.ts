// Reading mp.connection frames (4-byte big-endian length, then the payload) from a raw
// socket, for the tests that play a peer by hand (fake servers and clients).
import type { Socket } from 'node:net';

export class FrameReader {
  /** Bytes received and not yet taken as frames. */
  buf = Buffer.alloc(0);
  /** The socket ended, closed or failed. */
  ended = false;
  private wakers: (() => void)[] = [];

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  private wake(): void {
    for (const w of this.wakers.splice(0)) w();
  }

  /** The next whole frame's payload if it is buffered, else null. */
  private take(): Buffer | null {
    if (this.buf.length < 4) return null;
    const n = this.buf.readInt32BE(0);
    if (n < 0 || this.buf.length < 4 + n) return null;
    const f = this.buf.subarray(4, 4 + n);
    this.buf = this.buf.subarray(4 + n);
    return f;
  }

  /** The next frame's payload, or null at the end of the stream or after `ms`. */
  async next(ms = 2000): Promise<Buffer | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.take();
      if (f !== null) return f;
      const left = deadline - Date.now();
      if (this.ended || left <= 0) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wakers.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}
