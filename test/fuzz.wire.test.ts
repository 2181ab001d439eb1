// Fuzzing the wire (issue 8, "Fuzzing the boundaries"): what other processes and peers
// send us, with fast-check.
//
//   codec        the message Decoder on random, truncated and mutated bytes; shared handles
//                inside messages, mutated and relabeled, revived (in a worker thread);
//   ring         the queue/pipe ring's record reader over a segment whose records or header
//                counters are random (in a worker thread, so that a loop that never ends is
//                ended after a deadline and reported);
//   framing      random byte streams into a SocketConnection (Listener without authkey),
//                read back with recv/recvBytes(maxlength)/recvBytesInto/poll, sync and async;
//   handshake    random and mutated handshake messages to a Listener with an authkey
//                (accept) and from a fake server to Client;
//   manager      after a correct handshake by hand, random frames, codec values and
//                request-shaped arrays to a manager server; a normal proxy keeps working.
//
// The rules: a read gives data or a clear Error (an mp error class where the API reaches;
// never a bare V8 error), never a read past the data it was given, never a hang; a
// handshake with garbage never accepts; a server survives anything a client sends.
//
// Settings (MP_FUZZ_RUNS, MP_FUZZ_SEED, MP_FUZZ_REPORT_DIR, MP_FUZZ_IGNORE) and the
// harness are in helpers/fuzz.ts.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import * as mp from 'multiprocessing';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { FrameReader } from './helpers/frames.js';
import { CALL_MS, PROPERTY_MS, errorText, faithful, fuzzHarness, normalize, runs, show } from './helpers/fuzz.js';

const require = createRequire(import.meta.url);
const DIST = fileURLToPath(new URL('../dist', import.meta.url));

interface EncoderLike {
  encode(value: unknown): Uint8Array;
}
interface DecoderLike {
  wire: boolean;
  decode(bytes: Uint8Array, start: number, end: number): unknown;
}
const codec = require('../dist/codec.js') as {
  Encoder: new () => EncoderLike;
  Decoder: new () => DecoderLike;
  revive(value: unknown, wire: boolean): unknown;
  FORMAT_FAST: number;
  FORMAT_V8: number;
};
interface SocketConnectionLike {
  closed: boolean;
  sendBytes(buf: Uint8Array): Promise<void>;
  recvBytes(maxlength?: number): Promise<Buffer>;
  close(): void;
}
const { SocketConnection } = require('../dist/socket_connection.js') as { SocketConnection: new (socket: Socket) => SocketConnectionLike };
const auth = require('../dist/auth.js') as {
  answerChallenge(conn: SocketConnectionLike, key: Buffer): Promise<void>;
  deliverChallenge(conn: SocketConnectionLike, key: Buffer): Promise<void>;
};
const { tokenOf, connectionOf } = require('../dist/manager_proxy.js') as {
  tokenOf(proxy: mp.BaseProxy): { server: string; id: number; address: mp.connection.Address };
  connectionOf(proxy: mp.BaseProxy): { call(objectId: number, method: string, args: unknown[]): Promise<unknown> };
};

// ------------------------------------------------------------------------------ harness

const { fail, fuzz, countCall, stray, writeReport } = fuzzHarness('fuzz.wire');


class Hang extends Error {}

/** fc.asyncProperty that fails when an uncaught exception or unhandled rejection surfaced meanwhile (or a tick after). */
const property = ((...args: unknown[]) => {
  const predicate = args.pop() as (...values: unknown[]) => Promise<void>;
  const check = async (...values: unknown[]) => {
    await predicate(...values);
    await new Promise((r) => setImmediate(r));
    if (stray.length > 0) fail(`stray error after the case: ${stray.splice(0).join('; ')}`);
  };
  return (fc.asyncProperty as (...a: unknown[]) => unknown)(...args, check);
}) as typeof fc.asyncProperty;

function within<T>(p: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Hang(`${what}: did not settle within ${ms} ms (a hang)`)), ms);
  });
  const settled = Promise.resolve(p);
  settled.catch(() => {});
  return Promise.race([settled, hang]).finally(() => clearTimeout(timer));
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Run `fn` (sync or async) with a hang limit; the outcome, never a throw (but a Hang). */
async function settle(what: string, fn: () => unknown, ms = CALL_MS): Promise<Outcome> {
  countCall();
  try {
    return { ok: true, value: await within(Promise.resolve().then(fn), ms, what) };
  } catch (error) {
    if (error instanceof Hang) {
      fail(error.message);
      return { ok: false, error };
    }
    return { ok: false, error };
  }
}

/** V8's and Node's own messages (see fuzz.args.test.ts): a broken, not a checked, input. */
const NATIVE_MESSAGES: RegExp[] = [
  /^Cannot (read|set) propert(y|ies) of (undefined|null)/,
  /^Cannot create property/,
  /^[^:]{0,200} is not (a function|a constructor|iterable|defined|a valid|an object)/,
  /^Cannot convert (a Symbol|object|undefined or null|a BigInt)/,
  /^Invalid (typed array length|array length|atomic access index|value used|time value|DataView|string length|code point)/,
  /^Offset is outside the bounds/,
  /^Start offset .* is outside the bounds/,
  /^start offset of .* should be a multiple of/,
  /^byte length of .* should be a multiple of/,
  /^Maximum call stack size exceeded/,
  /^Array buffer allocation failed/,
  /^The "[^"]+" (argument|property) must be/,
  /^The value of "[^"]+" is out of range/,
  /^Index out of range/,
  /^Attempt to access memory outside buffer bounds/,
];
const isNativeMessage = (msg: string) => NATIVE_MESSAGES.some((re) => re.test(msg));

/** A clear Error: an Error with a message of the library's own (any class). */
function unclear(err: unknown): string | null {
  if (!(err instanceof Error)) return `a non-Error was thrown: ${show(err)}`;
  if (err.message === '') return `${err.constructor.name} with an empty message`;
  if (isNativeMessage(err.message)) return `a bare native ${err.constructor.name}: ${err.message}`;
  return null;
}

function isOsError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return err instanceof Error && err.constructor === Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/**
 * What the API lets a public call reject with: one of `allowed`, clear; with `os`, also an
 * OS error (a shared handle naming a segment that is gone: ENOENT, as SharedMemory documents).
 */
function untyped(err: unknown, allowed: (abstract new (...a: never[]) => Error)[], os = false): string | null {
  const u = unclear(err);
  if (u !== null) return u;
  if (os && isOsError(err)) return null;
  if (!allowed.some((C) => err instanceof C)) return `wrong error class ${(err as Error).constructor.name}: ${(err as Error).message}`;
  return null;
}

// --------------------------------------------------------------------------- arbitraries

const enc = new codec.Encoder();
const encode = (v: unknown): Uint8Array => enc.encode(v).slice();

/** Values the codec carries: its fast path (plain data) and its v8 path (Map, BigInt, Date, ...). */
const codecValue = fc.anything({
  maxDepth: 3,
  maxKeys: 5,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  stringUnit: 'binary',
});

const U32_EDGES = [0, 1, 2, 3, 4, 7, 8, 31, 32, 33, 255, 256, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0x1fffffff, 0x20000000];

