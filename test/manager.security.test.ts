// Managers under attack and under failure, with real processes and real sockets: remote
// clients over TCP with right, wrong and missing authkeys; raw sockets that speak the wire
// protocol badly on purpose (garbage, truncated and oversized frames, requests that are
// not requests, hidden methods); the non-loopback authkey rule; the message size limit;
// clients SIGKILLed in the middle of a request; shutdown with clients still waiting; and
// requests whose data looks like code.
//
// The raw client below implements the client side of Python 3.12's connection handshake
// itself (not lib/auth.ts), so the wire format is checked against the protocol, not
// against the library's own reading of it.
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Server as NetServer, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serialize } from 'node:v8';
import * as mp from 'multiprocessing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader } from './helpers/frames.js';
import { failure, settles, sleep, until } from './helpers/async.js';
import { isRunning, waitGone } from './helpers/scripts.js';

const require = createRequire(import.meta.url);

interface CounterProxy extends mp.BaseProxy {
  increment(by?: unknown): Promise<number>;
  value(): Promise<number>;
}
type CounterManagerLike = mp.BaseManager & {
  Counter(start?: number): Promise<CounterProxy>;
  ProxyOnly(): Promise<mp.BaseProxy>;
};
type CounterManagerClass = new (options?: mp.ManagerOptions) => CounterManagerLike;
type Target = (...args: unknown[]) => unknown;

const F = require('./fixtures/manager-sec-types.cjs') as {
  CounterManager: CounterManagerClass;
  CounterClient: CounterManagerClass;
  CounterClassManager: CounterManagerClass;
  remoteCount: Target;
  holdLock: Target;
  blockInGet: Target;
  streamSets: Target;
  getUntilShutdown: Target;
};
const { Encoder, Decoder } = require('../dist/codec.js') as {
  Encoder: new () => { encode(v: unknown): Uint8Array };
  Decoder: new () => { decode(b: Uint8Array, start: number, end: number): unknown };
};

const HOST = '127.0.0.1';
type TcpAddress = [string, number];

// Reply kinds (lib/manager_protocol.ts).
const RETURN = 0;
const FAILED = 2;
const PROXY = 3;

// ----------------------------------------------------------------------------- helpers

/** Everything the file started, undone at the end whatever happened. */
const managers: mp.BaseManager[] = [];
const processes: mp.Process[] = [];
const sockets: RawClient[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const p of processes) if (p.exitcode === null && p.pid !== null) p.kill();
  await Promise.all(managers.map((m) => m.shutdown().catch(() => {})));
});

/** Start `m` and find its server process (the new daemon child of this process). */
async function startManager<M extends mp.BaseManager>(m: M): Promise<{ m: M; pid: number }> {
  managers.push(m);
  const before = new Set(mp.activeChildren().map((p) => p.pid));
  await m.start();
  const server = mp.activeChildren().find((p) => !before.has(p.pid) && p.name.startsWith(m.constructor.name));
  expect(server, 'the manager server process').toBeDefined();
  return { m, pid: server!.pid! };
}

async function startSyncManager(options?: mp.ManagerOptions): Promise<{ m: mp.SyncManager; pid: number }> {
  return startManager(new mp.SyncManager(options));
}

function startChild(target: Target, args: unknown[]): mp.Process {
  const p = new mp.Process({ target, args });
  processes.push(p);
  p.start();
  return p;
}

/** The server process's resident memory in MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** The server process runs and answers a proxy that was made before. */
async function expectServing(pid: number, counter: CounterProxy): Promise<void> {
  expect(isRunning(pid), 'server process alive').toBe(true);
  expect(await settles(counter.increment(0), 'a proxy call', 5000)).toBeTypeOf('number');
}

const CHALLENGE = Buffer.from('#CHALLENGE#');
const WELCOME = Buffer.from('#WELCOME#');
const FAILURE = Buffer.from('#FAILURE#');

function header(n: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeInt32BE(n, 0);
  return h;
}

/**
 * A client on a plain node:net socket: mp.connection framing (4-byte big-endian length,
 * then the payload) and the Python 3.12 handshake written out here, so a test can send
 * anything at any point.
 */
class RawClient {
  private readonly frames: FrameReader;
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.frames = new FrameReader(socket);
    socket.on('error', () => {}); // a reset when the server closes on us is expected
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  /** Bytes received and not yet taken as frames. */
  get buf(): Buffer {
    return this.frames.buf;
  }

