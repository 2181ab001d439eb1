// mp.connection: Listener, Client and wait over real TCP and Unix sockets, with the
// authkey handshake, against our own peers (in child processes) and python3's.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import * as mp from 'multiprocessing';
import { afterEach, describe, expect, it } from 'vitest';
import { fixturePath, fixtureUrl } from './helpers/scripts.js';

const { Listener, Client, wait } = mp.connection;
const T = (name: string) => ({ module: fixtureUrl('conn-targets.mjs'), name });
const hasPython = spawnSync('python3', ['-c', 'import multiprocessing.connection'], { stdio: 'ignore' }).status === 0;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

async function listen(address?: mp.connection.Address | null, options?: mp.connection.ListenerOptions) {
  const l = new Listener(address, options);
  cleanup.push(() => l.close());
  await l.listening();
  return l;
}

async function pair(options?: { authkey?: string; unix?: boolean }) {
  const l = await listen(options?.unix ? null : ['127.0.0.1', 0], { authkey: options?.authkey });
  const [server, client] = await Promise.all([l.accept(), Client(l.address, { authkey: options?.authkey })]);
  cleanup.push(() => {
    server.close();
    client.close();
  });
  return { l, server, client };
}

describe('Listener and Client', () => {
  it('TCP with port 0 reports the bound port; messages both ways, sync and async', async () => {
    const { l, server, client } = await pair();
    const [host, port] = l.address as [string, number];
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    await client.send({ a: [1, 'two', null], m: new Map([[1, 2]]) });
    expect(await server.recv()).toEqual({ a: [1, 'two', null], m: new Map([[1, 2]]) });
    server.sendSync([1, 2, 3]);
    expect(client.recvSync()).toEqual([1, 2, 3]);
    client.sendBytesSync(Buffer.from('abcdef'), 1, 3);
    expect((await server.recvBytes()).toString()).toBe('bcd');
    await server.sendBytes(new Uint8Array(0));
    expect(client.recvBytesSync().length).toBe(0);
    const big = Buffer.alloc(3 << 20, 9);
    const sent = client.sendBytes(big);
    const got = await server.recvBytes();
    await sent;
    expect(got.length).toBe(big.length);
    expect(got.equals(big)).toBe(true);
    expect(client.readable && client.writable && !client.closed).toBe(true);
  });

  it('Unix sockets: a fresh path by default, removed on close', async () => {
    const { l, server, client } = await pair({ unix: true });
    expect(typeof l.address).toBe('string');
    expect(existsSync(l.address as string)).toBe(true);
    client.sendSync('over unix');
    expect(server.recvSync()).toBe('over unix');
    l.close();
    l.close();
    expect(existsSync(l.address as string)).toBe(false);
  });

  it('a socket path too long for the OS is refused, not cut short (no stray socket file left)', async () => {
    const prefix = `mp-long-${process.pid}-`;
    const long = join(tmpdir(), `${prefix}${'x'.repeat(120)}`);
    expect(() => new Listener(long)).toThrow(mp.ValueError);
    expect(() => new Listener(long)).toThrow(/address is a socket path of \d+ bytes.*at most \d+.*shorter path/);
    await expect(Client(long)).rejects.toThrow(/AF_UNIX path too long/);
    // (Node would have bound the name cut at sun_path's size: no such file.)
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith(prefix))).toEqual([]);
    // Multibyte characters count by their bytes: 40 of 3 bytes each are over the limit.
    expect(() => new Listener(join(tmpdir(), '\u20ac'.repeat(40)))).toThrow(/bytes/);
  });

  it.skipIf(process.platform === 'win32')('no address under a TMPDIR too long for a socket path: the fresh path is made in /tmp (as Python 3.14 does); it works and goes on close', async () => {
    const longTmp = join(tmpdir(), `mp-longtmp-${process.pid}-${'d'.repeat(90)}`);
    mkdirSync(longTmp);
    cleanup.push(() => rmSync(longTmp, { recursive: true, force: true }));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = longTmp;
    let l: InstanceType<typeof Listener>;
    try {
      l = await listen(null);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    const address = l.address as string;
    expect(address.startsWith('/tmp/')).toBe(true);
    const [server, client] = await Promise.all([l.accept(), Client(address)]);
    client.sendSync('under a long TMPDIR');
    expect(server.recvSync()).toBe('under a long TMPDIR');
    server.close();
    client.close();
    l.close();
    expect(existsSync(address)).toBe(false);
    expect(readdirSync(longTmp)).toEqual([]);
  });

  it.skipIf(process.platform !== 'linux')('a Linux abstract socket name may use all 108 bytes of sun_path (no closing NUL), not one more', async () => {
    const name = `\0mp-abstract-${process.pid}-`;
    const full = name + 'a'.repeat(108 - Buffer.byteLength(name));
    const l = await listen(full);
    const [server, client] = await Promise.all([l.accept(), Client(full)]);
    client.sendSync('abstract');
    expect(server.recvSync()).toBe('abstract');
    server.close();
    client.close();
    expect(() => new Listener(`${full}b`)).toThrow(/socket path of 109 bytes.*at most 108/);
  });

  it('messages keep their boundaries and order, many in a row', async () => {
    const { server, client } = await pair();
    for (let i = 0; i < 2000; i++) client.sendSync(i % 7 === 0 ? 'x'.repeat(i) : i);
    for (let i = 0; i < 2000; i++) expect(await server.recv()).toEqual(i % 7 === 0 ? 'x'.repeat(i) : i);
  });

  it('poll, pollSync and recvBytesInto with BufferTooShort', async () => {
    const { server, client } = await pair();
    expect(server.pollSync(0)).toBe(false);
    expect(await server.poll(0.05)).toBe(false);
    client.sendBytesSync(Buffer.from('0123456789'));
    expect(await server.poll(5)).toBe(true);
    const buf = Buffer.alloc(4);
    const err = await server.recvBytesInto(buf).catch((e) => e);
    expect(err).toBeInstanceOf(mp.BufferTooShort);
    expect(err.data.toString()).toBe('0123456789');
    client.sendBytesSync(Buffer.from('ab'));
    expect(server.pollSync(5)).toBe(true);
    expect(server.recvBytesIntoSync(buf, 2)).toBe(2);
    expect(buf.subarray(2).toString()).toBe('ab');
  });

  it('recvBytes(maxlength) refuses a longer message and the connection stops reading', async () => {
    const { server, client } = await pair();
    client.sendBytesSync(Buffer.alloc(100));
    await expect(server.recvBytes(10)).rejects.toThrow(/longer than maxlength 10/);
    expect(server.readable).toBe(false);
  });

  it('EOFError after the peer closes, once the buffered messages are read', async () => {
    const { server, client } = await pair();
    client.sendSync('last words');
    client.close();
    client.close();
    expect(await server.recv()).toBe('last words');
    await expect(server.recv()).rejects.toBeInstanceOf(mp.EOFError);
    expect(() => server.recvSync()).toThrow(mp.EOFError);
    expect(() => client.sendSync(1)).toThrow(mp.ValueError);
    await expect(client.recv()).rejects.toBeInstanceOf(mp.ValueError);
  });

  it('with an authkey: right key connects; a wrong key is an AuthenticationError on both sides; the listener goes on', async () => {
    const l = await listen(['127.0.0.1', 0], { authkey: 'sesame' });
    const [s1, c1] = await Promise.all([l.accept(), Client(l.address, { authkey: Buffer.from('sesame') })]);
    c1.sendSync('authenticated');
    expect(s1.recvSync()).toBe('authenticated');
    const [s2, c2] = await Promise.allSettled([l.accept(), Client(l.address, { authkey: 'wrong' })]);
    expect(s2.status === 'rejected' && s2.reason).toBeInstanceOf(mp.AuthenticationError);
    expect(c2.status === 'rejected' && c2.reason).toBeInstanceOf(mp.AuthenticationError);
    // No key on the client: it connects without a handshake and never answers the
    // challenge (as in Python); when it hangs up, that accept() fails.
    const s3 = l.accept();
    const c3 = await Client(l.address);
    c3.close();
    await expect(s3).rejects.toBeInstanceOf(mp.EOFError);
    // Still serving.
    const [s4, c4] = await Promise.all([l.accept(), Client(l.address, { authkey: 'sesame' })]);
    await c4.send('still here');
    expect(await s4.recv()).toBe('still here');
    for (const c of [s1, c1, s4, c4]) c.close();
  });

  it('a handshake message over 256 bytes (a hostile 1 GiB length) fails authentication without reading it', async () => {
    const l = await listen(['127.0.0.1', 0], { authkey: 'k' });
    const accepted = l.accept();
    const sock = connect((l.address as [string, number])[1], '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const header = Buffer.alloc(4);
    header.writeInt32BE(0x40000000, 0);
    sock.write(header);
    await expect(accepted).rejects.toBeInstanceOf(mp.AuthenticationError);
    sock.destroy();
  });

  it('a child process connects by address and echoes', async () => {
    const l = await listen(['127.0.0.1', 0], { authkey: 'child-key' });
    const p = new mp.Process({ target: T('echoClient'), args: [l.address, 'child-key'] });
    p.start();
    const conn = await l.accept();
    for (const m of ['a', [1, 2], { deep: { x: 1 } }, Buffer.from('buf')]) {
      await conn.send(m);
      expect(await conn.recv()).toEqual(m);
    }
    await conn.send(null);
    await p.join(20);
    expect(p.exitcode).toBe(0);
    await expect(conn.recv()).rejects.toBeInstanceOf(mp.EOFError);
    conn.close();
  });

  it('a client SIGKILLed mid-conversation gives EOFError; the listener serves the next', async () => {
    const l = await listen(null, { authkey: 'k2' });
    const p = new mp.Process({ target: T('connectAndHang'), args: [l.address, 'k2'] });
    p.start();
    const conn = await l.accept();
    expect(await conn.recv()).toBe('connected');
    p.kill();
    await p.join(10);
    await expect(conn.recv()).rejects.toBeInstanceOf(mp.EOFError);
    const [s, c] = await Promise.all([l.accept(), Client(l.address, { authkey: 'k2' })]);
    c.sendSync('next');
    expect(s.recvSync()).toBe('next');
    s.close();
    c.close();
  });

  it('bad arguments are TypeErrors that name them', async () => {
    expect(() => new Listener(42 as never)).toThrow(/address/);
    expect(() => new Listener(['127.0.0.1', 'x'] as never)).toThrow(/address\[1\]/);
    expect(() => new Listener(null, { authkey: 5 as never })).toThrow(/options.authkey/);
    await expect(Client({} as never)).rejects.toThrow(/address/);
    const { client } = await pair();
    expect(() => client.sendBytesSync('str' as never)).toThrow(/buf/);
    expect(() => client.sendBytesSync(Buffer.alloc(2), 3)).toThrow(/offset/);
  });
});