/** One change to a byte string: flip, set, cut, extend, insert, or a u32 length overwritten. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ op: fc.constant('u32' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...U32_EDGES), fc.nat()) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (const m of ms) {
    const n = b.length;
    switch (m.op) {
      case 'flip':
        if (n > 0) b[m.at % n]! ^= 1 << m.bit;
        break;
      case 'set':
        if (n > 0) b[m.at % n] = m.byte;
        break;
      case 'cut':
        b = b.subarray(0, n === 0 ? 0 : m.at % n);
        break;
      case 'extend':
        b = Uint8Array.from([...b, ...m.bytes]);
        break;
      case 'insert': {
        const at = n === 0 ? 0 : m.at % (n + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
        break;
      }
      case 'u32':
        if (n >= 4) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(m.at % (n - 3), m.value >>> 0, true);
        break;
    }
  }
  return b;
}

/** Bytes for the decoder: random ones (mostly with a valid format byte) or a mutated real encoding. */
const codecBytes = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(1, 1, 1, 2, 0, 3, 255), fc.uint8Array({ maxLength: 64 })).map(([f, b]) => Uint8Array.from([f, ...b])) },
  { weight: 3, arbitrary: fc.tuple(codecValue, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([v, ms]) => mutate(encode(v), ms)) },
  { weight: 1, arbitrary: codecValue.map(encode) },
);

/** Handle-shaped objects (as a peer could send them): each kind, random fields. */
const KINDS = ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event', 'Barrier', 'Queue', 'SimpleQueue', 'JoinableQueue', 'Connection', 'Value', 'RawValue', 'Array', 'SharedMemory', 'ShareableList', 'ManagerProxy', 'Nope'];
const blockHandle = fc.record(
  {
    a: fc.oneof(fc.constantFrom('', 'mp_nonexistent', '/', 'a/b'), fc.string({ maxLength: 6 }), fc.integer()),
    o: fc.oneof(fc.constantFrom(0, 16, 1024, 4096, -16, 1.5, 2 ** 40), fc.integer()),
    g: fc.oneof(fc.constantFrom(0, 1, -1, 1.5), fc.integer()),
    n: fc.oneof(fc.constantFrom(0, 4, 8, -1, 1.5, 2 ** 40), fc.integer()),
    d: fc.oneof(fc.constant(undefined), fc.constantFrom('', 'mp_nonexistent'), fc.integer()),
  },
  { requiredKeys: [] },
);
const handleLike = fc
  .tuple(
    fc.constantFrom(...KINDS),
    fc.record(
      {
        block: fc.oneof(blockHandle, fc.constant(null)),
        ring: fc.oneof(blockHandle, fc.constant(null)),
        r: fc.oneof(blockHandle, fc.constant(null)),
        w: fc.oneof(blockHandle, fc.constant(null)),
        b: blockHandle,
        t: fc.constantFrom('i', 'd', 'x', 5),
        s: fc.integer({ min: -1, max: 4 }),
        n: fc.integer({ min: -1, max: 4 }),
        maxsize: fc.integer({ min: -1, max: 4 }),
        name: fc.oneof(fc.constantFrom('', 'mpfuzz-nonexistent', '/', '..'), fc.integer()),
        lock: fc.constant(null),
        server: fc.string({ maxLength: 4 }),
        address: fc.constant(`\0mpfuzz-nowhere-${process.pid}`),
        id: fc.integer({ min: -1, max: 5 }),
        typeid: fc.constantFrom('dict', 'x'),
        exposed: fc.constant([]),
        proxy: fc.constant(''),
      },
      { requiredKeys: [] },
    ),
  )
  .map(([kind, fields]) => ({ $mpHandle: kind, ...fields }));

/** A v8-format message carrying handle-shaped objects. */
const handleMessage = fc.array(handleLike, { minLength: 1, maxLength: 2 }).map((hs) => Uint8Array.from([codec.FORMAT_V8, ...serialize(hs.length === 1 ? hs[0] : hs)]));

const int32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0, 0);
  return b;
};
const frameOf = (payload: Uint8Array) => Buffer.concat([int32be(payload.length), payload]);

/** A payload for a connection: random bytes, an encoded value, a mutated one, handles. */
const payload = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 3, arbitrary: codecValue.map(encode) },
  { weight: 3, arbitrary: codecBytes },
  { weight: 1, arbitrary: handleMessage },
);

/** One piece of a byte stream: a good frame, a frame with a lying header, raw junk. */
const streamPiece = fc.oneof(
  { weight: 4, arbitrary: payload.map(frameOf) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(fc.constantFrom(0, 1, -1, -2, 0x7fffffff, -0x80000000, 1 << 20, 257), fc.integer()), fc.uint8Array({ maxLength: 48 }))
      .map(([n, p]) => Buffer.concat([int32be(n), p])),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(0n, 1n, 3n, 2n ** 31n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n), fc.uint8Array({ maxLength: 16 })).map(([n, p]) => {
      const h = Buffer.alloc(12);
      h.writeInt32BE(-1, 0);
      h.writeBigUInt64BE(n, 4);
      return Buffer.concat([h, p]);
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 24 }).map((u) => Buffer.from(u)) },
);
const stream = fc.array(streamPiece, { maxLength: 6 }).map((pieces) => Buffer.concat(pieces));

/** `bytes` cut into chunks at the given points (each written on its own). */
function chunksOf(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < bytes.length) out.push(bytes.subarray(from));
  return out;
}

function write(sock: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed || !sock.writable) return resolve();
    sock.write(bytes, () => resolve());
  });
}

async function endSocket(sock: Socket): Promise<void> {
  if (sock.destroyed) return;
  const closed = once(sock, 'close').catch(() => {});
  sock.end();
  await within(closed, 2000, 'closing the raw socket').catch(() => sock.destroy());
}


// --------------------------------------------------------------- isolated (worker) cases