  static open(address: mp.connection.Address | null): Promise<RawClient> {
    const [host, port] = address as TcpAddress;
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => {
        const c = new RawClient(s);
        sockets.push(c);
        resolve(c);
      });
      s.once('error', reject);
    });
  }

  /** The next frame's payload; rejects on close or after `ms`. */
  async frame(ms = 5000): Promise<Buffer> {
    const f = await this.frames.next(ms);
    if (f !== null) return f;
    if (this.frames.ended) throw new Error('connection closed');
    throw new Error(`no frame within ${ms} ms`);
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  sendFrame(payload: Uint8Array): void {
    this.write(Buffer.concat([header(payload.length), payload]));
  }

  /** The client side of the authkey handshake: answer the server's challenge, then deliver ours. */
  async handshake(key: string): Promise<void> {
    await this.answer(key);
    const mine = Buffer.concat([Buffer.from('{sha256}'), randomBytes(40)]);
    this.sendFrame(Buffer.concat([CHALLENGE, mine]));
    const response = await this.frame();
    const expected = Buffer.concat([Buffer.from('{sha256}'), createHmac('sha256', key).update(mine).digest()]);
    expect(response.equals(expected), 'the server proved the key').toBe(true);
    this.sendFrame(WELCOME);
  }

  /** The first half only: prove the key to the server (Python's answer_challenge). */
  async answer(key: string): Promise<void> {
    const challenge = await this.frame();
    expect(challenge.subarray(0, CHALLENGE.length).equals(CHALLENGE), `a challenge: ${challenge.toString('latin1')}`).toBe(true);
    const message = challenge.subarray(CHALLENGE.length);
    expect(message.subarray(0, 8).toString()).toBe('{sha256}');
    this.sendFrame(Buffer.concat([Buffer.from('{sha256}'), createHmac('sha256', key).update(message).digest()]));
    expect((await this.frame()).equals(WELCOME), 'welcomed').toBe(true);
  }

  /** Send `value` as a message of this library (codec bytes, or the v8 form with handles revived). */
  send(value: unknown, format: 'fast' | 'v8' = 'fast'): void {
    if (format === 'fast') this.sendFrame(Buffer.from(new Encoder().encode(value)));
    else this.sendFrame(Buffer.concat([Buffer.from([2]), serialize(value)]));
  }

  async reply(ms = 5000): Promise<[number, number, unknown]> {
    const f = await this.frame(ms);
    return new Decoder().decode(f, 0, f.length) as [number, number, unknown];
  }

  /** Send a request and read its reply. */
  async call(id: number, objectId: number, method: string, args: unknown[] = [], format: 'fast' | 'v8' = 'fast') {
    this.send([id, objectId, method, args], format);
    const r = await this.reply();
    expect(r[0]).toBe(id);
    return r;
  }

  /** Whether the server closes the connection within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    await Promise.race([this.closed, sleep(ms)]);
    return this.isClosed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A fresh authenticated raw connection. */
async function rawSession(address: mp.connection.Address | null, key: string): Promise<RawClient> {
  const c = await RawClient.open(address);
  await c.handshake(key);
  return c;
}

/** The object id of a new `typeid` object, created over a raw connection. */
async function rawCreate(c: RawClient, id: number, typeid: string, args: unknown[] = []): Promise<number> {
  const [, kind, token] = await c.call(id, 0, 'create', [typeid, ...args]);
  expect(kind, JSON.stringify(token)).toBe(PROXY);
  return (token as { id: number }).id;
}

// ------------------------------------------------------------ 1. remote clients over TCP

describe('remote clients over TCP with an authkey', () => {
  const KEY = 'remote-secret';
  let env: { m: CounterManagerLike; pid: number };
  let counter: CounterProxy;
  let out: mp.Queue;

  beforeAll(async () => {
    env = await startManager(new F.CounterManager({ address: [HOST, 0], authkey: KEY }));
    counter = await env.m.Counter(100);
    out = new mp.Queue();
  });
  afterAll(() => out.close());

  it('binds 127.0.0.1 with a real port; the right key works here and from a child process', async () => {
    const [host, port] = env.m.address as TcpAddress;
    expect(host).toBe(HOST);
    expect(port).toBeGreaterThan(0);
    const client = new F.CounterClient({ address: env.m.address, authkey: Buffer.from(KEY) });
    await client.connect();
    const c = await client.Counter(1);
    expect(await c.increment(2)).toBe(3);
    expect(await counter.increment()).toBe(101);
    const p = startChild(F.remoteCount, [env.m.address, KEY, out]);
    expect(await out.get({ timeout: 15 })).toEqual({ value: 15 });
    await p.join(10);
    expect(p.exitcode).toBe(0);
  });

  it('a wrong key is an AuthenticationError here and in a child; the server is unaffected', async () => {
    const bad = new F.CounterClient({ address: env.m.address, authkey: 'not-the-key' });
    const err = await failure(() => bad.connect());
    expect(err).toBeInstanceOf(mp.AuthenticationError);
    const p = startChild(F.remoteCount, [env.m.address, 'also-wrong', out]);
    const report = (await out.get({ timeout: 15 })) as { error?: string };
    expect(report.error).toBe('AuthenticationError');
    await p.join(10);
    await expectServing(env.pid, counter);
    // A new client with the key still gets in (from another process: a new connection).
    const q = startChild(F.remoteCount, [env.m.address, KEY, out]);
    expect(await out.get({ timeout: 15 })).toEqual({ value: 15 });
    await q.join(10);
  });

  it('no key on the client (authkey: null) is an AuthenticationError; its requests never run; the server is unaffected', async () => {
    const before = await counter.value();
    const none = new F.CounterClient({ address: env.m.address, authkey: null });
    const err = await failure(() => none.connect());
    expect(err).toBeInstanceOf(mp.AuthenticationError);
    expect((err as Error).message).toMatch(/authkey/);
    const p = startChild(F.remoteCount, [env.m.address, null, out]);
    expect(((await out.get({ timeout: 15 })) as { error?: string }).error).toBe('AuthenticationError');
    await p.join(10);
    await expectServing(env.pid, counter);
    expect(await counter.value()).toBe(before);
    const q = startChild(F.remoteCount, [env.m.address, KEY, out]);
    expect(await out.get({ timeout: 15 })).toEqual({ value: 15 });
    await q.join(10);
  });

  it('a registered class (not only a function) is constructed by a started server', async () => {
    const { m } = await settles(startManager(new F.CounterClassManager({ address: [HOST, 0], authkey: KEY })), 'start()');
    const c = await m.Counter(2);
    expect(await c.increment()).toBe(3);
    await m.shutdown();
  });
});

// ------------------------------------------------------------------- 2. raw sockets

describe('raw sockets against the manager', () => {
  const KEY = 'raw-secret';
  let env: { m: CounterManagerLike; pid: number };
  let counter: CounterProxy;
  /** Connected before anything else and silent ever since: the handshake deadline must drop it. */
  let idle: RawClient;
  let idleSince: number;

  beforeAll(async () => {
    env = await startManager(new F.CounterManager({ address: [HOST, 0], authkey: KEY }));
    counter = await env.m.Counter(0);
    idle = await RawClient.open(env.m.address);
    idleSince = Date.now();
  });

  it('garbage before the handshake closes that connection only; requests sent instead of the answer never run', async () => {
    const shutdownRequest = Buffer.from(new Encoder().encode([1, 0, 'shutdown', []]));
    const createRequest = Buffer.from(new Encoder().encode([2, 0, 'create', ['Counter', 5]]));
    const cases: [string, Buffer][] = [
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      ['4 KiB of random bytes', randomBytes(4096)],
      ['a short wrong answer', Buffer.concat([header(5), Buffer.from('hello')])],
      ['a 1 GiB length prefix', Buffer.concat([header(1 << 30), randomBytes(64)])],
      ['a 64-bit length prefix', Buffer.concat([header(-1), Buffer.from('00000100000000ff', 'hex'), randomBytes(64)])],
      ['a negative length', Buffer.concat([header(-7), randomBytes(16)])],
      ['a shutdown request as the answer', Buffer.concat([header(shutdownRequest.length), shutdownRequest])],
      ['a create request as the answer', Buffer.concat([header(createRequest.length), createRequest])],
    ];
    const objects = await env.m.Counter(0); // keeps numberOfObjects meaningful below
    const { connectionOf } = require('../dist/manager_proxy.js') as {
      connectionOf(p: mp.BaseProxy): { call(o: number, m: string, a: unknown[]): Promise<unknown> };
    };
    const countBefore = await connectionOf(objects).call(0, 'numberOfObjects', []);
    for (const [what, bytes] of cases) {
      const c = await RawClient.open(env.m.address);
      const challenge = await c.frame();
      expect(challenge.subarray(0, CHALLENGE.length).equals(CHALLENGE), what).toBe(true);
      c.write(bytes);
      // The requests again, after the failed answer: nothing may read them as requests.
      c.write(Buffer.concat([header(shutdownRequest.length), shutdownRequest]));
      expect(await c.closesWithin(3000), `${what}: connection closed`).toBe(true);
      // Whatever came back is at most a #FAILURE# verdict, never a reply.
      expect(c.buf.length === 0 || c.buf.subarray(4).equals(FAILURE), `${what}: no reply`).toBe(true);
      await expectServing(env.pid, counter);
    }
    expect(await connectionOf(objects).call(0, 'numberOfObjects', [])).toBe(countBefore);
  });

  it('a client that proves the key but then sends a request instead of its challenge is closed; the request never runs', async () => {
    const c = await RawClient.open(env.m.address);
    await c.answer(KEY);
    c.send([1, 0, 'shutdown', []]);
    expect(await c.closesWithin(3000)).toBe(true);
    await expectServing(env.pid, counter);
  });

  it('a wrong answer to the challenge gets #FAILURE# and a close', async () => {
    const c = await RawClient.open(env.m.address);
    const message = (await c.frame()).subarray(CHALLENGE.length);
    c.sendFrame(Buffer.concat([Buffer.from('{sha256}'), createHmac('sha256', 'guess').update(message).digest()]));
    expect((await c.frame()).equals(FAILURE)).toBe(true);
    expect(await c.closesWithin(3000)).toBe(true);
    await expectServing(env.pid, counter);
  });

  it('after a correct handshake, garbage payloads close that connection only', async () => {
    const bystander = await rawSession(env.m.address, KEY);
    const bystanderCounter = await rawCreate(bystander, 1, 'Counter', [7]);
    const valid = Buffer.from(new Encoder().encode([9, 0, 'hello', []]));
    const deepV8 = Buffer.alloc(2 + 2 * 200_000);
    deepV8[0] = 0xff;
    deepV8[1] = 0x0f;
    for (let k = 0; k < 200_000; k++) deepV8.writeUInt16BE(0x4101, 2 + 2 * k); // 'A' (array) of length 1, nested
    const deepFast = Buffer.concat([Buffer.from([1]), ...Array.from({ length: 20_000 }, () => Buffer.from([9, 1, 0, 0, 0]))]); // T_ARRAY of 1
    const cases: [string, Buffer][] = [
      ['an empty frame', Buffer.alloc(0)],
      ['an unknown format byte', Buffer.from([0x00, 1, 2, 3])],
      ['a pickle-looking payload', Buffer.from('80049506000000000000008c0161942e', 'hex')],
      ['random bytes', randomBytes(1000)],
      ['a fast-format frame with an unknown tag', Buffer.from([1, 0xee, 0xee])],
      ['a truncated fast-format message', valid.subarray(0, valid.length - 3)],
      ['a fast-format message with trailing bytes', Buffer.concat([valid, Buffer.from([0, 0])])],
      ['a fast-format array claiming 2^32-1 elements', Buffer.from([1, 9, 0xff, 0xff, 0xff, 0xff, 0x01])],
      ['fast-format nesting 20,000 deep', deepFast],
      ['a v8-format frame of garbage', Buffer.concat([Buffer.from([2]), randomBytes(200)])],
      ['v8-format nesting 200,000 deep', Buffer.concat([Buffer.from([2]), deepV8])],
    ];
    let id = 10;
    for (const [what, payload] of cases) {
      const c = await rawSession(env.m.address, KEY);
      c.sendFrame(payload);
      expect(await c.closesWithin(3000), `${what}: connection closed`).toBe(true);
      // The other authenticated connection never noticed.
      const [, kind, value] = await bystander.call(id++, bystanderCounter, 'increment', [1]);
      expect([kind, what]).toEqual([RETURN, what]);
      expect(value).toBeTypeOf('number');
      await expectServing(env.pid, counter);
    }
    expect((await bystander.call(id++, bystanderCounter, 'value'))[2]).toBe(7 + cases.length);
  });

  it('a truncated frame (header says 100 bytes, 10 sent, then close) ends only that connection', async () => {
    const c = await rawSession(env.m.address, KEY);
    c.write(Buffer.concat([header(100), randomBytes(10)]));
    await sleep(100);
    c.socket.end();
    await settles(c.closed, 'the truncated connection closing');
    // And one that stops mid-frame but stays open blocks nobody.
    const stuck = await rawSession(env.m.address, KEY);
    stuck.write(Buffer.concat([header(100), randomBytes(10)]));
    const other = await rawSession(env.m.address, KEY);
    const [, kind, info] = await other.call(1, 0, 'hello');
    expect(kind).toBe(RETURN);
    expect(info).toMatchObject({ maxMessageBytes: 128 * 1024 * 1024 });
    await expectServing(env.pid, counter);
    expect(stuck.isClosed).toBe(false);
    // The rest of the frame completes it (90 more bytes of garbage: then it is closed as garbage).
    stuck.write(randomBytes(90));
    expect(await stuck.closesWithin(3000)).toBe(true);
  });

  it('a 1 GiB length prefix after the handshake is refused from its header: nothing is read or allocated', async () => {
    const rssBefore = rssMiB(env.pid);
    const prefixes: [string, Buffer][] = [
      ['1 GiB', header(1 << 30)],
      ['2^31-1 bytes', header(0x7fffffff)],
      ['2^40 bytes (64-bit form)', Buffer.concat([header(-1), Buffer.from('0000010000000000', 'hex')])],
      ['a negative length', header(-2)],
    ];
    for (const [what, prefix] of prefixes) {
      const c = await rawSession(env.m.address, KEY);
      const t0 = Date.now();
      c.write(prefix);
      // Keep sending payload: a server that read it would keep the connection open for it.
      const chunk = Buffer.alloc(1 << 20, 0x41);
      for (let i = 0; i < 8 && !c.isClosed; i++) {
        c.write(chunk);
        await sleep(20);
      }
      expect(await c.closesWithin(3000), `${what}: connection closed`).toBe(true);
      expect(Date.now() - t0, `${what}: closed at once`).toBeLessThan(2500);
      await expectServing(env.pid, counter);
    }
    const rssAfter = rssMiB(env.pid);
    expect(rssAfter).toBeLessThan(300);
    expect(rssAfter - rssBefore).toBeLessThan(100);
  });

  it('valid codec bytes that are not a request close the connection', async () => {
    const notRequests: unknown[] = [
      42,
      'hello',
      null,
      [],
      [1, 2, 3],
      { requestId: 1, objectId: 0, method: 'hello', args: [] },
      [1.5, 0, 'hello', []],
      [2 ** 60, 0, 'hello', []],
      [1, '0', 'hello', []],
      [1, 0, 7, []],
      [1, 0, 'hello', 'args'],
      [1, 0, 'hello', {}],
      [1, 0, 'hello', [], 'extra'],
    ];
    for (const value of notRequests) {
      const c = await rawSession(env.m.address, KEY);
      c.send(value);
      expect(await c.closesWithin(3000), `${JSON.stringify(value)}: connection closed`).toBe(true);
      expect(c.buf.length, `${JSON.stringify(value)}: no reply`).toBe(0);
    }
    await expectServing(env.pid, counter);
  });

  it('requests for unknown objects, typeids, hidden methods and server ops get an error reply; nothing runs; the connection stays', async () => {
    const c = await rawSession(env.m.address, KEY);
    const obj = await rawCreate(c, 1, 'Counter', [3]);
    let id = 100;
    const expectFailed = async (objectId: number, method: string, args: unknown[], cause: string, re: RegExp) => {
      const [, kind, value] = await c.call(id++, objectId, method, args);
      const what = `${objectId}.${method}(${JSON.stringify(args)})`;
      expect(kind, what).toBe(FAILED);
      expect((value as { name: string }).name, what).toBe(cause);
      expect((value as { message: string }).message, what).toMatch(re);
    };
    // Unknown object ids.
    for (const objectId of [99_999, -1, 2 ** 31]) await expectFailed(objectId, 'increment', [], 'KeyError', /no object/);
    // Typeids that are not registered, or cannot be created.
    for (const typeid of ['Nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'ProxyOnly', '', 42, null]) {
      await expectFailed(0, 'create', [typeid], 'ValueError', /typeid/);
    }
    await expectFailed(0, 'create', [], 'ValueError', /typeid/);
    // Hidden methods of a real object.
    for (const method of ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', '__lookupGetter__', '_private', 'n', '', 'increment ']) {
      await expectFailed(obj, method, [], 'ValueError', /not exposed/);
    }
    // Server operations that do not exist (including the server's own private methods).
    for (const op of ['constructor', '__proto__', 'toString', 'valueOf', 'frobnicate', 'accept', 'onFrame', 'dispatch', 'run', 'release', 'retain', 'adopt', 'referent', 'tokenFor', 'serveForever', 'getServer', 'start', '#GETVALUE']) {
      await expectFailed(0, op, [], 'ValueError', /unknown manager request/);
    }
    // requestId 0 wants no reply: none comes, and the next request is answered.
    c.send([0, obj, 'constructor', []]);
    c.send([0, 0, 'frobnicate', []]);
    c.send([0, 99_999, 'increment', []]);
    const [rid, kind, value] = await c.call(id++, obj, 'value');
    expect([rid, kind, value]).toEqual([id - 1, RETURN, 3]);
    expect(c.isClosed).toBe(false);
    await expectServing(env.pid, counter);
  });

  it('idle clients (silent, mid-handshake, authenticated and silent) do not block others', async () => {
    const silent = await Promise.all(Array.from({ length: 20 }, () => RawClient.open(env.m.address)));
    const half = await RawClient.open(env.m.address);
    await half.answer(KEY); // proved the key, never delivers its own challenge
    const quiet = await rawSession(env.m.address, KEY);
    const t0 = Date.now();
    const fresh = await rawSession(env.m.address, KEY);
    expect((await fresh.call(1, 0, 'hello'))[1]).toBe(RETURN);
    await expectServing(env.pid, counter);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(silent.some((s) => s.isClosed) || half.isClosed || quiet.isClosed || idle.isClosed).toBe(false);
  });

  it('a connection that never completes the handshake is dropped after the 10 s deadline', async () => {
    expect(await until(() => idle.isClosed, 14_000 - (Date.now() - idleSince))).toBe(true);
    expect(Date.now() - idleSince, 'not dropped at once: a slow client gets its time').toBeGreaterThan(1000);
    await expectServing(env.pid, counter);
  });
});

// ------------------------------------------------------- 3. non-loopback needs a key

describe('a non-loopback address needs an authkey', () => {
  it.each([
    ['an empty string', ''],
    ['null', null],
    ['empty bytes', Buffer.alloc(0)],
  ])('start() on 0.0.0.0 with %s as authkey refuses with a ValueError naming authkey', async (_what, authkey) => {
    const before = mp.activeChildren().length;
    const m = new F.CounterManager({ address: ['0.0.0.0', 0], authkey });
    managers.push(m);
    const err = await failure(() => m.start());
    // Nothing is left listening or running.
    expect(await until(() => mp.activeChildren().length <= before, 5000)).toBe(true);
    expect(err).toBeInstanceOf(mp.ValueError);
    expect((err as Error).message).toMatch(/authkey/);
  });

  it('getServer() on a non-loopback address without a key refuses the same way', () => {
    for (const address of [['0.0.0.0', 0], ['::', 0], ['192.168.1.1', 0]] as TcpAddress[]) {
      for (const authkey of ['', null]) {
        const m = new F.CounterManager({ address, authkey });
        let err: unknown;
        try {
          m.getServer();
        } catch (e) {
          err = e;
        }
        expect(err, `${address[0]} ${JSON.stringify(authkey)}`).toBeInstanceOf(mp.ValueError);
        expect((err as Error).message).toMatch(/authkey/);
      }
    }
  });

  it('with a key it starts on 0.0.0.0, serves clients with the key and refuses others', async () => {
    const { m, pid } = await startManager(new F.CounterManager({ address: ['0.0.0.0', 0], authkey: 'lan-key' }));
    const [host, port] = m.address as TcpAddress;
    expect(host).toBe('0.0.0.0');
    expect(port).toBeGreaterThan(0);
    const client = new F.CounterClient({ address: [HOST, port], authkey: 'lan-key' });
    await client.connect();
    expect(await (await client.Counter(4)).increment()).toBe(5);
    const wrong = new F.CounterClient({ address: [HOST, port], authkey: 'lan-kez' });
    expect(await failure(() => wrong.connect())).toBeInstanceOf(mp.AuthenticationError);
    await m.shutdown();
    expect(await waitGone(pid, 5000)).toBe(true);
  });
});

// ---------------------------------------------------------------- 4. message size limit

describe('message size limit', () => {
  const KEY = 'limit-key';
  const LIMIT = 1 << 20;
  let env: { m: mp.SyncManager; pid: number };

  beforeAll(async () => {
    env = await startSyncManager({ address: [HOST, 0], authkey: KEY, maxMessageBytes: LIMIT });
  });

  it('a 2 MiB value is a local ValueError and is not sent: the connection goes on', async () => {
    const d = await env.m.dict();
    await d.set('a', 1);
    for (const big of ['x'.repeat(2 << 20), Buffer.alloc(2 << 20), [new Float64Array(1 << 18)]]) {
      const err = await failure(() => d.set('big', big));
      expect(err).toBeInstanceOf(mp.ValueError);
      expect((err as Error).message).toMatch(/maxMessageBytes/);
    }
    // Had it been sent, the server would have closed this connection: every call below would fail.
    expect(await d.get('a')).toBe(1);
    expect(await d.has('big')).toBe(false);
    // Just under the limit goes through.
    await d.set('fits', 'y'.repeat(LIMIT - 4096));
    expect(((await d.get('fits')) as string).length).toBe(LIMIT - 4096);
  });

  it('a reply over the limit is an error for that call only', async () => {
    const l = await env.m.list();
    await l.append('a'.repeat(600_000));
    await l.append('b'.repeat(600_000)); // each request fits; the whole list does not
    const err = await failure(() => l.copy());
    expect(err).toBeInstanceOf(mp.ValueError);
    expect((err as Error).message).toMatch(/maxMessageBytes/);
    expect(await l.length()).toBe(2);
  });

  it('a raw frame over the limit closes only that connection, from its header', async () => {
    const d = await env.m.dict({ k: 'v' });
    const bystander = await rawSession(env.m.address, KEY);
    const big = await rawSession(env.m.address, KEY);
    big.write(header(2 << 20));
    for (let i = 0; i < 2 && !big.isClosed; i++) {
      big.write(Buffer.alloc(1 << 20, 0x41));
      await sleep(20);
    }
    expect(await big.closesWithin(3000)).toBe(true);
    expect((await bystander.call(1, 0, 'hello'))[2]).toMatchObject({ maxMessageBytes: LIMIT });
    expect(await d.get('k')).toBe('v');
    // A raw request just under the limit is served.
    const listId = await rawCreate(bystander, 2, 'list');
    const [, kind] = await bystander.call(3, listId, 'append', ['z'.repeat(LIMIT - 1024)]);
    expect(kind).toBe(RETURN);
    expect(isRunning(env.pid)).toBe(true);
  });
});

// ---------------------------------------------------------- 5. clients killed mid-request

describe('clients SIGKILLed in the middle of a request', () => {
  let env: { m: mp.SyncManager; pid: number };
  let out: mp.Queue;

  beforeAll(async () => {
    env = await startSyncManager();
    out = new mp.Queue();
  });
  afterAll(() => out.close());

  it('a child holding a manager Lock is killed: the pending acquire succeeds promptly', async () => {
    const lock = await env.m.Lock();
    const p = startChild(F.holdLock, [lock, out]);
    expect(await out.get({ timeout: 15 })).toBe('held');
    expect(await lock.acquire({ block: false })).toBe(false);
    let acquired = false;
    const pending = lock.acquire().then((v) => {
      acquired = true;
      return v;
    });
    await sleep(200);
    expect(acquired, 'the lock is held by the child').toBe(false);
    const t0 = Date.now();
    p.kill();
    expect(await settles(pending, 'the acquire after the holder died', 5000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3000);
    await p.join(5);
    expect(p.exitcode).toBe(-9);
    // The lock is ours now, and works as a lock.
    expect(await lock.acquire({ block: false })).toBe(false);
    await lock.release();
    expect(await lock.acquire({ block: false })).toBe(true);
    await lock.release();
  });

  it('a child blocked in q.get() is killed: an item put afterwards goes to a live consumer', async () => {
    const q = await env.m.Queue();
    const p = startChild(F.blockInGet, [q, out]);
    expect(await out.get({ timeout: 15 })).toBe('waiting');
    // Our get waits behind the child's: the dead waiter must not take the item.
    const ours = q.get({ timeout: 10 });
    await sleep(100);
    p.kill();
    await p.join(5);
    await q.put('item');
    expect(await settles(ours, 'the live consumer getting the item', 12_000)).toBe('item');
    expect(await q.qsize()).toBe(0);
    // And the next item too (no stale waiter left behind).
    await q.put('second');
    expect(await q.get({ timeout: 5 })).toBe('second');
  });

  it('a child killed while streaming d.set calls: the server keeps serving and the dict is consistent', async () => {
    const d = await env.m.dict<string, { i: number; payload: string }>();
    const p = startChild(F.streamSets, [d, out]);
    expect(await out.get({ timeout: 15 })).toBe('streaming');
    await sleep(50);
    p.kill();
    await p.join(5);
    expect(p.exitcode).toBe(-9);
    const snapshot = (await d.copy()) as Record<string, { i: number; payload: string }>;
    const n = Object.keys(snapshot).length;
    expect(n).toBeGreaterThanOrEqual(100); // the child had its first 100 answered
    // One connection's requests run in order: what arrived is exactly k0 .. k(n-1), each whole.
    for (let i = 0; i < n; i++) {
      const v = snapshot[`k${i}`];
      expect(v, `k${i}`).toBeDefined();
      expect(v!.i).toBe(i);
      expect(v!.payload).toBe('p'.repeat(2000));
    }
    expect(await d.length()).toBe(n);
    await d.set('after', { i: -1, payload: '' });
    expect(await d.length()).toBe(n + 1);
    expect(isRunning(env.pid)).toBe(true);
  });
});

// --------------------------------------------------------- 6. shutdown with live clients

describe('shutdown with live clients', () => {
  it('a child blocked in q.get(): shutdown resolves promptly, the call rejects with EOFError, the server is gone', async () => {
    const { m, pid } = await startSyncManager();
    const out = new mp.Queue();
    try {
      const q = await m.Queue();
      const d = await m.dict();
      const p = startChild(F.getUntilShutdown, [q, d, out]);
      expect(await out.get({ timeout: 15 })).toBe('waiting');
      expect(await d.get('child')).toBe('here');
      const t0 = Date.now();
      await settles(m.shutdown(), 'shutdown()', 8000);
      expect(Date.now() - t0).toBeLessThan(4000);
      const report = (await out.get({ timeout: 10 })) as { error?: string; isEOF?: boolean };
      expect(report).toMatchObject({ error: 'EOFError', isEOF: true });
      await p.join(10);
      expect(p.exitcode).toBe(3);
      expect(await waitGone(pid, 5000)).toBe(true);
      // Our own proxies know too.
      expect(await failure(() => d.get('child'))).toBeInstanceOf(mp.EOFError);
      await m.shutdown(); // idempotent
    } finally {
      out.close();
    }
  });
});

// ------------------------------------------------------ 7. nothing in a request runs code

describe('nothing in a request runs code', () => {
  const KEY = 'data-key';
  let env: { m: mp.SyncManager; pid: number };
  let dir: string;
  let marker: string;
  let evilUrl: string;

  beforeAll(async () => {
    env = await startSyncManager({ address: [HOST, 0], authkey: KEY });
    dir = mkdtempSync(join(tmpdir(), 'mp-sec-'));
    marker = join(dir, 'ran');
    const evil = join(dir, 'evil.mjs');
    writeFileSync(
      evil,
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker + '-import')}, 'imported');\n` +
        `export function run() { writeFileSync(${JSON.stringify(marker)}, 'ran'); }\nexport default run;\n`,
    );
    evilUrl = pathToFileURL(evil).href;
  });
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Values that look like code or like references to code. */
  function codeLike(): Record<string, unknown> {
    const body = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`;
    return {
      arrow: `() => ${body}`,
      fn: `function run() { ${body} }`,
      iife: `(function () { ${body} })()`,
      sourceRef: { kind: 'source', source: `function run() { ${body} }`, name: 'run' },
      exportRef: { kind: 'export', module: evilUrl, name: 'run' },
      autoRef: { kind: 'auto', candidates: [evilUrl], name: 'run', source: 'function run() {}' },
      plainRef: { module: evilUrl, name: 'run' },
      target: { target: { module: evilUrl, name: 'run' }, args: [] },
      instanceRef: { candidates: [evilUrl], className: 'X', source: 'class X {}', fields: {} },
      protoKey: JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}'),
    };
  }

  it('function source and target-shaped objects are stored and returned as plain data', async () => {
    const values = codeLike();
    const d = await env.m.dict();
    for (const [k, v] of Object.entries(values)) await d.set(k, v);
    for (const [k, v] of Object.entries(values)) expect(await d.get(k), k).toEqual(v);
    const l = await env.m.list(Object.values(values));
    expect(await l.copy()).toEqual(Object.values(values));
    const ns = await env.m.Namespace();
    await ns.set('payload', values);
    expect(await ns.get('payload')).toEqual(values);
    // The same through raw v8-format frames (the form whose handles the server revives).
    const c = await rawSession(env.m.address, KEY);
    const dictId = await rawCreate(c, 1, 'dict');
    let id = 2;
    for (const [k, v] of Object.entries(values)) {
      expect((await c.call(id++, dictId, 'set', [k, [v, new Map([[1, 2]])]], 'v8'))[1], k).toBe(RETURN);
      const [, kind, got] = await c.call(id++, dictId, 'get', [k], 'v8');
      expect(kind).toBe(RETURN);
      expect((got as unknown[])[0], k).toEqual(v);
    }
    await sleep(200);
    expect(existsSync(marker), 'code in a request ran').toBe(false);
    expect(existsSync(marker + '-import'), 'a module named in a request was imported').toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(isRunning(env.pid)).toBe(true);
  });

  it('create with a typeid that is not registered fails with RemoteError', async () => {
    class Asker extends mp.BaseManager {}
    Asker.register('Bogus');
    // A client cannot register a name the manager already has (an Object member)...
    expect(() => Asker.register('hasOwnProperty')).toThrow(mp.ValueError);
    const a = new Asker({ address: env.m.address, authkey: KEY });
    await a.connect();
    // ...but a request can still name one: the server looks typeids up as its own only.
    const create = (typeid: string) => (a as unknown as { create(t: string, args: unknown[]): Promise<unknown> }).create(typeid, []);
    for (const typeid of ['Bogus', 'hasOwnProperty']) {
      const err = await failure(() => create(typeid));
      expect(err, typeid).toBeInstanceOf(mp.RemoteError);
      expect((err as mp.RemoteError).cause).toBeInstanceOf(mp.ValueError);
      expect((err as Error).message).toMatch(/typeid/);
    }
    // A typeid the server registered without a callable cannot be created either.
    const { m: cm } = await startManager(new F.CounterManager({ address: [HOST, 0], authkey: KEY }));
    expect(await failure(() => cm.ProxyOnly())).toBeInstanceOf(mp.RemoteError);
    expect(await (await cm.Counter(1)).increment()).toBe(2);
    await cm.shutdown();
    expect(isRunning(env.pid)).toBe(true);
  });

  it('forged shared-object handles in a request get an error reply; the server stays up', async () => {
    const c = await rawSession(env.m.address, KEY);
    const dictId = await rawCreate(c, 1, 'dict');
    const forged = [
      { $mpHandle: 'Lock', block: { a: 'mp-no-such-arena', o: 64, g: 0, n: 4 } },
      { $mpHandle: 'Lock', block: { a: '../../etc/passwd', o: 1 << 30, g: 0, n: 4 } },
      { $mpHandle: 'Semaphore', block: null },
      { $mpHandle: 'SharedMemory', name: 'mp-no-such-segment' },
      { $mpHandle: 'SharedMemory', name: '../../../etc/passwd' },
      { $mpHandle: 'Connection', r: { x: 1 }, w: null },
      { $mpHandle: 'Queue', maxsize: 1, ring: 'x' },
      { $mpHandle: 'Array', typecode: 'd' },
      { $mpHandle: 'NoSuchKind' },
      { $mpHandle: 'ManagerProxy', server: 'x' },
    ];
    let id = 2;
    for (const h of forged) {
      const [, kind, value] = await c.call(id++, dictId, 'set', ['k', h], 'v8');
      expect(kind, JSON.stringify(h)).toBe(FAILED);
      expect((value as { message: string }).message).toBeTypeOf('string');
    }
    expect((await c.call(id++, dictId, 'length', []))[2]).toBe(0);
    expect(isRunning(env.pid)).toBe(true);
  });

  it("a proxy token in a network client's request does not make the server authenticate elsewhere with its process authkey", async () => {
    // A listener of our own that challenges whoever connects and checks the answer
    // against this process tree's authkey (which the manager process inherited).
    const treeKey = Buffer.from(mp.currentProcess().authkey);
    let connections = 0;
    let answeredWithTreeKey = false;
    const trap: NetServer = createServer((s) => {
      connections++;
      s.on('error', () => {});
      const message = Buffer.concat([Buffer.from('{sha256}'), randomBytes(40)]);
      const challenge = Buffer.concat([CHALLENGE, message]);
      s.write(Buffer.concat([header(challenge.length), challenge]));
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length < 4 || got.length < 4 + got.readInt32BE(0)) return;
        const answer = got.subarray(4, 4 + got.readInt32BE(0));
        const valid = Buffer.concat([Buffer.from('{sha256}'), createHmac('sha256', treeKey).update(message).digest()]);
        answeredWithTreeKey = answer.equals(valid);
        s.destroy();
      });
    });
    await new Promise<void>((r) => trap.listen(0, HOST, r));
    try {
      const port = (trap.address() as { port: number }).port;
      const c = await rawSession(env.m.address, KEY);
      const dictId = await rawCreate(c, 1, 'dict');
      const token = { $mpHandle: 'ManagerProxy', server: 'elsewhere', address: [HOST, port], id: 1, typeid: 'dict', exposed: ['get'], proxy: '' };
      c.send([2, dictId, 'set', ['k', token]], 'v8');
      await c.reply().catch(() => null);
      await until(() => answeredWithTreeKey, 1000);
      expect(answeredWithTreeKey, 'the server answered a challenge from an address a client chose with its own key').toBe(false);
      expect(connections, 'connections the server opened to an address a client chose').toBe(0);
    } finally {
      trap.close();
    }
  });
});