describe('wait', () => {
  it('returns the ready connections, or [] after the timeout', async () => {
    const a = await pair();
    const b = await pair();
    const [p1, p2] = mp.Pipe();
    cleanup.push(() => {
      p1.close();
      p2.close();
    });
    const t = performance.now();
    expect(await wait([a.server, b.server, p1], 0.1)).toEqual([]);
    expect(performance.now() - t).toBeGreaterThanOrEqual(90);
    setTimeout(() => b.client.sendSync('b'), 50);
    expect(await wait([a.server, b.server, p1], 10)).toEqual([b.server]);
    p2.sendSync('p');
    a.client.sendSync('a');
    const ready = await wait([a.server, b.server, p1]);
    expect(ready).toEqual([a.server, b.server, p1]);
    await expect(wait([42 as never])).rejects.toThrow(/objects\[0\]/);
  });
});

/** A python3 peer speaking multiprocessing.connection, one JSON line per event. */
function python(args: string[]): { proc: ChildProcess; next(): Promise<Record<string, unknown>> } {
  const proc = spawn('python3', [fixturePath('conn-peer.py'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => proc.kill());
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  return { proc, next: async () => JSON.parse((await lines.next()).value as string) };
}

describe.skipIf(!hasPython)('interoperability with python3 multiprocessing.connection', () => {
  for (const family of ['tcp', 'unix'] as const) {
    it(`our Client talks to a Python Listener (${family}), right key`, async () => {
      const py = python(['listen', family, 'shared-key']);
      const { address } = await py.next();
      const conn = await Client(address as mp.connection.Address, { authkey: 'shared-key' });
      await conn.sendBytes(Buffer.from('from node'));
      expect((await conn.recvBytes()).toString()).toBe('py:from node');
      conn.sendBytesSync(Buffer.alloc(70000, 65));
      const back = conn.recvBytesSync();
      expect(back.length).toBe(70003);
      expect(back.subarray(0, 4).toString()).toBe('py:A');
      await conn.sendBytes(Buffer.from('bye'));
      expect(await py.next()).toEqual({ done: true });
      conn.close();
    });

    it(`a Python Client talks to our Listener (${family}), right key`, async () => {
      const l = await listen(family === 'tcp' ? ['127.0.0.1', 0] : null, { authkey: 'shared-key' });
      const where = family === 'tcp' ? String((l.address as [string, number])[1]) : (l.address as string);
      const py = python(['connect', where, 'shared-key']);
      const conn = await l.accept();
      expect((await conn.recvBytes()).toString()).toBe('hello from py');
      const big = await conn.recvBytes();
      expect(big.length).toBe(100000);
      await conn.sendBytes(Buffer.from('node says hi'));
      conn.sendBytesSync(Buffer.alloc(200000, 66));
      expect(await py.next()).toEqual({ got: 12, head: 'node says hi' });
      expect(await py.next()).toEqual({ got: 200000, head: 'B'.repeat(20) });
      expect((await conn.recvBytes()).toString()).toBe('bye');
      expect(await py.next()).toEqual({ done: true });
      conn.close();
    });
  }

  it('wrong keys fail on both sides, in both directions', async () => {
    const py = python(['listen', 'tcp', 'python-key']);
    const { address } = await py.next();
    await expect(Client(address as mp.connection.Address, { authkey: 'node-key' })).rejects.toBeInstanceOf(mp.AuthenticationError);
    expect(await py.next()).toEqual({ error: 'AuthenticationError' });

    const l = await listen(['127.0.0.1', 0], { authkey: 'node-key' });
    const accepted = l.accept();
    const py2 = python(['connect', String((l.address as [string, number])[1]), 'python-key']);
    await expect(accepted).rejects.toBeInstanceOf(mp.AuthenticationError);
    expect(await py2.next()).toEqual({ error: 'AuthenticationError' });
  });
});