/**
 * The cases that may loop forever or scribble over shared blocks run in a worker thread:
 * a case that does not answer within its deadline is a hang; the worker is then ended
 * (TerminateExecution stops a JS loop) and a fresh one takes the next case.
 */
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const DIST = ${JSON.stringify(DIST)};
const { Ring, NOTHING } = require(DIST + '/ring.js');
const { Outgoing, MessageReader, leftoverBlocks } = require(DIST + '/messages.js');
const reduction = require(DIST + '/reduction.js');
const mp = require(DIST + '/index.js');
const HEADER_BYTES = 768;
function info(e) {
  if (!(e instanceof Error)) return { isError: false, cls: typeof e, msg: String(e) };
  const os = e.constructor === Error && typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code);
  return { isError: true, cls: e.constructor.name, msg: String(e.message), typed: e instanceof TypeError || e instanceof RangeError || e instanceof mp.MultiprocessingError, os };
}
function ringCase(c) {
  const ring = Ring.create(c.capacity);
  const out = new Outgoing();
  for (const m of c.messages) {
    const o = m.bytes !== undefined ? out.bytes(ring, Buffer.from(m.bytes)) : out.value(ring, m.value);
    if (!ring.tryPut(o.payload, o.length, o.flags, 0)) break;
  }
  const reader = new MessageReader(false);
  const bytesReader = new MessageReader(true);
  for (let i = 0; i < c.consumed; i++) {
    const g = ring.tryTake(reader);
    if (g === NOTHING) break;
    reader.finish(g);
  }
  const h = ring.header;
  const data = new Uint8Array(h.buffer, h.byteOffset + HEADER_BYTES, c.capacity);
  for (const w of c.dataWrites) {
    const at = w.offset % c.capacity;
    data.set(w.bytes.subarray(0, c.capacity - at), at);
  }
  for (const w of c.headerWrites) h[w.word] = w.value;
  const results = [];
  let target = ring;
  let attached = null;
  if (c.attach) {
    try {
      attached = Ring.attach(ring.handle());
      target = attached;
      results.push({ op: 'attach', ok: true });
    } catch (e) {
      results.push({ op: 'attach', ok: false, error: info(e) });
    }
  }
  for (const op of c.ops) {
    const r = { op, ok: true };
    try {
      if (op === 'take' || op === 'takeBytes') {
        const rd = op === 'take' ? reader : bytesReader;
        const g = target.tryTake(rd);
        if (g === NOTHING) r.kind = 'nothing';
        else {
          const v = rd.finish(g);
          r.kind = Buffer.isBuffer(v) ? 'bytes' : 'value';
          if (Buffer.isBuffer(v)) r.len = v.length;
        }
      } else if (op === 'peek') {
        r.kind = target.peek(reader) === NOTHING ? 'nothing' : 'value';
      } else if (op === 'count') r.value = target.count();
      else if (op === 'empty') r.value = target.isEmpty();
      else if (op === 'put') {
        const o = out.value(target, 'after');
        r.value = target.tryPut(o.payload, o.length, o.flags, 0);
      }
    } catch (e) {
      r.ok = false;
      r.error = info(e);
    }
    r.headPastTail = ((h[1] - h[17]) | 0) < 0;
    results.push(r);
  }
  parentPort.postMessage({ id: c.id, progress: 'release' });
  for (const [op, x] of [['release (attached)', attached], ['release', ring]]) {
    if (x === null) continue;
    try {
      if (c.leftover) x.release(leftoverBlocks);
      else x.release();
      results.push({ op, ok: true });
    } catch (e) {
      results.push({ op, ok: false, error: info(e) });
    }
  }
  return results;
}
const MAKERS = {
  Lock: () => new mp.Lock(),
  RLock: () => new mp.RLock(),
  Event: () => new mp.Event(),
  Semaphore: () => new mp.Semaphore(2),
  BoundedSemaphore: () => new mp.BoundedSemaphore(2),
  Condition: () => new mp.Condition(),
  Barrier: () => new mp.Barrier(2),
  Queue: () => new mp.Queue(),
  SimpleQueue: () => new mp.SimpleQueue(),
  JoinableQueue: () => new mp.JoinableQueue(),
  Value: () => mp.Value('d', 1.5),
  Array: () => mp.Array('i', [1, 2, 3]),
  Connection: () => mp.Pipe()[0],
};
function handleCase(c) {
  const obj = MAKERS[c.from]();
  const h = JSON.parse(JSON.stringify(reduction.handleOf(obj)));
  if (c.kind !== null) h.$mpHandle = c.kind;
  for (const m of c.edits) {
    let holder = h;
    for (const k of m.path.slice(0, -1)) holder = holder !== null && typeof holder === 'object' ? holder[k] : undefined;
    if (holder === null || typeof holder !== 'object') continue;
    const key = m.path[m.path.length - 1];
    if (m.remove) delete holder[key];
    else holder[key] = m.value;
  }
  const r = { handle: h };
  let revived;
  try {
    revived = reduction.revive(h);
    r.ok = true;
    r.got = revived === null || typeof revived !== 'object' ? typeof revived : revived.constructor.name;
    // A revived object's view of shared memory must lie inside its block.
    const w = revived !== null && typeof revived === 'object' ? revived.w : undefined;
    const block = revived !== null && typeof revived === 'object' ? revived.block : undefined;
    if (w instanceof Int32Array && block && typeof block.byteLength === 'number' && w.byteLength > block.byteLength) {
      r.outside = 'its ' + w.length + ' words (' + w.byteLength + ' bytes) over a block of ' + block.byteLength + ' bytes';
    }
  } catch (e) {
    r.ok = false;
    r.error = info(e);
  }
  try { if (revived && typeof revived.close === 'function') revived.close(); } catch {}
  try { obj.close(); } catch {}
  return r;
}
parentPort.on('message', (c) => {
  let out;
  try {
    out = { id: c.id, result: c.type === 'ring' ? ringCase(c) : handleCase(c) };
  } catch (e) {
    out = { id: c.id, harness: String((e && e.stack) || e) };
  }
  parentPort.postMessage(out);
});
`;

interface ErrorInfo {
  isError: boolean;
  cls: string;
  msg: string;
  typed?: boolean;
  /** An OS error (a plain Error with an errno code), as SharedMemory documents them. */
  os?: boolean;
}

class Isolated {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending = new Map<number, (v: unknown) => void>();
  private progress = new Map<number, string>();
  restarts = 0;

  private start(): Worker {
    const w = new Worker(WORKER_CODE, { eval: true });
    w.on('message', (m: { id: number; progress?: string }) => {
      if (m.progress !== undefined) {
        this.progress.set(m.id, m.progress);
        return;
      }
      this.pending.get(m.id)?.(m);
      this.pending.delete(m.id);
    });
    w.on('error', () => {});
    w.unref();
    this.worker = w;
    return w;
  }

  /** The step the last case that hung had reached (as the worker reported it). */
  hungAt = '';

  /** The worker's answer to `c`, or null when it did not answer within `ms` (it is then replaced). */
  async run(c: Record<string, unknown>, ms: number): Promise<{ result?: unknown; harness?: string } | null> {
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    const answer = new Promise<unknown>((r) => this.pending.set(id, r));
    w.postMessage({ ...c, id });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((r) => {
      timer = setTimeout(() => r(null), ms);
    });
    const got = (await Promise.race([answer, late])) as { result?: unknown; harness?: string } | null;
    clearTimeout(timer);
    this.hungAt = got === null ? (this.progress.get(id) ?? 'the reads') : '';
    this.progress.delete(id);
    if (got === null) {
      this.pending.delete(id);
      this.worker = null;
      this.restarts++;
      // A loop inside a builtin may not stop at once: do not wait for it for long.
      await within(w.terminate(), 1000, 'terminate').catch(() => {});
    }
    return got;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = null;
  }
}

/**
 * Run `body` (CommonJS, with `mp` and `input` in scope; its last expression's value is the
 * result) in a child process, SIGKILLed after `ms`: for what a worker thread cannot stop
 * (a loop inside a builtin). Null when it did not finish in time.
 */
function inChild(body: string, input: unknown, ms: number): Promise<{ result?: unknown; error?: string } | null> {
  const script = `
    const mp = require(${JSON.stringify(join(DIST, 'index.js'))});
    const input = JSON.parse(process.argv[1]);
    Promise.resolve().then(() => { ${body} }).then(
      (result) => { process.stdout.write(JSON.stringify({ result })); process.exit(0); },
      (e) => { process.stdout.write(JSON.stringify({ error: String((e && e.stack) || e) })); process.exit(0); },
    );
  `;
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script, JSON.stringify(input)], { timeout: ms, killSignal: 'SIGKILL' }, (err, stdout) => {
      if ((err as { killed?: boolean } | null)?.killed) return resolve(null);
      try {
        resolve(JSON.parse(stdout) as { result?: unknown; error?: string });
      } catch {
        resolve({ error: `no result: ${String(err)} ${stdout}` });
      }
    });
  });
}

// ------------------------------------------------------------------------------- tests

describe('codec', () => {
  it(
    'Decoder: random, truncated and mutated bytes decode or throw an Error, read nothing outside [start, end), and round trips hold',
    async () => {
      const dec = new codec.Decoder();
      const dec2 = new codec.Decoder();
      await fuzz(
        'codec Decoder',
        runs(20),
        property(codecBytes, fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }), async (bytes, before, after) => {
          countCall();
          // The same bytes alone, and inside a larger buffer with other bytes around them.
          const alone = Uint8Array.from(bytes);
          const padded = Uint8Array.from([...before, ...bytes, ...after]);
          const read = (d: DecoderLike, buf: Uint8Array, start: number, end: number): Outcome => {
            try {
              return { ok: true, value: normalize(d.decode(buf, start, end), true) };
            } catch (error) {
              return { ok: false, error };
            }
          };
          const t0 = performance.now();
          const a = read(dec, alone, 0, alone.length);
          const b = read(dec2, padded, before.length, before.length + bytes.length);
          // Bounded, not instant: V8's deserializer preallocates a sparse array's declared
          // length, so 52 bytes can cost it up to ~32M holes (about 0.2 s quiet, 0.6 s seen
          // on a loaded machine; a longer length is refused at once). A hang is far beyond.
          if (performance.now() - t0 > 2000) fail(`decoding ${bytes.length} bytes took ${Math.round(performance.now() - t0)} ms`);
          for (const o of [a, b]) if (!o.ok) {
            const u = unclear(o.error);
            if (u !== null) fail(`decode(${show(Buffer.from(bytes))}): ${u}`, o.error);
            else if (!(o.error as Error).message.startsWith('corrupt message')) fail(`decode(${show(Buffer.from(bytes))}): ${(o.error as Error).message}`, o.error);
          }
          if (a.ok !== b.ok || (a.ok && b.ok && !isDeepStrictEqual(a.value, b.value))) {
            fail(`decode of ${show(Buffer.from(bytes))} depends on the bytes around it: alone ${a.ok ? show(a.value) : errorText(a.error)}, inside a buffer ${b.ok ? show(b.value) : errorText(b.error)}`);
          }
        }),
      );
      await fuzz(
        'codec round trip',
        runs(10),
        property(codecValue, async (v) => {
          countCall();
          const bytes = encode(v);
          const got = codec.revive(dec.decode(bytes, 0, bytes.length), dec.wire);
          if (faithful(v) && !isDeepStrictEqual(normalize(got, true), normalize(v, true))) fail(`round trip of ${show(v)} gave ${show(got)}`);
        }),
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'shared handles in a message: handle-shaped objects, and real handles mutated or relabeled as another kind, revive or fail clearly, never reaching outside their block',
    async () => {
      const iso = new Isolated();
      const FROM = ['Lock', 'RLock', 'Event', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Barrier', 'Queue', 'SimpleQueue', 'JoinableQueue', 'Value', 'Array', 'Connection'];
      const fieldValue = fc.oneof(fc.constantFrom(null, '', 'mp_nonexistent', -1, 1.5, 2 ** 40, 0, 16, {}, []), fc.integer(), fc.string({ maxLength: 5 }));
      const edit = fc.record({
        path: fc.oneof(
          fc.constantFrom(['block'], ['ring'], ['lock'], ['cond'], ['r'], ['w'], ['b'], ['t'], ['s'], ['n'], ['maxsize'], ['action'], ['timeout']).map((p) => [...p] as string[]),
          fc.tuple(fc.constantFrom('block', 'ring', 'b', 'r', 'w'), fc.constantFrom('a', 'o', 'g', 'n', 'd')).map((p) => p as string[]),
        ),
        value: fieldValue,
        remove: fc.boolean(),
      });
      try {
        await fuzz(
          'shared handles',
          runs(3),
          property(
            fc.constantFrom(...FROM),
            fc.oneof(fc.constant(null), fc.constantFrom(...KINDS)),
            fc.array(edit, { maxLength: 2 }),
            async (from, kind, edits) => {
              countCall();
              const got = (await iso.run({ type: 'handle', from, kind, edits }, 3000)) as { result?: { ok: boolean; error?: ErrorInfo; outside?: string; handle: unknown; got?: string }; harness?: string } | null;
              if (got === null) return fail(`reviving a ${from} handle relabeled ${kind} with ${show(edits)}: no answer within 3 s (a hang)`);
              if (got.harness !== undefined) throw new Error(`harness: ${got.harness}`);
              const r = got.result!;
              const what = `revive(${show(r.handle)}) (a ${from}'s handle${kind === null ? '' : ` relabeled '${kind}'`})`;
              if (r.outside !== undefined) fail(`${what}: the revived ${r.got} reaches outside its block: ${r.outside}`);
              if (!r.ok) {
                const e = r.error!;
                if (!e.isError) fail(`${what}: threw a non-Error`);
                else if (isNativeMessage(e.msg)) fail(`${what}: a bare native ${e.cls}: ${e.msg}`);
                else if (!e.typed && !e.os) fail(`${what}: wrong error class ${e.cls}: ${e.msg}`);
              }
            },
          ),
          { examples: [['Event', 'RLock', []]] },
        );
        // Handle-shaped objects as a peer could send them, revived as recv() does.
        const dec = new codec.Decoder();
        await fuzz(
          'handle-shaped objects',
          runs(3),
          property(handleMessage, async (bytes) => {
            const r = await settle('revive', () => codec.revive(dec.decode(bytes, 0, bytes.length), dec.wire));
            if (r.ok) {
              for (const x of [r.value].flat()) (x as { close?: () => void })?.close?.();
              return;
            }
            const u = untyped(r.error, [TypeError, RangeError, mp.MultiprocessingError], true);
            if (u !== null) fail(`revive(${show(bytes)}): ${u}`, r.error);
          }),
        );
      } finally {
        await iso.close();
      }
    },
    PROPERTY_MS * 3,
  );
});

