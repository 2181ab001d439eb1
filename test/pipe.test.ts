// Pipe and Connection, in this process and across real processes (targets in
// fixtures/pipe-targets.mjs).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as mp from 'multiprocessing';
import { afterEach, describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';
import { fixtureUrl } from './helpers/scripts.js';

const T = (name: string) => ({ module: fixtureUrl('pipe-targets.mjs'), name });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type ErrorClass = abstract new (...args: never[]) => Error;

const started: mp.Process[] = [];

function start(name: string, args: unknown[]): mp.Process {
  const p = new mp.Process({ target: T(name), args });
  p.start();
  started.push(p);
  return p;
}

afterEach(async () => {
  for (const p of started.splice(0)) {
    try {
      if (p.isAlive()) p.kill();
      await p.join(10);
    } catch {
      // closed already
    }
  }
});

/** The promise rejects with an instance of `type` whose message matches `re`. */
async function expectRejects(promise: Promise<unknown>, type: ErrorClass, re: RegExp = /./): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(type);
  expect((caught as Error).message).toMatch(re);
  return caught as Error;
}

/** `fn()` throws (or its promise rejects with) an error whose `code` is EPIPE. */
async function expectEpipe(fn: () => unknown): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, String(fn)).toBeInstanceOf(Error);
  expect((caught as { code?: string }).code, String(fn)).toBe('EPIPE');
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Run `code` as an ES module program (it can import 'multiprocessing'); SIGKILL it after `ms`. */
function runInline(code: string, ms: number): Promise<{ stdout: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let timedOut = false;
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, ms);
    proc.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout, timedOut });
    });
  });
}

function filled(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

// The fixture's byte pattern and checksum, for the big-message exchange.
const pattern = (i: number) => (i * 31 + (i >>> 8)) & 0xff;
function checksum(buf: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < buf.length; i++) s = (s * 33 + buf[i]!) >>> 0;
  return s;
}