describe('ring', () => {
  // (A 64-byte ring cannot carry even the handle of a big message: Ring.create allows it, nothing public uses it.)
  const CAPACITIES = [128, 256, 1024, 4096];
  const message = fc.oneof(
    fc.string({ maxLength: 40 }).map((value) => ({ value })),
    fc.integer().map((value) => ({ value })),
    fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 12 }).map((value) => ({ value })),
    fc.uint8Array({ maxLength: 60 }).map((bytes) => ({ bytes })),
  );
  const OPS = ['take', 'takeBytes', 'peek', 'count', 'empty', 'put'];
  const ops = fc.array(fc.constantFrom(...OPS, 'take', 'takeBytes'), { minLength: 1, maxLength: 8 });
  const dataWrites = fc.array(fc.record({ offset: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }), { minLength: 1, maxLength: 3 });
  const WORDS = { TAIL: 1, PUT_N: 2, HEAD: 17, GET_N: 18, MAGIC: 32, CAP: 33 };
  const WORD_NAMES: Record<number, string> = Object.fromEntries(Object.entries(WORDS).map(([k, v]) => [v, k]));
  const counter = fc.oneof(fc.constantFrom(0, 1, 4, 7, 8, 12, 16, 24, 60, 64, 256, 1024, -1, -8, 0x7fffffff, -0x80000000), fc.integer());
  const headerWrites = fc.array(fc.record({ word: fc.constantFrom(...Object.values(WORDS)), value: counter }), { minLength: 1, maxLength: 3 });

  interface RingResult {
    op: string;
    ok: boolean;
    kind?: string;
    len?: number;
    value?: unknown;
    error?: ErrorInfo;
    headPastTail?: boolean;
  }
  interface RingCase {
    capacity: number;
    messages: ({ value: unknown } | { bytes: Uint8Array })[];
    consumed: number;
    dataWrites: { offset: number; bytes: Uint8Array }[];
    headerWrites: { word: number; value: number }[];
    ops: string[];
    leftover: boolean;
  }

  function describeCase(c: RingCase): string {
    const parts = [`ring(${c.capacity}) with ${c.messages.length} messages`];
    if (c.consumed > 0) parts.push(`${c.consumed} consumed`);
    if (c.dataWrites.length > 0) parts.push(`data overwritten ${show(c.dataWrites.map((w) => [w.offset % c.capacity, Buffer.from(w.bytes).toString('hex')]))}`);
    if (c.headerWrites.length > 0) parts.push(`header ${c.headerWrites.map((w) => `${WORD_NAMES[w.word]}=${w.value}`).join(' ')}`);
    parts.push(`then ${[...c.ops, c.leftover ? 'release(leftoverBlocks)' : 'release()'].join(', ')}`);
    return parts.join(', ');
  }

  /** Run `c` in the worker and check what it did. */
  async function ringCase(iso: Isolated, c: RingCase, checks: { headPastTail: boolean }): Promise<void> {
    countCall();
    const attach = c.headerWrites.some((w) => w.word === WORDS.CAP || w.word === WORDS.MAGIC);
    const what = describeCase(c);
    const got = (await iso.run({ type: 'ring', attach, ...c }, 1500)) as { result?: RingResult[]; harness?: string } | null;
    if (got === null) return fail(`${what}: no answer within 1.5 s: ${iso.hungAt === 'release' ? 'release() walks the records forever' : 'a read never ends'}`);
    if (got.harness !== undefined) throw new Error(`harness: ${got.harness}`);
    for (const r of got.result!) {
      if (!r.ok) {
        const e = r.error!;
        if (!e.isError) fail(`${what}: ${r.op} threw a non-Error (${e.msg})`);
        else if (isNativeMessage(e.msg)) fail(`${what}: ${r.op} failed with a bare native ${e.cls}: ${e.msg}`);
      }
      if (r.kind === 'bytes' && r.len !== undefined && r.len > c.capacity) {
        fail(`${what}: ${r.op} returned a message of ${r.len} bytes from a ring of ${c.capacity}: read outside the ring (the record header's length is trusted)`);
      }
      if (checks.headPastTail && r.headPastTail) fail(`${what}: after ${r.op}, HEAD is past TAIL: the ring is never empty again (every get reads garbage, every put waits for room)`);
    }
  }

  it(
    'record reader: random bytes over the records (and their headers) of a ring with valid counters: data or a clear Error, nothing read past the ring, HEAD never past TAIL',
    async () => {
      const iso = new Isolated();
      try {
        await fuzz(
          'ring records (read)',
          runs(6),
          property(fc.constantFrom(...CAPACITIES), fc.array(message, { minLength: 1, maxLength: 6 }), fc.nat({ max: 2 }), dataWrites, ops, async (capacity, messages, consumed, writes, opList) => {
            await ringCase(iso, { capacity, messages, consumed, dataWrites: writes, headerWrites: [], ops: opList, leftover: false }, { headPastTail: true });
          }),
          // One record whose header says 4096 bytes, in a ring of 256.
          { examples: [[256, [{ value: 'hello' }], 0, [{ offset: 0, bytes: Uint8Array.from([0, 16, 0, 0]) }], ['takeBytes']]] },
        );
      } finally {
        await iso.close();
      }
    },
    PROPERTY_MS * 2,
  );

  it(
    "releasing the last reference to a ring whose records or counters are corrupted finishes (it frees the blocks big messages point to)",
    async () => {
      const iso = new Isolated();
      try {
        await fuzz(
          'ring release',
          runs(4),
          property(fc.constantFrom(...CAPACITIES), fc.array(message, { minLength: 1, maxLength: 6 }), fc.oneof(dataWrites, fc.constant([] as { offset: number; bytes: Uint8Array }[])), fc.oneof(headerWrites.map((h) => h.filter((w) => w.word !== WORDS.CAP && w.word !== WORDS.MAGIC)), fc.constant([] as { word: number; value: number }[])), async (capacity, messages, writes, headers) => {
            await ringCase(iso, { capacity, messages, consumed: 0, dataWrites: writes, headerWrites: headers, ops: [], leftover: true }, { headPastTail: false });
          }),
          // A record header's length changed from 8 to 0: the walk to TAIL misses it.
          { examples: [[128, [{ value: 'hello' }], [{ offset: 0, bytes: Uint8Array.from([0]) }], []]] },
        );
      } finally {
        await iso.close();
      }
    },
    PROPERTY_MS * 2,
  );

  it(
    'record reader: corrupted header counters (HEAD, TAIL, message counts, capacity, magic): every read ends, with data or a clear Error',
    async () => {
      const iso = new Isolated();
      try {
        await fuzz(
          'ring counters',
          runs(6),
          property(fc.constantFrom(...CAPACITIES), fc.array(message, { minLength: 0, maxLength: 4 }), headerWrites, ops, async (capacity, messages, headers, opList) => {
            await ringCase(iso, { capacity, messages, consumed: 0, dataWrites: [], headerWrites: headers, ops: opList, leftover: false }, { headPastTail: false });
          }),
          // A capacity word that is not a power of two >= 64.
          { examples: [[256, [{ value: 'hello' }], [{ word: WORDS.CAP, value: 100 }], ['take']]] },
        );
      } finally {
        await iso.close();
      }
    },
    PROPERTY_MS * 2,
  );

  it(
    'sending a holey array costs its elements, not its length',
    async () => {
      const SEND = `
        const a = [];
        a.length = input.length;
        for (const [i, v] of input.elements) a[i % input.length] = v;
        const q = new mp.Queue();
        q.putSync(a);
        const back = q.getSync();
        q.close();
        return back.length;
      `;
      await fuzz(
        'holey arrays',
        runs(0.05),
        property(fc.constantFrom(2 ** 16, 2 ** 20, 2 ** 24, 2 ** 30, 2 ** 32 - 1), fc.array(fc.tuple(fc.nat(), fc.oneof(fc.integer(), fc.string({ maxLength: 4 }))), { minLength: 1, maxLength: 3 }), async (length, elements) => {
            countCall();
            const got = await inChild(SEND, { length, elements }, 3000);
            if (got === null) return fail(`a Queue put/get of a holey array of length ${length} with ${elements.length} element(s) took over 3 s (the send walks its length, not its elements)`);
            if (got.error !== undefined) return fail(`a Queue put/get of a holey array of length ${length}: ${got.error}`);
            if (got.result !== length) fail(`a holey array of length ${length} came back with length ${show(got.result)}`);
          }),
        { examples: [[2 ** 32 - 1, [[0, 1]]]], endOnFailure: true },
      );
    },
    PROPERTY_MS * 2,
  );
});

describe('connection framing', () => {
  let listener: mp.connection.Listener;
  let port: number;
  beforeAll(async () => {
    listener = new mp.connection.Listener(['127.0.0.1', 0]);
    await listener.listening();
    port = (listener.address as [string, number])[1];
  });
  afterAll(() => listener.close());

  type ReadOp = { op: 'recv' | 'recvSync' | 'poll' | 'pollSync' } | { op: 'recvBytes' | 'recvBytesSync'; max: number | undefined } | { op: 'recvBytesInto'; size: number };
  const readOp: fc.Arbitrary<ReadOp> = fc.oneof(
    fc.constantFrom('recv', 'recvSync', 'poll', 'pollSync').map((op) => ({ op }) as ReadOp),
    fc.record({ op: fc.constantFrom('recvBytes', 'recvBytesSync'), max: fc.oneof(fc.constant(undefined), fc.nat({ max: 80 }), fc.constant(0)) }) as fc.Arbitrary<ReadOp>,
    fc.record({ op: fc.constant('recvBytesInto'), size: fc.nat({ max: 64 }) }) as fc.Arbitrary<ReadOp>,
  );

  /** Connect a raw socket, write `bytes` in `chunks`, end it (or reset it); the accepted Connection. */
  async function feed(bytes: Buffer, cuts: number[], reset: boolean): Promise<{ conn: mp.Connection; sock: Socket }> {
    const accepted = listener.accept();
    const sock = connect(port, '127.0.0.1');
    sock.on('error', () => {});
    await once(sock, 'connect');
    const conn = await within(accepted, CALL_MS, 'accept()');
    for (const chunk of chunksOf(bytes, cuts)) await write(sock, chunk);
    if (reset) sock.resetAndDestroy();
    else {
      sock.end();
      await within(once(sock, 'finish'), CALL_MS, 'the raw socket end').catch(() => {});
    }
    return { conn, sock };
  }

  async function readAll(conn: mp.Connection, ops: ReadOp[], total: number, check: (what: string, o: Outcome) => void): Promise<void> {
    let atEnd = false;
    for (const op of [...ops, { op: 'recvBytes', max: undefined } as ReadOp, { op: 'recv' } as ReadOp]) {
      const what = `${op.op}(${'max' in op ? show(op.max) : 'size' in op ? `Buffer(${op.size})` : ''})`;
      const o = await settle(what, () => {
        switch (op.op) {
          case 'recv':
            return conn.recv();
          case 'recvSync':
            return conn.recvSync();
          case 'poll':
            return conn.poll(0.01);
          case 'pollSync':
            return conn.pollSync(0.01);
          case 'recvBytes':
            return conn.recvBytes(op.max);
          case 'recvBytesSync':
            return conn.recvBytesSync(op.max);
          default:
            return conn.recvBytesInto(Buffer.alloc(op.size));
        }
      });
      if (o.ok && Buffer.isBuffer(o.value) && o.value.length > total) fail(`${what} returned ${o.value.length} bytes, more than the ${total} sent`);
      check(what, o);
      if (!o.ok && o.error instanceof mp.EOFError) atEnd = true;
      else if (atEnd && o.ok && op.op !== 'poll' && op.op !== 'pollSync') fail(`${what} succeeded after an EOFError`);
    }
  }

  const framingCase = fc.tuple(stream, fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), fc.array(readOp, { minLength: 1, maxLength: 6 }));

  it(
    'random byte streams into a SocketConnection: every read settles (data, or an Error), none hangs, none returns more than was sent',
    async () => {
      await fuzz(
        'framing (no hang)',
        runs(3),
        property(framingCase, async ([bytes, cuts, reset, ops]) => {
          const { conn, sock } = await feed(bytes, cuts, reset);
          try {
            await readAll(conn, ops, bytes.length, (what, o) => {
              if (!o.ok && !(o.error instanceof Hang)) {
                const u = unclear(o.error);
                if (u !== null) fail(`${what} on ${show(bytes)}: ${u}`, o.error);
              }
            });
          } finally {
            conn.close();
            sock.destroy();
          }
        }),
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'random byte streams into a SocketConnection: reads fail only with EOFError, ValueError or BufferTooShort (mp errors)',
    async () => {
      await fuzz(
        'framing (error classes)',
        runs(2),
        property(framingCase, async ([bytes, cuts, reset, ops]) => {
          const { conn, sock } = await feed(bytes, cuts, reset);
          try {
            await readAll(conn, ops, bytes.length, (what, o) => {
              if (o.ok || o.error instanceof Hang) return;
              // A shared handle in a message may fail to revive with a TypeError (unknown kind) or an OS error (ENOENT).
              const u = untyped(o.error, [mp.EOFError, mp.ValueError, mp.BufferTooShort, mp.MultiprocessingError, TypeError], true);
              if (u !== null) fail(`${what} on ${show(bytes)}: ${u}`, o.error);
            });
          } finally {
            conn.close();
            sock.destroy();
          }
        }),
        // A frame whose payload is a fast-format message with an unknown tag.
        { examples: [[[Buffer.from([0, 0, 0, 2, 1, 0xff]), [], false, [{ op: 'recv' }]]]] },
      );
    },
    PROPERTY_MS * 2,
  );
});

describe('handshake', () => {
  const KEY = Buffer.from('fuzz-authkey');
  const CHALLENGE = Buffer.from('#CHALLENGE#');
  const WELCOME = Buffer.from('#WELCOME#');
  const hmac = (key: Buffer, message: Buffer, digest = 'sha256') => createHmac(digest, key).update(message).digest();

  /** A response to `challenge` (after '#CHALLENGE#'), changed so that it is wrong. */
  const wrongAnswer = fc.oneof(
    fc.record({ how: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ how: fc.constant('digest' as const), name: fc.constantFrom('{md5}', '{sha384}', '{sha3_256}', '{sha1}', '{}', '{sha256', 'sha256}', '') }),
    fc.record({ how: fc.constant('legacy' as const) }),
    fc.record({ how: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ how: fc.constant('key' as const), key: fc.uint8Array({ maxLength: 8 }) }),
  );
  type WrongAnswer = typeof wrongAnswer extends fc.Arbitrary<infer W> ? W : never;

  function answer(challenge: Buffer, w: WrongAnswer): Buffer {
    const message = challenge.subarray(CHALLENGE.length);
    const good = Buffer.concat([Buffer.from('{sha256}'), hmac(KEY, message)]);
    switch (w.how) {
      case 'flip': {
        const b = Buffer.from(good);
        const at = 8 + (w.at % (b.length - 8));
        b[at]! ^= 1 << w.bit;
        return b;
      }
      case 'digest':
        return Buffer.concat([Buffer.from(w.name), hmac(KEY, message)]);
      case 'legacy':
        return hmac(KEY, Buffer.concat([message, Buffer.from('x')]), 'md5');
      case 'cut':
        return good.subarray(0, w.at % good.length);
      default:
        return Buffer.concat([Buffer.from('{sha256}'), hmac(Buffer.concat([KEY, Buffer.from(w.key), Buffer.from('!')]), message)]);
    }
  }

  const junk = fc.oneof(stream, fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)), payload.map(frameOf));

  it(
    'Listener with an authkey: garbage, wrong answers and wrong verdicts never get accepted; accept() rejects with AuthenticationError, EOFError or ValueError, never hangs',
    async () => {
      const listener = new mp.connection.Listener(['127.0.0.1', 0], { authkey: KEY });
      await listener.listening();
      const port = (listener.address as [string, number])[1];
      try {
        await fuzz(
          'handshake (Listener)',
          runs(3),
          property(
            fc.constantFrom('blind', 'after-challenge', 'wrong-answer', 'wrong-verdict', 'silent'),
            junk,
            wrongAnswer,
            fc.boolean(),
            async (mode, garbage, wrong, keepOpen) => {
              const accepted = listener.accept();
              accepted.catch(() => {});
              const sock = connect(port, '127.0.0.1');
              sock.on('error', () => {});
              await once(sock, 'connect');
              const frames = new FrameReader(sock);
              if (mode === 'blind') await write(sock, garbage);
              else if (mode !== 'silent') {
                const challenge = await frames.next();
                if (challenge === null || !challenge.subarray(0, CHALLENGE.length).equals(CHALLENGE)) fail(`the listener sent ${show(challenge)}, not a challenge`);
                else if (mode === 'after-challenge') await write(sock, garbage);
                else if (mode === 'wrong-answer') await write(sock, frameOf(answer(challenge, wrong)));
                else {
                  // Right answer, then our own challenge, then a verdict that is not #WELCOME#.
                  await write(sock, frameOf(Buffer.concat([Buffer.from('{sha256}'), hmac(KEY, challenge.subarray(CHALLENGE.length))])));
                  const verdict = await frames.next();
                  if (verdict === null || !verdict.equals(WELCOME)) fail(`a right answer got ${show(verdict)}, not #WELCOME#`);
                  await write(sock, garbage.subarray(0, 13).equals(frameOf(WELCOME)) ? Buffer.from('x') : garbage);
                }
              }
              // Keep the socket open a moment (the listener must decide on what it has), then end it.
              if (keepOpen) await new Promise((r) => setTimeout(r, 20));
              await endSocket(sock);
              const o = await settle('accept()', () => accepted);
              if (o.ok) {
                (o.value as mp.Connection).close();
                return fail(`accept() accepted a peer that sent ${mode} ${show(garbage)}`);
              }
              const u = untyped(o.error, [mp.AuthenticationError, mp.EOFError, mp.ValueError]);
              if (u !== null) fail(`accept() after ${mode} ${show(garbage)}: ${u}`, o.error);
            },
          ),
        );
        // The listener still accepts a client that knows the key.
        const [server, client] = await within(Promise.all([listener.accept(), mp.connection.Client(listener.address, { authkey: KEY })]), CALL_MS, 'a good client after the fuzzing');
        server.close();
        client.close();
      } finally {
        listener.close();
      }
    },
    PROPERTY_MS * 2,
  );

  it(
    'Client with an authkey against a fake server: garbage challenges, wrong verdicts and wrong answers reject with AuthenticationError, EOFError or ValueError, never resolve',
    async () => {
      let behave: (sock: Socket) => Promise<void> = async () => {};
      const server: Server = createServer((sock) => {
        sock.on('error', () => {});
        behave(sock).catch(() => {});
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as { port: number }).port;
      try {
        await fuzz(
          'handshake (Client)',
          runs(3),
          property(
            fc.constantFrom('blind', 'bad-challenge', 'wrong-verdict', 'wrong-answer', 'silent-close'),
            junk,
            fc.oneof(fc.constantFrom('{sha256}', '{md5}', '{sha3_256}', '{nope}', ''), fc.string({ maxLength: 10 })),
            fc.uint8Array({ maxLength: 48 }),
            wrongAnswer,
            async (mode, garbage, digest, nonce, wrong) => {
              behave = async (sock) => {
                const frames = new FrameReader(sock);
                if (mode === 'blind') await write(sock, garbage);
                else if (mode === 'silent-close') {
                  await new Promise((r) => setTimeout(r, 5));
                } else {
                  const challenge = Buffer.concat([CHALLENGE, Buffer.from(digest), Buffer.from(nonce)]);
                  await write(sock, frameOf(challenge));
                  if (mode === 'bad-challenge') await write(sock, garbage);
                  else {
                    await frames.next();
                    if (mode === 'wrong-verdict') await write(sock, garbage.equals(WELCOME) ? Buffer.from('x') : frameOf(garbage));
                    else {
                      // #WELCOME#, then a wrong answer to the client's challenge.
                      await write(sock, frameOf(WELCOME));
                      const theirs = await frames.next();
                      if (theirs !== null) await write(sock, frameOf(answer(theirs, wrong)));
                      await frames.next();
                    }
                  }
                }
                await endSocket(sock);
              };
              const o = await settle('Client()', () => mp.connection.Client(['127.0.0.1', port], { authkey: KEY }));
              if (o.ok) {
                (o.value as mp.Connection).close();
                return fail(`Client() accepted a server that sent ${mode} ${show(garbage)}`);
              }
              const u = untyped(o.error, [mp.AuthenticationError, mp.EOFError, mp.ValueError]);
              if (u !== null) fail(`Client() against ${mode} ${show(garbage)}: ${u}`, o.error);
            },
          ),
        );
      } finally {
        server.close();
      }
    },
    PROPERTY_MS * 2,
  );
});