describe('Pipe in one process', () => {
  it('Pipe() is duplex: each end sends to the other, sync and async', async () => {
    const [a, b] = mp.Pipe();
    expect(a).toBeInstanceOf(mp.Connection);
    expect([a.readable, a.writable, b.readable, b.writable]).toEqual([true, true, true, true]);
    a.sendSync({ from: 'a', n: 1 });
    b.sendSync(['from b', 2]);
    expect(b.recvSync()).toEqual({ from: 'a', n: 1 });
    expect(a.recvSync()).toEqual(['from b', 2]);
    await a.send('async a');
    await b.send(new Map([['k', 1n]]));
    expect(await b.recv()).toBe('async a');
    expect(await a.recv()).toEqual(new Map([['k', 1n]]));
    // A recv that waits is served by a later send.
    const pending = a.recv();
    await sleep(20);
    await b.send('later');
    expect(await pending).toBe('later');
    expect(mp.Pipe({ duplex: true })[0].writable).toBe(true);
    for (const c of [a, b]) c.close();
  });

  it('Pipe({ duplex: false }): conn1 only receives, conn2 only sends; the wrong way is a ValueError', async () => {
    const [r, w] = mp.Pipe({ duplex: false });
    expect([r.readable, r.writable, w.readable, w.writable]).toEqual([true, false, false, true]);
    w.sendSync('one way');
    await w.sendBytes(Buffer.from('bytes'));
    expect(r.recvSync()).toBe('one way');
    expect((await r.recvBytes()).toString()).toBe('bytes');

    expectThrows(() => r.sendSync(1), mp.ValueError, /read-only/);
    expectThrows(() => r.sendBytesSync(Buffer.alloc(1)), mp.ValueError, /read-only/);
    await expectRejects(r.send(1), mp.ValueError, /read-only/);
    await expectRejects(r.sendBytes(Buffer.alloc(1)), mp.ValueError, /read-only/);
    expectThrows(() => w.recvSync(), mp.ValueError, /write-only/);
    expectThrows(() => w.recvBytesSync(), mp.ValueError, /write-only/);
    expectThrows(() => w.recvBytesIntoSync(Buffer.alloc(4)), mp.ValueError, /write-only/);
    expectThrows(() => w.pollSync(), mp.ValueError, /write-only/);
    await expectRejects(w.recv(), mp.ValueError, /write-only/);
    await expectRejects(w.recvBytes(), mp.ValueError, /write-only/);
    await expectRejects(w.recvBytesInto(Buffer.alloc(4)), mp.ValueError, /write-only/);
    await expectRejects(w.poll(), mp.ValueError, /write-only/);
    const err = await expectRejects(w.poll(1), mp.ValueError);
    expect((err as mp.ValueError).code).toBe('ERR_MP_VALUE');
    r.close();
    w.close();
  });

  it('keeps message boundaries over many small and large messages in a row', async () => {
    const [a, b] = mp.Pipe();
    const sizes = [0, 1, 7, 8, 9, 100, 4095, 4096, 32_760, 32_761, 40_000, 65_536, 70_000, 3, 200_000, 0, 5];
    // Sync, one at a time.
    for (const [k, size] of sizes.entries()) {
      const buf = filled(size, k);
      b.sendBytesSync(buf);
      expect(a.recvBytesSync().equals(buf)).toBe(true);
    }
    // Async sends queued without awaiting, more than the ring holds: order and boundaries kept.
    const sends: Promise<void>[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [k, size] of sizes.entries()) {
        sends.push(b.sendBytes(filled(size, k + round)));
        sends.push(b.send({ round, k, s: 'x'.repeat(size % 1000) }));
      }
    }
    for (let round = 0; round < 3; round++) {
      for (const [k, size] of sizes.entries()) {
        expect((await a.recvBytes()).equals(filled(size, k + round))).toBe(true);
        expect(await a.recv()).toEqual({ round, k, s: 'x'.repeat(size % 1000) });
      }
    }
    await Promise.all(sends);
    // Thousands of tiny messages, several ring turns.
    for (let i = 0; i < 5000; i++) {
      b.sendSync(i);
      if (i % 100 === 99) for (let j = i - 99; j <= i; j++) expect(a.recvSync()).toBe(j);
    }
    expect(a.pollSync()).toBe(false);
    a.close();
    b.close();
  });

  it('carries empty messages: an empty Buffer, an empty string, an empty array', async () => {
    const [a, b] = mp.Pipe();
    b.sendBytesSync(Buffer.alloc(0));
    await b.sendBytes(new Uint8Array(0));
    b.sendBytesSync(Buffer.from('abc'), 3);
    b.sendBytesSync(Buffer.from('abc'), 1, 0);
    b.sendSync('');
    await b.send([]);
    b.sendSync({});
    expect(a.pollSync()).toBe(true);
    for (let i = 0; i < 4; i++) {
      const got = i % 2 === 0 ? a.recvBytesSync() : await a.recvBytes();
      expect(Buffer.isBuffer(got)).toBe(true);
      expect(got.length).toBe(0);
    }
    expect(a.recvSync()).toBe('');
    expect(await a.recv()).toEqual([]);
    expect(a.recvSync()).toEqual({});
    b.sendBytesSync(Buffer.alloc(0));
    expect(a.recvBytesIntoSync(Buffer.alloc(0))).toBe(0);
    expect(a.pollSync()).toBe(false);
    a.close();
    b.close();
  });

  it('sendBytes(buf, offset, size) takes Buffers and other typed arrays; offset and size count bytes', async () => {
    const [a, b] = mp.Pipe();
    // A pooled Buffer: its bytes start at a byteOffset of the pool.
    const pooled = Buffer.from('hello, world');
    b.sendBytesSync(pooled);
    b.sendBytesSync(pooled, 7);
    b.sendBytesSync(pooled, 7, 3);
    await b.sendBytes(pooled, 0, 5);
    expect(a.recvBytesSync().toString()).toBe('hello, world');
    expect(a.recvBytesSync().toString()).toBe('world');
    expect(a.recvBytesSync().toString()).toBe('wor');
    expect((await a.recvBytes()).toString()).toBe('hello');

    const u16 = new Uint16Array([0x0201, 0x0403, 0x0605, 0x0807]);
    b.sendBytesSync(u16);
    b.sendBytesSync(u16, 2, 4); // bytes, not elements
    b.sendBytesSync(u16, 3, 3); // an odd offset is fine
    expect([...a.recvBytesSync()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...a.recvBytesSync()]).toEqual([3, 4, 5, 6]);
    expect([...a.recvBytesSync()]).toEqual([4, 5, 6]);

    const f64 = new Float64Array([1.5, -2, 3.25]);
    const view = f64.subarray(1); // byteOffset 8
    b.sendBytesSync(view);
    b.sendBytesSync(view, 8);
    expect(new Float64Array(new Uint8Array(a.recvBytesSync()).buffer)).toEqual(new Float64Array([-2, 3.25]));
    expect(new Float64Array(new Uint8Array(a.recvBytesSync()).buffer)).toEqual(new Float64Array([3.25]));

    const i32 = new Int32Array([-1, 0x01020304]);
    const dv = new DataView(i32.buffer, 4, 4);
    b.sendBytesSync(dv);
    b.sendBytesSync(i32, 4, 2);
    expect([...a.recvBytesSync()]).toEqual([4, 3, 2, 1]);
    expect([...a.recvBytesSync()]).toEqual([4, 3]);
    b.sendBytesSync(new BigInt64Array([-1n]), 0, 8);
    expect([...a.recvBytesSync()]).toEqual([255, 255, 255, 255, 255, 255, 255, 255]);

    // Out of range offset/size.
    expect(() => b.sendBytesSync(pooled, 13)).toThrow(/offset/);
    expect(() => b.sendBytesSync(pooled, 10, 3)).toThrow(/size/);
    expect(() => b.sendBytesSync(pooled, -1)).toThrow(/offset/);
    expect(() => b.sendBytesSync(pooled, 0, -1)).toThrow(/size/);
    expect(() => b.sendBytesSync(u16, 0, 9)).toThrow(/size/);
    await expect(b.sendBytes(pooled, 13)).rejects.toThrow(/offset/);
    expect(a.pollSync()).toBe(false);
    a.close();
    b.close();
  });

  it('recvBytes(maxlength): a longer message is a ValueError', async () => {
    const [a, b] = mp.Pipe();
    b.sendBytesSync(Buffer.from('12345'));
    expect(a.recvBytesSync(5).toString()).toBe('12345');
    b.sendBytesSync(Buffer.from('12345'));
    expectThrows(() => a.recvBytesSync(4), mp.ValueError, /longer|maxlength/);
    b.sendBytesSync(Buffer.alloc(100_000));
    await expectRejects(a.recvBytes(99_999), mp.ValueError, /longer|maxlength/);
    b.sendBytesSync(Buffer.from('x'));
    const got = await a.recvBytes(1);
    expect(got.toString()).toBe('x');
    a.close();
    b.close();
  });

  it('recvBytesInto(buf, offset) returns the length; BufferTooShort holds the whole message', async () => {
    const [a, b] = mp.Pipe();
    const target = Buffer.alloc(10, 0xee);
    b.sendBytesSync(Buffer.from('abc'));
    expect(a.recvBytesIntoSync(target)).toBe(3);
    expect(target.toString('latin1', 0, 4)).toBe('abc\xee');
    b.sendBytesSync(Buffer.from('xyz'));
    expect(await a.recvBytesInto(target, 7)).toBe(3);
    expect(target.subarray(7).toString()).toBe('xyz');

    // A typed array target: offset counts bytes.
    const u32 = new Uint32Array(2);
    b.sendBytesSync(new Uint8Array([1, 0, 0, 0]));
    expect(a.recvBytesIntoSync(u32, 4)).toBe(4);
    expect([...u32]).toEqual([0, 1]);
    const part = new Uint8Array(new ArrayBuffer(8), 2, 4); // a view with a byteOffset
    b.sendBytesSync(Buffer.from([9, 8]));
    expect(await a.recvBytesInto(part, 2)).toBe(2);
    expect([...new Uint8Array(part.buffer)]).toEqual([0, 0, 0, 0, 9, 8, 0, 0]);

    // Too short: BufferTooShort with the whole message, the target untouched, the message consumed.
    const small = Buffer.alloc(4);
    b.sendBytesSync(Buffer.from('too long message'));
    let err: unknown;
    try {
      a.recvBytesIntoSync(small);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(mp.BufferTooShort);
    expect(err).toBeInstanceOf(mp.MultiprocessingError);
    expect((err as mp.BufferTooShort).code).toBe('ERR_MP_BUFFER_TOO_SHORT');
    expect(Buffer.from((err as mp.BufferTooShort).data).toString()).toBe('too long message');
    expect(small.equals(Buffer.alloc(4))).toBe(true);

    b.sendBytesSync(Buffer.from('fits 4 but not at 1'.slice(0, 4)));
    const e2 = await expectRejects(a.recvBytesInto(small, 1), mp.BufferTooShort);
    expect(Buffer.from((e2 as mp.BufferTooShort).data).toString()).toBe('fits');

    // A big message too: .data holds all of it.
    const big = filled(300_000, 3);
    b.sendBytesSync(big);
    const e3 = await expectRejects(a.recvBytesInto(Buffer.alloc(1000)), mp.BufferTooShort);
    expect(Buffer.from((e3 as mp.BufferTooShort).data).equals(big)).toBe(true);

    // The next message is still there.
    b.sendBytesSync(Buffer.from('next'));
    expect(a.recvBytesIntoSync(small)).toBe(4);
    expect(small.toString()).toBe('next');
    expect(a.pollSync()).toBe(false);
    a.close();
    b.close();
  });

  it('poll: false when nothing, true when a message is there (not consumed), true at EOF', async () => {
    const [a, b] = mp.Pipe();
    expect(a.pollSync()).toBe(false);
    expect(a.pollSync(0)).toBe(false);
    expect(a.pollSync(-1)).toBe(false);
    expect(await a.poll()).toBe(false);
    expect(await a.poll(0.01)).toBe(false);
    b.sendSync('m');
    expect(a.pollSync()).toBe(true);
    expect(await a.poll()).toBe(true);
    expect(await a.poll(null)).toBe(true);
    expect(a.pollSync(5)).toBe(true);
    expect(a.recvSync()).toBe('m');
    expect(a.pollSync()).toBe(false);

    // An async poll resolves true as soon as a message arrives.
    let t = performance.now();
    const polling = a.poll(10);
    setTimeout(() => b.sendSync('late'), 100);
    expect(await polling).toBe(true);
    expect(performance.now() - t).toBeLessThan(3000);
    expect(a.recvSync()).toBe('late');

    // A poll(null) waits for ever, until a message (or EOF) comes.
    const forever = a.poll(null);
    setTimeout(() => b.sendSync('x'), 50);
    expect(await forever).toBe(true);
    expect(a.recvSync()).toBe('x');

    // EOF counts as readable.
    b.close();
    expect(a.pollSync()).toBe(true);
    expect(await a.poll()).toBe(true);
    t = performance.now();
    expect(a.pollSync(5)).toBe(true);
    expect(await a.poll(5)).toBe(true);
    expect(performance.now() - t).toBeLessThan(1000);
    a.close();
  });

  it('poll(timeout) waits about the timeout, sync and async', async () => {
    const [a, b] = mp.Pipe();
    let t = performance.now();
    expect(a.pollSync(0.2)).toBe(false);
    let took = performance.now() - t;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1500);
    t = performance.now();
    expect(await a.poll(0.2)).toBe(false);
    took = performance.now() - t;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1500);
    // The loop keeps ticking during an async poll.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    expect(await a.poll(0.3)).toBe(false);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(10);
    a.close();
    b.close();
  });

  it('closed, readable, writable; close() is idempotent; use after close is a ValueError', async () => {
    const [a, b] = mp.Pipe();
    expect(a.closed).toBe(false);
    a.close();
    a.close();
    expect(a.closed).toBe(true);
    expect(a.readable).toBe(false);
    expect(a.writable).toBe(false);
    expect(b.closed).toBe(false);
    const buf = Buffer.alloc(4);
    for (const fn of [
      () => a.sendSync(1),
      () => a.recvSync(),
      () => a.pollSync(),
      () => a.sendBytesSync(buf),
      () => a.recvBytesSync(),
      () => a.recvBytesIntoSync(buf),
    ]) {
      expectThrows(fn, mp.ValueError, /closed/);
    }
    await expectRejects(a.send(1), mp.ValueError, /closed/);
    await expectRejects(a.recv(), mp.ValueError, /closed/);
    await expectRejects(a.poll(), mp.ValueError, /closed/);
    await expectRejects(a.sendBytes(buf), mp.ValueError, /closed/);
    await expectRejects(a.recvBytes(), mp.ValueError, /closed/);
    await expectRejects(a.recvBytesInto(buf), mp.ValueError, /closed/);
    // Closing one end leaves the other open (and seeing EOF).
    expect(b.readable && b.writable).toBe(true);
    expectThrows(() => b.recvSync(), mp.EOFError, /./);
    b.close();
    expect(b.closed).toBe(true);
    const [r, w] = mp.Pipe({ duplex: false });
    r.close();
    w.close();
    w.close();
    expect([r.closed, w.closed]).toEqual([true, true]);
  });

  it('supports using: the end is closed when the block ends, and the peer sees EOF', () => {
    const [a, b] = mp.Pipe();
    {
      using end = b;
      end.sendSync('from the block');
      expect(end.closed).toBe(false);
    }
    expect(b.closed).toBe(true);
    expect(a.recvSync()).toBe('from the block');
    expectThrows(() => a.recvSync(), mp.EOFError, /./);
    a[Symbol.dispose]();
    expect(a.closed).toBe(true);
    a[Symbol.dispose]();
  });

  it('EOFError once the peer closed and the pipe is drained, sync and async; earlier messages come first', async () => {
    const [a, b] = mp.Pipe();
    b.sendSync('first');
    b.sendBytesSync(Buffer.from('second'));
    b.sendSync(filled(100_000, 1)); // travels outside the ring
    b.close();
    expect(a.recvSync()).toBe('first');
    expect((await a.recvBytes()).toString()).toBe('second');
    expect((a.recvSync() as Buffer).equals(filled(100_000, 1))).toBe(true);
    const err = (() => {
      try {
        a.recvSync();
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(mp.EOFError);
    expect((err as mp.EOFError).code).toBe('ERR_MP_EOF');
    // And again, every way.
    expectThrows(() => a.recvSync(), mp.EOFError, /./);
    expectThrows(() => a.recvBytesSync(), mp.EOFError, /./);
    expectThrows(() => a.recvBytesIntoSync(Buffer.alloc(10)), mp.EOFError, /./);
    await expectRejects(a.recv(), mp.EOFError);
    await expectRejects(a.recvBytes(), mp.EOFError);
    await expectRejects(a.recvBytesInto(Buffer.alloc(10)), mp.EOFError);
    a.close();

    // Async sends still pending at close() are delivered before EOF.
    const [c, d] = mp.Pipe();
    const big = filled(40_000, 9); // only one fits the 64 KiB ring at a time
    const sends = [d.sendBytes(big), d.sendBytes(big), d.send('last')];
    d.close();
    expect((await c.recvBytes()).equals(big)).toBe(true);
    expect((await c.recvBytes()).equals(big)).toBe(true);
    expect(await c.recv()).toBe('last');
    await Promise.all(sends);
    await expectRejects(c.recv(), mp.EOFError);
    c.close();
  });

  it('a recv waiting when the peer closes ends with EOFError', async () => {
    const [a, b] = mp.Pipe();
    const waiting = a.recv();
    await sleep(50);
    b.close();
    const t = performance.now();
    await expectRejects(waiting, mp.EOFError);
    expect(performance.now() - t).toBeLessThan(2000);
    a.close();
  });

  it('sending when the reading end is closed is an error with code EPIPE', async () => {
    const [r, w] = mp.Pipe({ duplex: false });
    r.close();
    await expectEpipe(() => w.sendSync('x'));
    await expectEpipe(() => w.send('x'));
    await expectEpipe(() => w.sendBytesSync(Buffer.from('x')));
    await expectEpipe(() => w.sendBytes(Buffer.from('x')));
    await expectEpipe(() => w.send(filled(1 << 20, 0)));
    w.close();

    const [a, b] = mp.Pipe();
    a.close();
    await expectEpipe(() => b.sendSync('x'));
    await expectEpipe(() => b.send('x'));
    expectThrows(() => b.recvSync(), mp.EOFError, /./);
    b.close();

    // Sends waiting for room in a full ring fail when the reader closes.
    const [r2, w2] = mp.Pipe({ duplex: false });
    const chunk = filled(30_000, 2);
    const pending = Array.from({ length: 6 }, () => w2.sendBytes(chunk));
    const outcomes = pending.map((p) => p.then(() => 'sent', (e: { code?: string }) => e.code));
    await sleep(50);
    r2.close();
    const results = await Promise.race([Promise.all(outcomes), sleep(5000).then(() => 'timed out')]);
    expect(results).not.toBe('timed out');
    expect(results as string[]).toContain('EPIPE');
    expect((results as string[]).filter((x) => x !== 'sent' && x !== 'EPIPE')).toEqual([]);
    w2.close();
  });

  it('bad argument types are TypeErrors naming the argument', async () => {
    const [a, b] = mp.Pipe();
    expectThrows(() => mp.Pipe(5 as never), TypeError, /options/);
    expectThrows(() => mp.Pipe('no' as never), TypeError, /options/);
    expectThrows(() => mp.Pipe({ duplex: 1 as never }), TypeError, /duplex/);
    expectThrows(() => a.pollSync('1' as never), TypeError, /timeout/);
    expectThrows(() => a.pollSync(Number.NaN), TypeError, /timeout/);
    await expectRejects(a.poll('1' as never), TypeError, /timeout/);
    expectThrows(() => b.sendBytesSync('text' as never), TypeError, /buf/);
    expectThrows(() => b.sendBytesSync([1, 2] as never), TypeError, /buf/);
    expectThrows(() => b.sendBytesSync(new ArrayBuffer(4) as never), TypeError, /buf/);
    await expectRejects(b.sendBytes('text' as never), TypeError, /buf/);
    expectThrows(() => b.sendBytesSync(Buffer.alloc(4), '1' as never), TypeError, /offset/);
    expectThrows(() => b.sendBytesSync(Buffer.alloc(4), 1.5), TypeError, /offset/);
    expectThrows(() => b.sendBytesSync(Buffer.alloc(4), 0, '1' as never), TypeError, /size/);
    await expectRejects(b.sendBytes(Buffer.alloc(4), 0, {} as never), TypeError, /size/);
    expectThrows(() => a.recvBytesSync('10' as never), TypeError, /maxlength/);
    await expectRejects(a.recvBytes('10' as never), TypeError, /maxlength/);
    expectThrows(() => a.recvBytesIntoSync('buf' as never), TypeError, /buf/);
    expectThrows(() => a.recvBytesIntoSync(Buffer.alloc(4), 'x' as never), TypeError, /offset/);
    await expectRejects(a.recvBytesInto({} as never), TypeError, /buf/);
    await expectRejects(a.recvBytesInto(Buffer.alloc(4), 'x' as never), TypeError, /offset/);
    // A value that cannot be cloned is a TypeError too, and nothing is sent.
    expectThrows(() => b.sendSync(() => 1), TypeError, /./);
    await expectRejects(b.send({ f: Symbol('s') }), TypeError, /./);
    expect(a.pollSync()).toBe(false);
    // None of these consumed or broke anything.
    b.sendSync('still fine');
    expect(a.recvSync()).toBe('still fine');
    a.close();
    b.close();
  });

  it('round-trips values of many shapes (fast codec and structured clone)', async () => {
    const [a, b] = mp.Pipe();
    const shared = { s: 1 };
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic.self = cyclic;
    const values: unknown[] = [
      0,
      -0,
      1.5,
      Number.NaN,
      2 ** 40,
      'héllo ✓ 𝄞',
      '\ud800 lone',
      true,
      null,
      undefined,
      [1, [2, [3]], { x: [] }],
      { a: 1, b: 'two', c: [null, false] },
      new Uint8Array([1, 2, 3]),
      Buffer.from('buffer'),
      new Float64Array([1.5, -0]),
      new Map<unknown, unknown>([[1, { m: true }]]),
      new Set([1, 'two']),
      new Date(0),
      123n,
      /re/g,
      [shared, shared],
      cyclic,
    ];
    for (const v of values) {
      b.sendSync(v);
      const got = a.recvSync();
      if (v === cyclic) {
        expect((got as typeof cyclic).self).toBe(got);
      } else {
        expect(got).toEqual(v);
      }
      if (typeof v === 'number') expect(Object.is(got, v)).toBe(true);
    }
    b.sendSync([shared, shared]);
    const pair = (await a.recv()) as unknown[];
    expect(pair[0]).toBe(pair[1]);
    a.close();
    b.close();
  });

  it('a typed array received inside a message is its own copy (later messages do not change it)', () => {
    const [a, b] = mp.Pipe();
    // A Map sends the message by structured clone; a plain object by the fast codec.
    b.sendSync(new Map([['t', new Uint8Array([1, 2, 3, 4])]]));
    b.sendSync({ t: new Uint8Array([5, 6, 7, 8]) });
    const viaClone = (a.recvSync() as Map<string, Uint8Array>).get('t')!;
    const viaFast = (a.recvSync() as { t: Uint8Array }).t;
    // Enough traffic to go round the 64 KiB ring many times.
    for (let i = 0; i < 5000; i++) {
      b.sendSync(new Map([['t', new Uint8Array([9, 9, 9, 9])]]));
      a.recvSync();
    }
    expect.soft([...viaFast]).toEqual([5, 6, 7, 8]);
    expect.soft([...viaClone]).toEqual([1, 2, 3, 4]);
    // A message that travelled outside the ring (an arena block that is reused).
    b.sendSync(new Map([['t', new Uint8Array(40_000).fill(7)]]));
    const outside = (a.recvSync() as Map<string, Uint8Array>).get('t')!;
    for (let i = 0; i < 20; i++) {
      b.sendSync(new Map([['t', new Uint8Array(40_000).fill(i)]]));
      a.recvSync();
    }
    expect.soft(outside.every((x) => x === 7)).toBe(true);
    a.close();
    b.close();
  });
});

describe('Pipe between processes', () => {
  it('a child echoes messages sync and async: values, bytes, big and small', async () => {
    for (const target of ['echo', 'echoAsync']) {
      const [a, b] = mp.Pipe();
      const p = start(target, [b]);
      b.close();
      const msgs: unknown[] = [
        1,
        'two',
        { three: [3] },
        new Map([['four', 4n]]),
        filled(100_000, 5),
        '',
        [],
        new Float32Array([6.5]),
      ];
      for (const m of msgs) a.sendSync(m);
      for (const m of msgs) expect(await a.recv()).toEqual(m);
      await a.send(null);
      await expectRejects(a.recv(), mp.EOFError);
      await p.join(20);
      expect(p.exitcode).toBe(0);
      a.close();
    }
  });

  it('messages bigger than the ring (1 MiB, 16 MiB) go both ways through a child', async () => {
    for (const [size, asBytes] of [
      [1 << 20, false],
      [1 << 20, true],
      [16 << 20, false],
      [16 << 20, true],
    ] as const) {
      const [a, b] = mp.Pipe();
      const p = start('bigExchange', [b, size, asBytes]);
      b.close();
      const out = filled(size, size & 0xff);
      if (asBytes) await a.sendBytes(out);
      else await a.send(out);
      expect(await a.recv()).toEqual({ length: size, sum: checksum(out) });
      const back = (asBytes ? await a.recvBytes() : await a.recv()) as Buffer;
      expect(Buffer.isBuffer(back)).toBe(true);
      expect(back.length).toBe(size);
      let bad = -1;
      for (let i = 0; i < size; i++) {
        if (back[i] !== pattern(i)) {
          bad = i;
          break;
        }
      }
      expect(bad).toBe(-1);
      expect(await a.recv()).toBe('done');
      await expectRejects(a.recv(), mp.EOFError);
      await p.join(30);
      expect(p.exitcode).toBe(0);
      a.close();
    }
  });

  it('bytes messages keep their boundaries through a child (sync)', async () => {
    const [a, b] = mp.Pipe();
    const sizes = [0, 1, 33, 1000, 32_760, 32_761, 70_000, 0, 5];
    const p = start('echoBytes', [b, sizes.length * 2]);
    b.close();
    for (let round = 0; round < 2; round++) {
      for (const [k, n] of sizes.entries()) a.sendBytesSync(filled(n, k + round));
    }
    for (let round = 0; round < 2; round++) {
      for (const [k, n] of sizes.entries()) expect(a.recvBytesSync().equals(filled(n, k + round))).toBe(true);
    }
    expectThrows(() => a.recvBytesSync(), mp.EOFError, /./);
    await p.join(20);
    a.close();
  });

  it('ping-pong: 1000 round trips with a child', async () => {
    const [a, b] = mp.Pipe();
    const p = start('pingPong', [b, 1000]);
    b.close();
    let x = 0;
    for (let i = 0; i < 500; i++) {
      a.sendSync(x);
      x = a.recvSync() as number;
    }
    for (let i = 0; i < 500; i++) {
      await a.send(x);
      x = (await a.recv()) as number;
    }
    expect(x).toBe(1000);
    await expectRejects(a.recv(), mp.EOFError);
    await p.join(20);
    expect(p.exitcode).toBe(0);
    a.close();
  });

  it("Python's classic pattern: the parent closes its copy of the child's end at once, then receives", async () => {
    const [parentConn, childConn] = mp.Pipe();
    const p = start('classicChild', [childConn]);
    childConn.close(); // before the child has even attached its end
    expect(await parentConn.recv()).toEqual(['hello', p.pid]);
    expect(parentConn.recvSync()).toBe(42);
    await expectRejects(parentConn.recv(), mp.EOFError);
    await p.join(20);
    expect(p.exitcode).toBe(0);
    parentConn.close();
  });

  it('the child sees EOFError when the parent closes its end', async () => {
    const [a, b] = mp.Pipe();
    const [resultR, resultW] = mp.Pipe({ duplex: false });
    const p = start('waitForEof', [b, resultW]);
    b.close();
    resultW.close();
    a.sendSync('one');
    a.sendSync('two');
    await sleep(100);
    a.close();
    expect(await resultR.recv()).toEqual(['EOFError']);
    await p.join(20);
    expect(p.exitcode).toBe(0);
    resultR.close();
  });

  it('EOFError when the process holding the other end is SIGKILLed', async () => {
    const [a, b] = mp.Pipe();
    const p = start('sendThenHang', [b, 'ready']);
    b.close();
    expect(await a.recv()).toBe('ready');
    const waiting = a.recv();
    await sleep(50);
    p.kill();
    const t = performance.now();
    await expectRejects(waiting, mp.EOFError);
    expect(performance.now() - t).toBeLessThan(5000);
    expectThrows(() => a.recvSync(), mp.EOFError, /./);
    expect(a.pollSync()).toBe(true);
    await p.join(10);
    expect(p.exitcode).toBe(-9);
    a.close();
  });

  it('a recvSync already blocked when the child holding the other end dies ends with EOFError', async () => {
    // Run in a separate program: if the blocked recvSync never returns, only that program
    // hangs (and is killed), not this test file. The child SIGKILLs itself 300 ms after
    // its message, while the parent's main thread is blocked in recvSync (so nobody reaps
    // the child: it is a zombie until recvSync returns).
    const code = `
      import * as mp from 'multiprocessing';
      const [c, d] = mp.Pipe();
      const q = new mp.Process({ target: { module: ${JSON.stringify(T('sendThenDie').module)}, name: 'sendThenDie' }, args: [d, 'ready', 300] });
      q.start();
      d.close();
      console.log(c.recvSync());
      const t = performance.now();
      try { c.recvSync(); console.log('no error'); } catch (e) { console.log(e.name); }
      console.log(performance.now() - t < 3000 ? 'in time' : 'late');
      await q.join(10);
      console.log(q.exitcode);
    `;
    const out = await runInline(code, 5000);
    expect(out).toEqual({ stdout: 'ready\nEOFError\nin time\n-9\n', timedOut: false });
  });

  it('sending to a SIGKILLed reader fails with EPIPE (as an OS pipe does), not silently', async () => {
    const [a, b] = mp.Pipe();
    const p = start('sendThenHang', [b, 'ready']);
    b.close();
    expect(await a.recv()).toBe('ready');
    p.kill();
    await p.join(10);
    // Python: BrokenPipeError on the first send after the reader died. Allow a little slack
    // (a few sends), but the messages must not silently pile up in a ring nobody reads.
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      try {
        a.sendSync(`message ${i}`);
        outcomes.push('sent');
      } catch (e) {
        outcomes.push((e as { code?: string }).code ?? String(e));
        break;
      }
      await sleep(20);
    }
    expect(outcomes).toContain('EPIPE');
    a.close();
  });

  it('a send waiting for room fails with EPIPE when the reading process is killed', async () => {
    const [a, b] = mp.Pipe();
    const p = start('sendThenHang', [b, 'ready']);
    b.close();
    expect(await a.recv()).toBe('ready');
    const chunk = filled(30_000, 4);
    const sends = Array.from({ length: 6 }, () =>
      a.sendBytes(chunk).then(
        () => 'sent',
        (e: { code?: string }) => e.code ?? String(e),
      ),
    );
    await sleep(100);
    p.kill();
    const results = await Promise.race([Promise.all(sends), sleep(8000).then(() => 'timed out')]);
    expect(results).not.toBe('timed out');
    expect(results as string[]).toContain('EPIPE');
    a.close();
  });

  it('a child that exits normally without closing its end gives EOF after its messages', async () => {
    const [a, b] = mp.Pipe();
    const msgs = ['a', { b: 2 }, filled(80_000, 3), 'last'];
    const p = start('sendAllNoClose', [b, msgs]);
    b.close();
    for (const m of msgs) expect(await a.recv()).toEqual(m);
    const t = performance.now();
    await expectRejects(a.recv(), mp.EOFError);
    expect(performance.now() - t).toBeLessThan(5000);
    await p.join(10);
    expect(p.exitcode).toBe(0);
    a.close();
  });

  it('sending to a child that closed its reading end is an error with code EPIPE', async () => {
    const [r, w] = mp.Pipe({ duplex: false });
    const [doneR, doneW] = mp.Pipe({ duplex: false });
    const p = start('closeAndReport', [r, doneW]);
    r.close();
    doneW.close();
    expect(await doneR.recv()).toBe('closed');
    await expectEpipe(() => w.sendSync('x'));
    await expectEpipe(() => w.send('x'));
    await expectEpipe(() => w.sendBytes(Buffer.from('x')));
    await p.join(10);
    w.close();
    doneR.close();
  });

  it('a Connection passed through a Queue to another process works there', async () => {
    const q = new mp.Queue();
    const [a, b] = mp.Pipe();
    const p = start('connFromQueue', [q]);
    await q.put(b);
    b.close(); // the handle in the queue keeps the end alive until the child takes it
    await a.send({ hello: 'over the queue' });
    const reply = (await a.recv()) as { kind: boolean; echoed: unknown; pid: number };
    expect(reply).toEqual({ kind: true, echoed: { hello: 'over the queue' }, pid: p.pid });
    await expectRejects(a.recv(), mp.EOFError);
    await p.join(20);
    expect(p.exitcode).toBe(0);
    a.close();
    q.close();
  });

  it('a Connection passed over another Connection to a child works there', async () => {
    const [carrierA, carrierB] = mp.Pipe();
    const [r, w] = mp.Pipe({ duplex: false });
    const p = start('connFromConn', [carrierB]);
    carrierB.close();
    carrierA.sendSync(w);
    w.close();
    expect(await r.recv()).toBe(`hello from ${p.pid}`);
    await expectRejects(r.recv(), mp.EOFError);
    await p.join(20);
    r.close();
    carrierA.close();
  });
});