describe('manager protocol', () => {
  let manager: mp.SyncManager;
  let d: mp.DictProxy<string, unknown>;
  let lock: mp.AcquirerProxy;
  const victims: mp.BaseProxy[] = [];
  let victimIds: number[] = [];
  let serverId = '';
  let baseline = 0;

  beforeAll(async () => {
    manager = await mp.Manager();
    d = await manager.dict<string, unknown>({ k: 'v' });
    lock = await manager.Lock();
    victims.push(
      await manager.dict({ a: 1 }),
      await manager.list([1, 2, 3]),
      await manager.Namespace({ x: 1 }),
      await manager.Value('i', 1),
      await manager.Array('i', [1, 2, 3]),
      await manager.RLock(),
      await manager.Semaphore(2),
      await manager.Condition(),
      await manager.Event(),
      await manager.Barrier(2),
      await manager.Queue(),
      await manager.JoinableQueue(),
      lock,
    );
    victimIds = victims.map((p) => tokenOf(p).id);
    serverId = tokenOf(d).server;
    baseline = (await connectionOf(d).call(0, 'numberOfObjects', [])) as number;
  }, 60_000);
  afterAll(async () => {
    await manager?.shutdown();
  }, 60_000);

  const METHODS = [
    ...new Set([
      'get', 'set', 'delete', 'has', 'keys', 'values', 'items', 'update', 'pop', 'popitem', 'setdefault', 'clear', 'length', 'copy',
      'append', 'extend', 'insert', 'remove', 'index', 'count', 'reverse', 'sort', 'slice', 'acquire', 'release', 'getValue',
      'wait', 'notify', 'notifyAll', 'isSet', 'reset', 'abort', 'parties', 'nWaiting', 'broken', 'put', 'putNowait', 'getNowait',
      'qsize', 'empty', 'full', 'taskDone', 'join', '#GETVALUE', 'hello', 'create', 'incref', 'decref', 'numberOfObjects', 'dummy',
      'constructor', '__proto__', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf', 'then', 'close', '',
    ]),
  ];
  const TYPEIDS = ['dict', 'list', 'Namespace', 'Value', 'Array', 'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event', 'Barrier', 'Queue', 'JoinableQueue', '_SharedMemoryTracker', 'nope', 'constructor', '__proto__'];

  /** Small arguments: nothing a server would allocate much for (an Array of 2**31 would be real). */
  const small = fc.oneof(
    fc.integer({ min: -3, max: 64 }),
    fc.constantFrom(Number.NaN, Infinity, -0, 1.5, 2 ** 53, -1, 0, 'i', 'd', 'x', '', null, undefined, true),
    fc.string({ maxLength: 8 }),
  );
  const argValue = fc.oneof(
    { weight: 4, arbitrary: small },
    { weight: 2, arbitrary: fc.array(small, { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), small, { maxKeys: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom(new Map([[1, 2]]), new Set(['a']), 5n, new Date(0), Buffer.from('ab')) },
    { weight: 1, arbitrary: handleLike },
    {
      weight: 1,
      arbitrary: fc.record({ id: fc.integer({ min: -1, max: 40 }), own: fc.boolean() }).map(({ id, own }) => ({
        $mpHandle: 'ManagerProxy',
        server: own ? serverId : 'feedfacefeedface',
        address: own ? manager.address : `\0mpfuzz-nowhere-${process.pid}`,
        id,
        typeid: 'dict',
        exposed: ['get'],
        proxy: '',
      })),
    },
  );
  /** Object ids: the server (0), the fuzzing's victims, and others; never `d`'s, which the check reads. */
  const objectId = () => fc.oneof(fc.constant(0), fc.constantFrom(...(victimIds.length > 0 ? victimIds : [1])), fc.integer({ min: -2, max: 60 }), fc.constantFrom(2 ** 31, 2 ** 53, 1.5, -0));
  const request = () =>
    fc
      .tuple(
        fc.oneof(fc.constantFrom(0, 1, 7, -1, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1.5, Number.NaN), fc.integer()),
        objectId(),
        fc.oneof(fc.constantFrom(...METHODS), fc.string({ maxLength: 6 })),
        fc.oneof({ weight: 5, arbitrary: fc.array(argValue, { maxLength: 3 }) }, { weight: 1, arbitrary: small }),
        fc.constantFrom(...TYPEIDS),
      )
      .map(([rid, oid, method, args, typeid]) => {
        const id = oid === tokenOf(d).id ? oid + 1000 : oid;
        // create: a typeid first; shutdown of the server is the one request left out.
        const a = method === 'create' && Array.isArray(args) ? [typeid, ...args] : args;
        return [rid, id, id === 0 && method === 'shutdown' ? 'dummy' : method, a] as unknown[];
      });
  const requestBytes = () =>
    fc.oneof(
      { weight: 4, arbitrary: request().map(encode) },
      { weight: 1, arbitrary: request().map((r) => Uint8Array.from([codec.FORMAT_V8, ...serialize(r)])) },
      { weight: 2, arbitrary: fc.tuple(request(), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([r, ms]) => mutate(encode(r), ms)) },
      { weight: 1, arbitrary: payload },
      { weight: 1, arbitrary: codecValue.map(encode) },
    );
  const managerCase = () =>
    fc.record({
      auth: fc.constantFrom('handshake', 'handshake', 'handshake', 'none', 'garbage-first'),
      frames: fc.array(
        fc.oneof({ weight: 6, arbitrary: requestBytes().map(frameOf) }, { weight: 1, arbitrary: streamPiece }, { weight: 1, arbitrary: fc.constant(int32be(0x7fffffff)) }),
        { minLength: 1, maxLength: 6 },
      ),
      waitMs: fc.constantFrom(0, 2, 20),
      readReplies: fc.boolean(),
    });

  it(
    'random frames, values and request-shaped arrays after a correct handshake (or none): the server keeps serving, a disconnected client holds nothing',
    async () => {
      const key = Buffer.from(mp.currentProcess().authkey);
      const address = manager.address!;
      await fuzz(
        'manager protocol',
        runs(3),
        property(managerCase(), async (c) => {
          const sock = typeof address === 'string' ? connect({ path: address }) : connect(address[1], address[0]);
          sock.on('error', () => {});
          await within(once(sock, 'connect'), CALL_MS, 'connecting to the manager');
          const conn = new SocketConnection(sock);
          try {
            if (c.auth === 'handshake') {
              const hs = await settle('the handshake by hand', async () => {
                await auth.answerChallenge(conn, key);
                await auth.deliverChallenge(conn, key);
              });
              if (!hs.ok) return fail(`a correct handshake failed: ${errorText(hs.error)}`);
            } else if (c.auth === 'garbage-first') {
              await write(sock, Buffer.concat(c.frames.slice(0, 1)));
            }
            for (const f of c.frames) await write(sock, f);
            if (c.readReplies) {
              // Whatever comes back is a frame of a reply or the end: never a hang of ours to judge; just drain a bit.
              await within(conn.recvBytes(1 << 20), 50, 'a reply').catch(() => {});
            }
            if (c.waitMs > 0) await new Promise((r) => setTimeout(r, c.waitMs));
          } finally {
            conn.close();
            sock.destroy();
          }
          // The server survived, still answers, and released what the client held.
          const got = await settle('d.get("k") after the case', () => d.get('k'));
          if (!got.ok || got.value !== 'v') return fail(`the manager does not answer after the case: ${got.ok ? show(got.value) : errorText(got.error)}`);
          const free = await settle('lock.acquire({ timeout: 3 }) after the case', () => lock.acquire({ timeout: 3 }));
          if (!free.ok || free.value !== true) return fail(`the victim Lock is still held after its client disconnected: ${free.ok ? show(free.value) : errorText(free.error)}`);
          await lock.release();
        }),
        { endOnFailure: true },
      );
      // Objects made by clients that are gone are freed (after the server's grace period).
      await new Promise((r) => setTimeout(r, 1500));
      const n = (await connectionOf(d).call(0, 'numberOfObjects', [])) as number;
      if (n !== baseline) fail(`the manager holds ${n} objects after the fuzzing, ${baseline} before: objects of disconnected clients were not freed`);
      writeReport();
    },
    PROPERTY_MS * 3,
  );
});
