// Fuzzing the public boundary (issue 8, "Fuzzing the boundaries"): property tests of the
// argument validation of every public function and constructor, with fast-check.
//
// Each call gets random values (fc.anything(), edge numbers such as NaN, -0, 2**32 and
// 2**53, wrong types, odd objects, proxies and getters that throw) and must either return
// normally or fail with an Error of class TypeError, RangeError or mp.MultiprocessingError
// carrying a message of its own: never a bare V8/Node error ("Cannot read properties of
// undefined", "x is not a function", ...), a hang (every call is raced against a short
// timer; waits that would legitimately last are given short timeouts or a ready object),
// an uncaught exception or an unhandled rejection. OS errors (ENOENT, EEXIST, ECONNREFUSED,
// ...) are allowed where the API documents them (SharedMemory, Listener/Client). An error
// thrown by a hostile input's own getter or trap may propagate as it is.
//
// Sizes are clamped where a valid huge value would really allocate (a SharedMemory or an
// Array of up to 4 GiB is a real, if sparse, segment); whatever is created is closed. No
// process is started from random input: Process and Pool constructors are validated (a
// Pool only when its options are invalid by the documented rules), a real 1-worker Pool
// runs only the fixture's `square`, and Managers are constructed, never started.
//
// The boundaries that fail today each keep a fast-check `examples` entry with the minimal
// failing input, so that npm test fails on it deterministically until the bug is fixed.
//
// Settings (MP_FUZZ_RUNS, MP_FUZZ_SEED, MP_FUZZ_REPORT_DIR, MP_FUZZ_IGNORE) and the
// harness are in helpers/fuzz.ts.
import { appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import * as mp from 'multiprocessing';
import { describe, it } from 'vitest';
import { CALL_MS, PROPERTY_MS, faithful, fuzzHarness, normalize, runs, show } from './helpers/fuzz.js';
import { fixtureUrl } from './helpers/scripts.js';

// ------------------------------------------------------------------------------ harness

/** MP_FUZZ_TRACE: a file every call is appended to before it runs (to find what killed a process). */
const TRACE = process.env.MP_FUZZ_TRACE || undefined;
const { fail, fuzz, countCall, stray } = fuzzHarness('fuzz.args');

/** An input's own getter or trap threw this: it may propagate as it is. */
class Boom extends Error {
  constructor(where: string) {
    super(`hostile input: ${where}`);
    this.name = 'Boom';
  }
}
class Hang extends Error {}

const HOSTILE = new WeakSet<object>();
function mark<T extends object>(o: T): T {
  HOSTILE.add(o);
  return o;
}

/** The names in /dev/shm, or null where there is none to look at. */
function shmNames(): Set<string> | null {
  try {
    return new Set(readdirSync('/dev/shm'));
  } catch {
    return null;
  }
}

/** Whether options `o` name a callback that throws when called (a hostile function proxy). */
function callbackThrows(o: unknown): boolean {
  if (o === null || typeof o !== 'object' || HOSTILE.has(o)) return false;
  return ['callback', 'errorCallback'].some((k) => {
    const d = Object.getOwnPropertyDescriptor(o, k);
    return d !== undefined && 'value' in d && typeof d.value === 'function' && HOSTILE.has(d.value);
  });
}

/** Whether `v` holds a hostile object (looked for without touching one). */
function hasHostile(v: unknown, depth = 0): boolean {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return false;
  if (HOSTILE.has(v)) return true;
  if (depth > 4) return false;
  if (Array.isArray(v)) return v.some((x) => hasHostile(x, depth + 1));
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    for (const key of Object.keys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d !== undefined && 'value' in d && hasHostile(d.value, depth + 1)) return true;
    }
  }
  return false;
}

/** Whether `v` holds an aborted AbortSignal (its reason is a legitimate rejection). */
function hasAborted(v: unknown, depth = 0): boolean {
  if (v === null || typeof v !== 'object' || HOSTILE.has(v) || depth > 3) return false;
  if (v instanceof AbortSignal) return v.aborted;
  if (Array.isArray(v)) return v.some((x) => hasAborted(x, depth + 1));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.keys(v).some((k) => {
    const d = Object.getOwnPropertyDescriptor(v, k);
    return d !== undefined && 'value' in d && hasAborted(d.value, depth + 1);
  });
}

/**
 * Messages of V8's and Node's own errors: a call that fails with one of these did not
 * validate its argument (it broke on it). Anchored: our messages start with the
 * parameter's name or the method's.
 */
const NATIVE_MESSAGES: RegExp[] = [
  /^Cannot (read|set) propert(y|ies) of (undefined|null)/,
  /^Cannot create property/,
  /^[^:]{0,200} is not (a function|a constructor|iterable|defined|a valid|an object)/,
  /^Cannot convert (a Symbol|object|undefined or null|a BigInt)/,
  /^Cannot mix BigInt/,
  /^Invalid (typed array length|array length|atomic access index|value used|time value|DataView|string length|code point)/,
  /^Offset is outside the bounds/,
  /^Start offset .* is outside the bounds/,
  /^start offset of .* should be a multiple of/,
  /^byte length of .* should be a multiple of/,
  /^Maximum call stack size exceeded/,
  /^Cannot destructure/,
  /^Cannot access '.*' before initialization/,
  /cannot be invoked without 'new'$/,
  /^Cannot (assign to read only|add|redefine|define) property/,
  /^Cannot use 'in' operator/,
  /^Right-hand side of 'instanceof'/,
  /called on (null or undefined|incompatible receiver|non-object)/,
  /^Illegal invocation/,
  /^Array buffer allocation failed/,
  /^Do not know how to serialize a BigInt/,
  /^Converting circular structure/,
  /^(Cannot read|Cannot write) private member/,
  /^The "[^"]+" (argument|property) must be/,
  /^The value of "[^"]+" is out of range/,
  /^Reduce of empty array/,
];

interface Ctx {
  /** The input holds a hostile object (its errors, and any TypeError, are its own). */
  hostile?: boolean;
  /** OS errors (a plain Error with an errno code) are documented here. */
  os?: boolean;
  /** The input holds an aborted signal: its reason (an AbortError) is a legitimate rejection. */
  aborted?: boolean;
  /** Hang limit of this call. */
  ms?: number;
}

function isOsError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return err.constructor === Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** What is wrong with `err` as the failure of a public call (null: nothing). */
function problemWith(err: unknown, ctx: Ctx): string | null {
  if (err instanceof Boom) return ctx.hostile ? null : `a Boom without a hostile input: ${err.message}`;
  if (ctx.aborted && (err as { name?: unknown })?.name === 'AbortError') return null;
  if (!(err instanceof Error)) return `threw a non-Error: ${show(err)}`;
  if (typeof err.message !== 'string' || err.message.length === 0) return `${err.constructor.name} with an empty message`;
  if (ctx.hostile && err instanceof TypeError) return null; // a revoked proxy's own error, ...
  const typed = err instanceof TypeError || err instanceof RangeError || err instanceof mp.MultiprocessingError;
  if (!typed) {
    if (ctx.os && isOsError(err)) return null;
    return `wrong error class ${err.constructor.name}${(err as NodeJS.ErrnoException).code ? ` (code ${(err as NodeJS.ErrnoException).code})` : ''}: ${err.message}`;
  }
  if (NATIVE_MESSAGES.some((re) => re.test(err.message))) return `bare native ${err.constructor.name}: ${err.message}`;
  return null;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

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

/**
 * Call `fn` (a public call with random arguments): returns normally, or fails in a way
 * the contract allows; anything else throws (fails the property) naming `what`.
 */
async function attempt(what: string, fn: () => unknown, ctx: Ctx = {}): Promise<Outcome> {
  countCall();
  if (TRACE !== undefined) appendFileSync(TRACE, `${what}\n`);
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    verdict(what, error, ctx);
    return { ok: false, error };
  }
  if (isThenable(result)) {
    try {
      return { ok: true, value: await within(result, ctx.ms ?? CALL_MS, what) };
    } catch (error) {
      if (error instanceof Hang) throw error;
      verdict(what, error, ctx);
      return { ok: false, error };
    }
  }
  return { ok: true, value: result };
}

function verdict(what: string, error: unknown, ctx: Ctx): void {
  const p = problemWith(error, ctx);
  if (p !== null) fail(`${what}: ${p}`, error);
}

function ctxOf(...inputs: unknown[]): Ctx {
  return { hostile: inputs.some((v) => hasHostile(v)), aborted: inputs.some((v) => hasAborted(v)) };
}

// --------------------------------------------------------------------------- arbitraries

const EDGE_NUMBERS = [
  Number.NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  1,
  -1,
  0.5,
  -0.5,
  1.5,
  1e-7,
  5e-324,
  2,
  3,
  7,
  8,
  127,
  128,
  255,
  256,
  1023,
  1024,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 33,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e21,
  1e300,
  Number.MAX_VALUE,
];
const EDGE_BIGINTS = [0n, 1n, -1n, 255n, 256n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n), -(2n ** 63n) - 1n, 2n ** 64n - 1n, 2n ** 64n, 10n ** 30n];

const edgeNumber = fc.constantFrom(...EDGE_NUMBERS);
const number = fc.oneof(edgeNumber, fc.integer(), fc.double(), fc.integer({ min: -3, max: 300 }));
const bigint = fc.oneof(fc.constantFrom(...EDGE_BIGINTS), fc.bigInt());

const anyValue = fc.anything({
  maxDepth: 2,
  maxKeys: 4,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
});

/** Odd objects, made fresh for every case (some calls mutate what they are given). */
const ODD: (() => unknown)[] = [
  () => undefined,
  () => null,
  () => true,
  () => false,
  () => '',
  () => 'x',
  () => '0',
  () => 'd',
  () => Symbol('odd'),
  () => () => 1,
  () =>
    function named() {
      return 2;
    },
  () => class K {},
  () => Math.max,
  () => [],
  () => [1, 2],
  () => ({}),
  () => Object.create(null),
  () => new Date(Number.NaN),
  () => /x/g,
  () => new Error('an error'),
  () => new ArrayBuffer(8),
  () => new SharedArrayBuffer(8),
  () => Buffer.from('ab'),
  () => new Uint16Array(3),
  () => new Float64Array([1.5]),
  () => new BigInt64Array(1),
  () => new DataView(new ArrayBuffer(4)),
  () => Promise.resolve(1),
  () => new Map([[1, 2]]),
  () => new Set([1]),
  () => new WeakMap(),
  () => new Number(5),
  () => new String('d'),
  () => Object(1n),
  () => ({ length: 3 }),
  () => ({ length: 2 ** 32 }),
  () => ({ length: -1 }),
  () => ({ valueOf: () => 5 }),
  () => ({ toString: () => 'd' }),
  // biome-ignore lint/suspicious/noThenProperty: a thenable is one of the odd objects
  () => ({ then: () => {} }),
  () => new AbortController().signal,
  () => AbortSignal.abort(),
  () => ({ module: '/nonexistent/fuzz-target.mjs', name: 'nothing' }),
  () => ({ module: 5, name: 'x' }),
  () => ({ constructor: null }),
  () => globalThis,
];
const odd = fc.constantFrom(...ODD).map((make) => make());

const throwAll: ProxyHandler<object> = {
  get: (_t, key) => {
    throw new Boom(`get ${String(key)}`);
  },
  has: (_t, key) => {
    throw new Boom(`has ${String(key)}`);
  },
  ownKeys: () => {
    throw new Boom('ownKeys');
  },
  getPrototypeOf: () => {
    throw new Boom('getPrototypeOf');
  },
  getOwnPropertyDescriptor: (_t, key) => {
    throw new Boom(`getOwnPropertyDescriptor ${String(key)}`);
  },
  set: (_t, key) => {
    throw new Boom(`set ${String(key)}`);
  },
  defineProperty: (_t, key) => {
    throw new Boom(`defineProperty ${String(key)}`);
  },
  apply: () => {
    throw new Boom('apply');
  },
  construct: () => {
    throw new Boom('construct');
  },
};

/**
 * A hostile input, made only inside the property (fast-check itself looks at generated
 * values: a revoked proxy or a throwing trap would break it, not the library).
 */
class Lazy {
  constructor(
    readonly label: string,
    readonly make: () => object,
  ) {}
  [fc.toStringMethod](): string {
    return `<${this.label}>`;
  }
}

const HOSTILE_FACTORIES: Lazy[] = [
  new Lazy('proxy whose traps throw', () => new Proxy({}, throwAll)),
  new Lazy('array proxy whose traps throw', () => new Proxy([], throwAll)),
  new Lazy('function proxy whose traps throw', () => new Proxy(() => {}, throwAll)),
  new Lazy('revoked proxy', () => {
    const r = Proxy.revocable({}, {});
    r.revoke();
    return r.proxy;
  }),
  new Lazy('object whose conversions throw', () => ({
    [Symbol.toPrimitive]() {
      throw new Boom('toPrimitive');
    },
    valueOf() {
      throw new Boom('valueOf');
    },
    toString() {
      throw new Boom('toString');
    },
  })),
  new Lazy('iterable whose iterator throws', () => ({
    [Symbol.iterator]() {
      throw new Boom('iterator');
    },
  })),
  new Lazy('iterable that throws after one item', () => ({
    *[Symbol.iterator]() {
      yield 1;
      throw new Boom('next');
    },
  })),
  new Lazy('object whose length getter throws', () => ({
    get length() {
      throw new Boom('length');
    },
  })),
  new Lazy('object whose constructor getter throws', () => ({
    get constructor() {
      throw new Boom('constructor');
    },
  })),
];
const hostile = fc.constantFrom(...HOSTILE_FACTORIES);

/** An object whose getter for one of `keys` throws. */
function hostileGetter(keys: string[]): fc.Arbitrary<unknown> {
  return fc.constantFrom(...keys).map(
    (key) =>
      new Lazy(`object whose '${key}' getter throws`, () =>
        Object.defineProperty({}, key, {
          enumerable: true,
          get() {
            throw new Boom(`getter ${key}`);
          },
        }),
      ),
  );
}

/** `v` with every Lazy made (fresh hostile objects, marked); containers copied only when needed. */
function materialize(v: unknown, depth = 0): unknown {
  if (v instanceof Lazy) return mark(v.make());
  if (v === null || typeof v !== 'object' || depth > 4) return v;
  if (Array.isArray(v)) {
    if (!v.some((x) => hasLazy(x, depth + 1))) return v;
    return v.map((x) => materialize(x, depth + 1));
  }
  if (Object.getPrototypeOf(v) !== Object.prototype || !hasLazy(v, depth)) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) out[key] = materialize((v as Record<string, unknown>)[key], depth + 1);
  return out;
}

function hasLazy(v: unknown, depth = 0): boolean {
  if (v instanceof Lazy) return true;
  if (v === null || typeof v !== 'object' || depth > 4) return false;
  if (Array.isArray(v)) return v.some((x) => hasLazy(x, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return false;
  return Object.values(v).some((x) => hasLazy(x, depth + 1));
}

/**
 * fc.asyncProperty whose predicate gets its inputs materialized (see Lazy), and fails when
 * an uncaught exception or unhandled rejection surfaced meanwhile (or a tick after: a
 * queued microtask, a timer).
 */
const property = ((...args: unknown[]) => {
  const predicate = args.pop() as (...values: unknown[]) => Promise<void>;
  const check = async (...values: unknown[]) => {
    await predicate(...values.map((v) => materialize(v)));
    await new Promise((r) => setImmediate(r));
    if (stray.length > 0) fail(`stray error after the call: ${stray.splice(0).join('; ')}`);
  };
  return (fc.asyncProperty as (...a: unknown[]) => unknown)(...args, check);
}) as typeof fc.asyncProperty;

/** Anything at all, weighted towards what breaks validation. */
const weird: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: anyValue },
  { weight: 3, arbitrary: number },
  { weight: 3, arbitrary: odd },
  { weight: 1, arbitrary: bigint },
  { weight: 1, arbitrary: hostile },
);

/** An options object: `fields` (each valid or weird), or something that is not one. */
function options(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const keys = Object.keys(fields);
  const record = fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof(fields[k]!, weird)])), { requiredKeys: [] });
  return fc.oneof(
    { weight: 5, arbitrary: record },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: weird },
    { weight: 1, arbitrary: keys.length > 0 ? hostileGetter(keys) : hostile },
  );
}

/** A timeout in seconds: a good one, an edge number or anything. */
const timeout = fc.oneof(fc.constantFrom(undefined, null, 0, -1, 0.001, 1e-9, 0.01), edgeNumber, fc.double(), weird);

const TYPECODES = ['c', 'u', 'b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q', 'f', 'd'];
const typecode = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TYPECODES) },
  { weight: 1, arbitrary: fc.constantFrom('c_int', 'c_double', 'c_char', 'c_wchar', 'c_bool', 'c_ulonglong', 'x', 'D', 'ii', '', 'toString', '__proto__') },
  { weight: 2, arbitrary: weird },
);
const scalar = fc.oneof(number, bigint, fc.string({ maxLength: 3 }), weird);

/** Sizes that would really allocate (sparse segments of up to 4 GiB) become small. */
function clampSize(v: unknown): unknown {
  if (typeof v === 'number' && Number.isInteger(v) && v > 4096 && v <= 2 ** 32 + 1) return v % 4096;
  return v;
}

/** A timeout that would wait for long becomes short (the object waited on is not going to be ready). */
function clampWait(v: unknown, max = 0.01): unknown {
  if (v === undefined || v === null) return max;
  if (typeof v === 'number' && v > max) return max;
  return v;
}

/** `options` with its timeout clamped (plain objects only; anything else is passed as it is). */
function clampOptions(o: unknown, max = 0.01): unknown {
  if (o === null || typeof o !== 'object' || HOSTILE.has(o) || Object.getPrototypeOf(o) !== Object.prototype) return o;
  const d = Object.getOwnPropertyDescriptor(o, 'timeout');
  if (d !== undefined && !('value' in d)) return o;
  return { ...o, timeout: clampWait((o as { timeout?: unknown }).timeout, max) };
}

const fuzzName = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => `mpfuzz${process.pid}-${s}`),
  fc.constantFrom('', '/', '//x', '.', '..', 'a/b', 'a\0b', 'x'.repeat(256), 'with space', `/mpfuzz${process.pid}-lead`),
);

// ------------------------------------------------------------------------------- tests

const SQUARE = { module: fixtureUrl('pool-targets.mjs'), name: 'square' };


const PRIMITIVES = { Lock: mp.Lock, RLock: mp.RLock, Semaphore: mp.Semaphore, BoundedSemaphore: mp.BoundedSemaphore, Condition: mp.Condition } as const;

describe('shared values and memory', () => {
  it(
    'Value and RawValue: typecode, initial value, options and the value setter',
    async () => {
      const lock = new mp.Lock();
      const rlock = new mp.RLock();
      const lockOption = fc.oneof(fc.boolean(), fc.constant(lock), fc.constant(rlock));
      await fuzz(
        'Value/RawValue',
        runs(2),
        property(typecode, scalar, options({ lock: lockOption }), fc.integer({ min: 0, max: 2 }), scalar, async (tc, init, opts, form, next) => {
          const ctx = ctxOf(tc, init, opts, next);
          const made = await attempt(
            `${['Value', 'Value', 'RawValue'][form]}(${show(tc)}, ${show(init)}${form === 0 ? `, ${show(opts)}` : ''})`,
            () => (form === 0 ? mp.Value(tc as never, init as never, opts as never) : form === 1 ? mp.Value(tc as never, init as never) : mp.RawValue(tc as never, init as never)),
            ctx,
          );
          if (!made.ok) return;
          const v = made.value as { value: unknown; typecode: string; getLock(): unknown };
          await attempt('.value', () => v.value, ctx);
          await attempt(`.value = ${show(next)}`, () => {
            v.value = next;
          }, ctx);
          await attempt('.getLock()', () => v.getLock(), ctx);
        }),
      );
      lock.close();
      rlock.close();
    },
    PROPERTY_MS * 2,
  );

  it(
    'Array and RawArray: typecode, size or values, options, and the value/raw setters of c and u arrays',
    async () => {
      const sizeOrValues = fc.oneof(
        { weight: 3, arbitrary: number },
        { weight: 3, arbitrary: fc.array(scalar, { maxLength: 6 }) },
        { weight: 1, arbitrary: fc.array(fc.integer({ min: -200, max: 300 }), { maxLength: 6 }) },
        { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
        { weight: 2, arbitrary: weird },
      );
      await fuzz(
        'Array/RawArray',
        runs(2),
        property(typecode, sizeOrValues, options({ lock: fc.boolean() }), fc.boolean(), weird, async (tc, rawSize, opts, raw, next) => {
          const size = clampSize(rawSize);
          const ctx = ctxOf(tc, size, opts, next);
          const made = await attempt(
            raw ? `RawArray(${show(tc)}, ${show(size)})` : `Array(${show(tc)}, ${show(size)}, ${show(opts)})`,
            () => (raw ? mp.RawArray(tc as never, size as never) : mp.Array(tc as never, size as never, opts as never)),
            ctx,
          );
          if (!made.ok) return;
          const a = made.value as { length: number; typecode: string; value?: unknown; raw?: unknown; getLock(): unknown };
          await attempt('.getLock()', () => a.getLock(), ctx);
          if (a.typecode === 'c' || a.typecode === 'u') {
            await attempt(`.value = ${show(next)}`, () => {
              a.value = next;
            }, ctx);
            await attempt('.value', () => a.value, ctx);
          }
          if (a.typecode === 'c') {
            await attempt(`.raw = ${show(next)}`, () => {
              a.raw = next;
            }, ctx);
          }
        }),
        {
          // A size over the 4 GiB a segment can have: the native RangeError must not
          // reach the caller rewrapped as a plain Error.
          examples: [['B', 2 ** 33, undefined, true, 0]],
        },
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'SharedMemory: name, create, size and track, as one options object or (name, options)',
    async () => {
      const shmOptions = options({
        name: fuzzName,
        create: fc.boolean(),
        size: fc.oneof(fc.integer({ min: -2, max: 5000 }), edgeNumber),
        track: fc.boolean(),
      });
      await fuzz(
        'SharedMemory',
        runs(2),
        property(fc.oneof(shmOptions, fuzzName), shmOptions, fc.boolean(), async (first, second, twoArgs) => {
          const clamp = (o: unknown) =>
            o !== null && typeof o === 'object' && !HOSTILE.has(o) && Object.getPrototypeOf(o) === Object.prototype && 'size' in o && Object.getOwnPropertyDescriptor(o, 'size')!.value !== undefined
              ? { ...o, size: clampSize((o as { size: unknown }).size) }
              : o;
          const a = clamp(first);
          const b = clamp(second);
          const ctx = { ...ctxOf(a, b), os: true };
          const before = shmNames();
          const made = await attempt(`new SharedMemory(${show(a)}${twoArgs ? `, ${show(b)}` : ''})`, () => (twoArgs ? new mp.SharedMemory(a as never, b as never) : new mp.SharedMemory(a as never)), ctx);
          if (!made.ok) return;
          const shm = made.value as mp.SharedMemory;
          // Created here if its name was not in /dev/shm before (reading `create` back from the
          // arguments guessed wrong for some, and an untracked segment then stayed behind).
          const created = before === null ? (twoArgs ? (b as { create?: unknown })?.create : (a as { create?: unknown })?.create) === true : !before.has(shm.name);
          try {
            if (shm.buf.length !== shm.size) fail(`buf.length ${shm.buf.length} !== size ${shm.size}`);
          } finally {
            shm.close();
            if (created) shm.unlink();
          }
        }),
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'ShareableList: sequence, name, item access and assignment',
    async () => {
      const item = fc.oneof(number, bigint, fc.boolean(), fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }), fc.constant(null), weird);
      await fuzz(
        'ShareableList',
        runs(2),
        property(
          fc.oneof({ weight: 4, arbitrary: fc.array(item, { maxLength: 5 }) }, { weight: 1, arbitrary: weird }),
          options({ name: fuzzName }),
          fc.integer({ min: -6, max: 6 }),
          item,
          async (seq, opts, index, next) => {
            const ctx = { ...ctxOf(seq, opts, next), os: true };
            const made = await attempt(`new ShareableList(${show(seq)}, ${show(opts)})`, () => new mp.ShareableList(seq as never, opts as never), ctx);
            if (!made.ok) return;
            const sl = made.value as mp.ShareableList;
            const created = seq !== null && seq !== undefined;
            try {
              for (let i = 0; i < sl.length; i++) await attempt(`sl[${i}]`, () => sl[i], ctx);
              await attempt(`sl.get(${index})`, () => sl.get(index), ctx);
              await attempt(`sl[${index}] = ${show(next)}`, () => {
                sl[index] = next as never;
              }, ctx);
              await attempt(`sl.set(${index}, ${show(next)})`, () => sl.set(index, next as never), ctx);
              await attempt(`sl.count(${show(next)})`, () => sl.count(next as never), ctx);
              await attempt(`sl.index(${show(next)})`, () => sl.index(next as never), ctx);
              await attempt('String(sl)', () => String(sl), ctx);
              await attempt('sl.format', () => sl.format, ctx);
            } finally {
              sl.shm.close();
              if (created) sl.shm.unlink();
            }
          },
        ),
      );
    },
    PROPERTY_MS * 2,
  );
});

describe('synchronization', () => {
  const acquireOptions = options({ block: fc.boolean(), timeout, signal: fc.constantFrom(new AbortController().signal, AbortSignal.abort()) });

  it(
    'Lock, RLock, Semaphore, BoundedSemaphore and Condition: acquire/acquireSync options and release',
    async () => {
      const kinds = ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition'] as const;
      await fuzz(
        'Lock/RLock/Semaphore/Condition acquire',
        runs(3),
        property(fc.constantFrom(...kinds), acquireOptions, fc.boolean(), fc.integer({ min: 0, max: 2 }), async (kind, opts, sync, extraReleases) => {
          const prim = new (PRIMITIVES[kind] as new () => mp.Lock)();
          const ctx = ctxOf(opts);
          try {
            const got = await attempt(`${kind}.${sync ? 'acquireSync' : 'acquire'}(${show(opts)})`, () => (sync ? prim.acquireSync(opts as never) : prim.acquire(opts as never)), ctx);
            if (got.ok && typeof got.value !== 'boolean') fail(`${kind}.acquire resolved ${show(got.value)}, not a boolean`);
            if (got.ok && got.value === true) prim.release();
            // Releases of a free Lock/RLock/BoundedSemaphore: ValueError.
            for (let k = 0; k < extraReleases; k++) await attempt(`${kind}.release() (extra)`, () => prim.release(), {});
          } finally {
            prim.close();
          }
        }),
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'withLock, hold and holdAsync with any argument',
    async () => {
      await fuzz(
        'Lock.withLock',
        runs(1),
        property(fc.constantFrom('Lock', 'RLock', 'Semaphore'), weird, async (kind, fn) => {
          const prim = new PRIMITIVES[kind as 'Lock']();
          try {
            // A function's own errors (a class called without new, ...) are its own.
            await attempt(`${kind}.withLock(${show(fn)})`, () => prim.withLock(fn as never), { ...ctxOf(fn), hostile: hasHostile(fn) || typeof fn === 'function' });
            // Whatever happened, the lock is free again.
            if (!prim.acquireSync({ block: false })) fail(`${kind} is still held after withLock(${show(fn)})`);
            prim.release();
          } finally {
            prim.close();
          }
        }),
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'Semaphore, BoundedSemaphore, Condition and Barrier constructors',
    async () => {
      const lock = new mp.Lock();
      await fuzz(
        'sync constructors',
        runs(2),
        property(
          fc.constantFrom('Semaphore', 'BoundedSemaphore', 'Condition', 'Barrier', 'Event'),
          fc.oneof(number, fc.constant(lock), fc.constantFrom(undefined, null), weird),
          options({ action: fc.constantFrom(undefined, null, SQUARE), timeout }),
          timeout,
          async (kind, first, opts, waitTimeout) => {
            const ctx = ctxOf(first, opts, waitTimeout);
            const made = await attempt(
              `new ${kind}(${show(first)}${kind === 'Barrier' ? `, ${show(opts)}` : ''})`,
              () => {
                switch (kind) {
                  case 'Semaphore':
                    return new mp.Semaphore(first as never);
                  case 'BoundedSemaphore':
                    return new mp.BoundedSemaphore(first as never);
                  case 'Condition':
                    return new mp.Condition(first as never);
                  case 'Barrier':
                    return new mp.Barrier(first as never, opts as never);
                  default:
                    return new mp.Event();
                }
              },
              ctx,
            );
            if (!made.ok) return;
            const obj = made.value as { close(): void };
            try {
              await attempt('String(obj)', () => String(obj), ctx);
              if (obj instanceof mp.Semaphore) {
                if (obj.getValue() !== first && !(first === undefined && obj.getValue() === 1)) fail(`getValue() ${obj.getValue()} after new ${kind}(${show(first)})`);
              }
              if (obj instanceof mp.Barrier && obj.parties === 1) {
                // One party: wait returns 0 at once (or its timeout argument is refused).
                const w = await attempt(`Barrier(1).wait(${show(waitTimeout)})`, () => obj.wait(waitTimeout as never), ctx);
                if (w.ok && w.value !== 0) fail(`Barrier(1).wait() gave ${show(w.value)}`);
              }
            } finally {
              await attempt(`${kind}.close()`, () => obj.close(), {});
            }
          },
        ),
      );
      lock.close();
    },
    PROPERTY_MS * 2,
  );

  it(
    'Event, Condition and Barrier waits: timeouts and predicates',
    async () => {
      await fuzz(
        'Event/Condition/Barrier wait',
        runs(3),
        property(
          fc.constantFrom('Event.wait', 'Event.waitSync', 'Condition.wait', 'Condition.waitSync', 'Condition.waitFor', 'Condition.waitForSync', 'Condition.notify', 'Barrier.wait', 'Barrier.waitSync'),
          timeout,
          fc.boolean(),
          fc.oneof(fc.constantFrom(() => true, () => 1, () => 0, () => Promise.resolve(true)), weird),
          async (what, t, ready, extra) => {
            // A predicate's own errors (a class called without new, ...) are its own.
            const ctx = { ...ctxOf(t, extra), hostile: hasHostile(t) || hasHostile(extra) || typeof extra === 'function' };
            if (what.startsWith('Event')) {
              const ev = new mp.Event();
              if (ready) ev.set();
              const arg = ready ? t : clampWait(t);
              try {
                const r = await attempt(`${what}(${show(arg)}) (${ready ? 'set' : 'unset'})`, () => (what === 'Event.wait' ? ev.wait(arg as never) : ev.waitSync(arg as never)), ctx);
                if (r.ok && r.value !== ready) fail(`${what} gave ${show(r.value)} on an ${ready ? 'set' : 'unset'} event`);
              } finally {
                ev.close();
              }
              return;
            }
            if (what.startsWith('Condition')) {
              const cond = new mp.Condition();
              // The lock is held unless `ready` is false (then: ValueError, un-acquired lock).
              if (ready) cond.acquireSync();
              const arg = clampWait(t);
              try {
                await attempt(
                  `${what}(${show(extra)}, ${show(arg)})`,
                  () => {
                    switch (what) {
                      case 'Condition.wait':
                        return cond.wait(arg as never);
                      case 'Condition.waitSync':
                        return cond.waitSync(arg as never);
                      case 'Condition.waitFor':
                        return cond.waitFor(extra as never, arg as never);
                      case 'Condition.waitForSync':
                        return cond.waitForSync(extra as never, arg as never);
                      default:
                        return cond.notify(extra as never);
                    }
                  },
                  ctx,
                );
                if (ready && !cond.acquireSync({ block: false })) fail(`${what} left the condition's lock held by someone else`);
              } finally {
                cond.close();
              }
              return;
            }
            const barrier = new mp.Barrier(ready ? 1 : 2);
            const arg = ready ? t : clampWait(t);
            try {
              await attempt(`${what}(${show(arg)}) (parties ${ready ? 1 : 2})`, () => (what === 'Barrier.wait' ? barrier.wait(arg as never) : barrier.waitSync(arg as never)), ctx);
            } finally {
              barrier.close();
            }
          },
        ),
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'huge valid timeouts wait until woken (they neither return early nor overflow)',
    async () => {
      const HUGE = [2147483.647, 2147483.648, 4294967.296, Number.MAX_SAFE_INTEGER / 1000, 1e10, 1e300, Number.MAX_VALUE, Infinity];
      await fuzz(
        'huge timeouts',
        Math.min(runs(0.5), 48),
        property(fc.constantFrom(...HUGE), fc.constantFrom('Event.wait', 'Lock.acquire', 'Semaphore.acquire', 'Queue.get', 'Condition.wait', 'Pipe.poll'), async (t, what) => {
          const later = (fn: () => unknown) => setTimeout(fn, 20);
          const got = await attempt(
            `${what} with timeout ${t}`,
            async () => {
              switch (what) {
                case 'Event.wait': {
                  const ev = new mp.Event();
                  later(() => ev.set());
                  const r = await ev.wait(t);
                  ev.close();
                  return r;
                }
                case 'Lock.acquire':
                case 'Semaphore.acquire': {
                  const l = what === 'Lock.acquire' ? new mp.Lock() : new mp.Semaphore(0);
                  if (what === 'Lock.acquire') l.acquireSync();
                  later(() => l.release());
                  const r = await l.acquire({ timeout: t });
                  l.close();
                  return r;
                }
                case 'Queue.get': {
                  const q = new mp.Queue();
                  later(() => q.putNowait('woke'));
                  const r = (await q.get({ timeout: t })) === 'woke';
                  q.close();
                  return r;
                }
                case 'Condition.wait': {
                  const c = new mp.Condition();
                  await c.acquire();
                  later(() => {
                    void c.acquire().then(() => {
                      c.notify();
                      c.release();
                    });
                  });
                  const r = await c.wait(t);
                  c.release();
                  c.close();
                  return r;
                }
                default: {
                  const [a, b] = mp.Pipe();
                  later(() => b.sendSync('x'));
                  const r = await a.poll(t);
                  a.close();
                  b.close();
                  return r;
                }
              }
            },
            { ms: 3000 },
          );
          if (!got.ok || got.value !== true) fail(`${what} with timeout ${t} gave ${got.ok ? show(got.value) : show(got.error)}, not true after a wake-up`);
        }),
      );
    },
    PROPERTY_MS * 2,
  );
});

/** A round trip through a queue or pipe gave back `got` for `sent`: fail if it is not the same. */
function checkRoundTrip(what: string, sent: unknown, got: unknown): void {
  if (faithful(sent, (o) => HOSTILE.has(o)) && !isDeepStrictEqual(normalize(got, false), normalize(sent, false))) fail(`${what}: sent ${show(sent)}, got back ${show(got)}`);
}

describe('queues and pipes', () => {
  const putOptions = options({ block: fc.boolean(), timeout });
  const getOptions = options({ block: fc.boolean(), timeout, signal: fc.constantFrom(new AbortController().signal, AbortSignal.abort()) });

  it(
    'Queue, SimpleQueue and JoinableQueue: maxsize, put/get options and objects (round trip)',
    async () => {
      await fuzz(
        'Queue put/get',
        runs(3),
        property(
          fc.constantFrom('Queue', 'JoinableQueue', 'SimpleQueue'),
          fc.oneof(fc.integer({ min: -2, max: 3 }), number, weird),
          weird,
          putOptions,
          getOptions,
          fc.constantFrom('put', 'putSync', 'putNowait'),
          fc.constantFrom('get', 'getSync', 'getNowait'),
          async (kind, maxsize, obj, putOpts, getOpts, putForm, getForm) => {
            const ctx = ctxOf(maxsize, obj, putOpts, getOpts);
            const made = await attempt(`new ${kind}(${show(maxsize)})`, () => (kind === 'SimpleQueue' ? new mp.SimpleQueue() : kind === 'Queue' ? new mp.Queue(maxsize as never) : new mp.JoinableQueue(maxsize as never)), ctx);
            if (!made.ok) return;
            const q = made.value as mp.Queue;
            try {
              const simple = kind === 'SimpleQueue';
              const put = await attempt(
                `${kind}.${simple ? 'put' : putForm}(${show(obj)}, ${show(putOpts)})`,
                () => (simple ? q.put(obj) : putForm === 'put' ? q.put(obj, clampOptions(putOpts) as never) : putForm === 'putSync' ? q.putSync(obj, clampOptions(putOpts) as never) : q.putNowait(obj)),
                ctx,
              );
              // Nothing was put: a second, valid put makes the get below return at once.
              if (!put.ok) await q.put('filler');
              const opts = clampOptions(getOpts);
              const got = await attempt(
                `${kind}.${simple ? 'get' : getForm}(${show(opts)})`,
                () => (simple ? (getForm === 'getSync' ? (q as unknown as mp.SimpleQueue).getSync() : q.get()) : getForm === 'get' ? q.get(opts as never) : getForm === 'getSync' ? q.getSync(opts as never) : q.getNowait()),
                ctx,
              );
              if (got.ok && put.ok) checkRoundTrip(kind, obj, got.value);
              if (kind === 'JoinableQueue') {
                const jq = q as unknown as mp.JoinableQueue;
                await attempt('taskDone()', () => jq.taskDone(), {});
                await attempt('taskDone() (extra)', () => jq.taskDone(), {});
              }
              await attempt(`${kind}.qsize()/empty()`, () => (simple ? q.empty() : [q.qsize(), q.empty(), q.full()]), {});
            } finally {
              q.close();
              await attempt(`${kind}.put after close()`, () => q.put(1), {});
              await attempt(`${kind}.joinThread()`, () => q.joinThread(), {});
            }
          },
        ),
      );
    },
    PROPERTY_MS * 2,
  );

  /** A connected pair: a Pipe, or a Listener/Client socket pair. */
  async function pairOf(kind: 'pipe' | 'socket', listener: mp.connection.Listener | null): Promise<[mp.Connection, mp.Connection]> {
    if (kind === 'pipe') return mp.Pipe() as [mp.Connection, mp.Connection];
    const [a, b] = await Promise.all([listener!.accept(), mp.connection.Client(listener!.address)]);
    return [a, b];
  }

  it(
    'Pipe options and Connection send/recv, sendBytes(buf, offset, size), recvBytes(maxlength), recvBytesInto, poll',
    async () => {
      const listener = new mp.connection.Listener(['127.0.0.1', 0]);
      await listener.listening();
      const buffer = fc.oneof(
        { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)) },
        { weight: 1, arbitrary: fc.constantFrom(new Uint16Array(4), new Float64Array(2), new DataView(new ArrayBuffer(6)), new Uint8Array(0)) },
        { weight: 2, arbitrary: weird },
      );
      const offset = fc.oneof(fc.integer({ min: -2, max: 50 }), edgeNumber, weird);
      await fuzz(
        'Pipe/Connection args',
        runs(3),
        property(
          fc.constantFrom('pipe', 'socket') as fc.Arbitrary<'pipe' | 'socket'>,
          options({ duplex: fc.boolean() }),
          buffer,
          offset,
          offset,
          fc.oneof(fc.integer({ min: -2, max: 60 }), edgeNumber, weird),
          fc.oneof(buffer, weird),
          fc.tuple(timeout, weird, fc.boolean()),
          async (kind, pipeOpts, buf, off, size, maxlength, into, [pollTimeout, obj, sync]) => {
            const ctx = ctxOf(pipeOpts, buf, off, size, maxlength, into, pollTimeout, obj);
            if (kind === 'pipe') {
              const made = await attempt(`Pipe(${show(pipeOpts)})`, () => mp.Pipe(pipeOpts as never), ctx);
              if (made.ok) for (const c of made.value as mp.Connection[]) c.close();
            }
            const [a, b] = await pairOf(kind, listener);
            try {
              const sent = await attempt(`${kind} sendBytes${sync ? 'Sync' : ''}(${show(buf)}, ${show(off)}, ${show(size)})`, () => (sync ? b.sendBytesSync(buf as never, off as never, size as never) : b.sendBytes(buf as never, off as never, size as never)), ctx);
              if (sent.ok) {
                const got = await attempt(`${kind} recvBytes${sync ? 'Sync' : ''}(${show(maxlength)})`, () => (sync ? a.recvBytesSync(maxlength as never) : a.recvBytes(maxlength as never)), ctx);
                if (!got.ok && a.readable && a.pollSync(0)) {
                  // refused before reading (a bad maxlength): the message is still there
                  await attempt('recvBytes()', () => a.recvBytes(), {});
                }
              }
              await attempt(`${kind} poll(${show(clampWait(pollTimeout))})`, () => (sync ? a.pollSync(clampWait(pollTimeout) as never) : a.poll(clampWait(pollTimeout) as never)), ctx);
              if (a.readable) {
                const sentObj = await attempt(`${kind} send(${show(obj)})`, () => (sync ? b.sendSync(obj) : b.send(obj)), ctx);
                if (sentObj.ok) {
                  const got = await attempt(`${kind} recv()`, () => (sync ? a.recvSync() : a.recv()), ctx);
                  if (got.ok) checkRoundTrip(`${kind} send/recv`, obj, got.value);
                }
                const sent2 = await attempt('sendBytes(Buffer.from("abc"))', () => b.sendBytes(Buffer.from('abc')), {});
                if (sent2.ok) await attempt(`${kind} recvBytesInto(${show(into)}, ${show(off)})`, () => (sync ? a.recvBytesIntoSync(into as never, off as never) : a.recvBytesInto(into as never, off as never)), ctx);
              }
            } finally {
              a.close();
              b.close();
            }
            await attempt(`${kind} recv after close()`, () => a.recv(), {});
            await attempt(`${kind} sendBytes after close()`, () => b.sendBytes(Buffer.from('x')), {});
          },
        ),
      );
      listener.close();
    },
    PROPERTY_MS * 2,
  );

  it(
    'mp.connection.wait(objects, timeout)',
    async () => {
      await fuzz(
        'connection.wait',
        runs(1),
        property(fc.oneof(fc.array(fc.oneof(fc.constant('conn'), weird), { maxLength: 3 }), weird), timeout, fc.boolean(), async (objs, t, ready) => {
          const [a, b] = mp.Pipe();
          if (ready) b.sendSync(1);
          const list = !HOSTILE.has(objs as object) && Array.isArray(objs) ? objs.map((o) => (o === 'conn' ? a : o)) : objs;
          const ctx = ctxOf(objs, t);
          try {
            await attempt(`wait(${show(list)}, ${show(clampWait(t))})`, () => mp.connection.wait(list as never, clampWait(t) as never), ctx);
          } finally {
            a.close();
            b.close();
          }
        }),
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'mp.connection.Listener(address, options) and Client(address, options)',
    async () => {
      const target = new mp.connection.Listener(['127.0.0.1', 0], { authkey: 'fuzz-key' });
      await target.listening();
      // Keep accepting, several at a time (a client that never answers holds one).
      let stopped = false;
      const accepting = () => {
        if (stopped) return;
        target.accept().then(
          (c) => {
            c.close();
            accepting();
          },
          () => accepting(),
        );
      };
      for (let i = 0; i < 4; i++) accepting();
      const host = fc.oneof(fc.constantFrom('127.0.0.1', '::1', 'localhost'), weird);
      const port = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 65535 }), edgeNumber, weird);
      const unixPath = fc.string({ maxLength: 8 }).map((s) => join(tmpdir(), `mpfuzz-${process.pid}-${s.replace(/[/\0]/g, '_')}`));
      const address = fc.oneof(fc.constantFrom(null, undefined), fc.tuple(host, port), unixPath, fc.array(weird, { maxLength: 3 }), weird);
      const authkey = fc.oneof(fc.constantFrom('fuzz-key', 'wrong', Buffer.from('fuzz-key'), new Uint8Array(0), ''), weird);
      const family = fc.constantFrom('AF_INET', 'AF_INET6', 'AF_UNIX');
      await fuzz(
        'Listener/Client',
        runs(2),
        property(
          address,
          options({ family, backlog: fc.oneof(fc.integer({ min: -1, max: 5 }), edgeNumber), authkey }),
          fc.oneof(fc.constant('target'), fc.constant('closed'), address),
          options({ family, authkey }),
          async (addr, lopts, caddr, copts) => {
            const lctx = { ...ctxOf(addr, lopts), os: true };
            const made = await attempt(`new Listener(${show(addr)}, ${show(lopts)})`, () => new mp.connection.Listener(addr as never, lopts as never), lctx);
            if (made.ok) {
              const l = made.value as mp.connection.Listener;
              await attempt('listener.listening()', () => l.listening(), lctx);
              l.close();
              await attempt('accept() after close()', () => l.accept(), {});
            }
            const where = caddr === 'target' ? target.address : caddr === 'closed' ? ['127.0.0.1', 1] : caddr;
            const cctx = { ...ctxOf(caddr, copts), os: true };
            const client = await attempt(`Client(${show(where)}, ${show(copts)})`, () => mp.connection.Client(where as never, copts as never), cctx);
            if (client.ok) (client.value as mp.Connection).close();
          },
        ),
      );
      stopped = true;
      target.close();
    },
    PROPERTY_MS * 2,
  );
});

describe('error messages', () => {
  it(
    'an error message can describe any argument (null prototypes, odd constructors)',
    async () => {
      const lock = new mp.Lock();
      const sl = new mp.ShareableList([1, 'a']);
      const ODDER: [string, () => unknown][] = [
        ['Object.create(null)', () => Object.create(null)],
        ["Object.assign(Object.create(null), { a: 1 })", () => Object.assign(Object.create(null), { a: 1 })],
        ['{ constructor: 5 }', () => ({ constructor: 5 })],
        ["{ constructor: { name: Symbol('n') } }", () => ({ constructor: { name: Symbol('n') } })],
        ['{ constructor: { name: Object.create(null) } }', () => ({ constructor: { name: Object.create(null) } })],
        ['an instance of a class whose name is not a string', () => new (class {
          static get name() {
            return Symbol('anonymous');
          }
        })()],
      ];
      const CALLS: [string, (v: unknown) => unknown][] = [
        ['new Queue(v)', (v) => new mp.Queue(v as never)],
        ['new Semaphore(v)', (v) => new mp.Semaphore(v as never)],
        ['new Barrier(v)', (v) => new mp.Barrier(v as never)],
        ["Value('i', v)", (v) => mp.Value('i', v as never)],
        ["Array('i', [v])", (v) => mp.Array('i', [v] as never)],
        ['lock.acquire({ timeout: v })', (v) => lock.acquire({ timeout: v as never })],
        ['new Process({ name: v })', (v) => new mp.Process({ name: v as never })],
        ['Client(v)', (v) => mp.connection.Client(v as never)],
        ['Pipe({ duplex: v })', (v) => mp.Pipe({ duplex: v as never })],
        ['new SharedMemory({ create: true, size: v })', (v) => new mp.SharedMemory({ create: true, size: v as never })],
        ['new ShareableList([v])', (v) => new mp.ShareableList([v as never])],
        ['sl.index(v)', (v) => sl.index(v as never)],
        ['wait([v])', (v) => mp.connection.wait([v as never])],
        ['getContext(v)', (v) => mp.getContext(v as never)],
      ];
      try {
        await fuzz(
          'error messages',
          runs(1),
          property(fc.constantFrom(...CALLS), fc.constantFrom(...ODDER), async ([what, call], [label, make]) => {
            await attempt(what.replace('v', label), () => call(make()), {});
          }),
          { examples: [[CALLS[11]!, ODDER[0]!], [CALLS[0]!, ODDER[3]!]] },
        );
      } finally {
        lock.close();
        sl.shm.close();
        sl.shm.unlink();
      }
    },
    PROPERTY_MS * 2,
  );
});

describe('processes, pools, managers, contexts', () => {
  it(
    'Process constructor options and the methods of a process that is never started',
    async () => {
      await fuzz(
        'Process',
        runs(2),
        property(
          options({ target: fc.constantFrom(SQUARE, () => 1), args: fc.array(weird, { maxLength: 3 }), name: fc.string({ maxLength: 8 }), daemon: fc.boolean() }),
          weird,
          weird,
          timeout,
          async (opts, name, daemon, t) => {
            const ctx = ctxOf(opts, name, daemon, t);
            const made = await attempt(`new Process(${show(opts)})`, () => new mp.Process(opts as never), ctx);
            if (!made.ok) return;
            const p = made.value as mp.Process;
            await attempt(`p.name = ${show(name)}`, () => {
              p.name = name as never;
            }, ctx);
            await attempt(`p.daemon = ${show(daemon)}`, () => {
              p.daemon = daemon as never;
            }, ctx);
            await attempt(`p.join(${show(t)}) before start`, () => p.join(t as never), ctx);
            await attempt('p.isAlive()', () => p.isAlive(), {});
            await attempt('p.terminate() before start', () => p.terminate(), {});
            await attempt('String(p)', () => String(p), {});
            await attempt('p.close()', () => p.close(), {});
          },
        ),
      );
    },
    PROPERTY_MS * 2,
  );

  /** Whether new Pool(o) must succeed by API.md's rules (then it would start processes). */
  function validPoolOptions(o: unknown): boolean {
    if (o === undefined || o === null) return true;
    if (typeof o !== 'object' || Array.isArray(o)) return false;
    const r = o as Record<string, unknown>;
    // A getter on an option the constructor reads might throw: call it invalid (never run).
    for (const key of ['processes', 'initializer', 'initargs', 'maxtasksperchild', 'context']) {
      for (let x: object | null = r; x !== null; x = Object.getPrototypeOf(x)) {
        const d = Object.getOwnPropertyDescriptor(x, key);
        if (d !== undefined) {
          if (d.get !== undefined) return false;
          break;
        }
      }
    }
    const { processes, initializer, initargs, maxtasksperchild, context } = r;
    const intAtLeast1 = (v: unknown) => v === undefined || v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 1);
    const fnOrRef = (v: unknown) => v === undefined || v === null || typeof v === 'function' || (typeof v === 'object' && typeof (v as { module?: unknown }).module === 'string');
    const P = context !== null && typeof context === 'object' ? (context as { Process?: unknown }).Process : undefined;
    const ctxOk = P === undefined || (typeof P === 'function' && (P === mp.Process || P.prototype instanceof mp.Process));
    return intAtLeast1(processes) && fnOrRef(initializer) && (initargs === undefined || Array.isArray(initargs)) && intAtLeast1(maxtasksperchild) && ctxOk;
  }

  it(
    'Pool: constructor options (invalid ones only: valid ones start workers) and map/apply/imap arguments on a live pool',
    async () => {
      const pool = new mp.Pool({ processes: 1 });
      try {
        const poolOptions = options({
          processes: fc.oneof(fc.integer({ min: -1, max: 2 }), edgeNumber),
          initializer: fc.constantFrom(SQUARE, () => 1),
          initargs: fc.array(weird, { maxLength: 2 }),
          maxtasksperchild: fc.oneof(fc.integer({ min: -1, max: 3 }), edgeNumber),
          context: fc.constantFrom(mp.getContext('spawn'), { Process: 5 }, { Process: class NotAProcess {} }),
        });
        const fn = fc.oneof({ weight: 3, arbitrary: fc.constant(SQUARE) }, { weight: 2, arbitrary: weird });
        const iterable = fc.oneof(fc.array(fc.oneof(fc.integer({ min: -5, max: 5 }), weird), { maxLength: 4 }), fc.string({ maxLength: 4 }), weird);
        const mapOptions = options({
          chunksize: fc.oneof(fc.integer({ min: -1, max: 3 }), edgeNumber),
          signal: fc.constantFrom(new AbortController().signal, AbortSignal.abort()),
          callback: fc.constantFrom(() => {}, 5, 'x'),
          errorCallback: fc.constantFrom(() => {}, 5, 'x'),
          progress: fc.constantFrom(false, (_d: number, _t: number) => {}, 5),
        });
        await fuzz(
          'Pool',
          runs(2),
          property(
            poolOptions,
            fc.constantFrom('apply', 'applyAsync', 'map', 'mapAsync', 'starmap', 'starmapAsync', 'imap', 'imapUnordered'),
            fn,
            fc.oneof(iterable, fc.array(fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 2 }), { maxLength: 3 })),
            mapOptions,
            async (popts, method, f, items, mopts) => {
              // A callback that throws when called is the user's own error, surfaced as an
              // uncaught exception as Node does for callbacks: not this boundary's concern.
              // (apply takes no callbacks, so it stays in: it must not call them.)
              fc.pre(!(method.endsWith('Async') && callbackThrows(mopts)));
              // Clamp: a valid worker count (which a mistaken model could let through) stays small.
              // (new Pool({ processes: 577934873 }) aborts the process: V8 runs out of heap
              // in new Array(processes).fill(null), before any worker starts.)
              const plain = popts !== null && typeof popts === 'object' && !HOSTILE.has(popts) && [Object.prototype, null].includes(Object.getPrototypeOf(popts));
              const many = plain && typeof (popts as { processes?: unknown }).processes === 'number' && (popts as { processes: number }).processes > 2;
              const clamped = many ? { ...(popts as object), processes: 2 } : popts;
              // A hostile object may never touch the getter that throws (then it is a valid,
              // empty options object: a pool of cpuCount() workers, terminated at once).
              const hostileOptions = hasHostile(clamped);
              if (hostileOptions || !validPoolOptions(clamped)) {
                const made = await attempt(`new Pool(${show(clamped)})`, () => new mp.Pool(clamped as never), ctxOf(clamped));
                if (made.ok) {
                  await (made.value as mp.Pool).terminate();
                  if (!hostileOptions) fail(`new Pool(${show(clamped)}) succeeded: its options break API.md's rules`);
                }
              }
              const ctx = ctxOf(f, items, mopts);
              const call = await attempt(
                `pool.${method}(${show(f)}, ${show(items)}, ${show(mopts)})`,
                () => {
                  const p = pool as unknown as Record<string, (...a: unknown[]) => unknown>;
                  const r = p[method]!.call(pool, f, items, mopts);
                  if (method.endsWith('Async')) return (r as mp.AsyncResult<unknown>).get(5);
                  if (method.startsWith('imap')) {
                    return (async () => {
                      const out: unknown[] = [];
                      for await (const x of r as AsyncIterable<unknown>) if (out.push(x) > 20) break;
                      return out;
                    })();
                  }
                  return r;
                },
                { ...ctx, ms: 8000 },
              );
              void call;
              // The pool still works.
              const check = await attempt('pool.apply(square, [3]) after the call', () => pool.apply(SQUARE, [3]), { ms: 8000 });
              if (!check.ok || check.value !== 9) fail(`the pool is broken after the call: ${check.ok ? show(check.value) : show(check.error)}`);
            },
          ),
          { examples: [[{ processes: 1 }, 'applyAsync', SQUARE, [3], { callback: 5 }]] },
        );
      } finally {
        await pool.terminate();
      }
    },
    PROPERTY_MS * 2,
  );

  it(
    'SyncManager/BaseManager constructor options (never started) and BaseManager.register',
    async () => {
      const PROTECTED = Object.getOwnPropertyNames(mp.BaseManager.prototype).filter((n) => n !== 'constructor');
      const typeid = fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom(...PROTECTED, 'then', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'constructor', 'dict', 'Lock', '_x', ''),
        weird,
      );
      const callable = fc.oneof(fc.constantFrom(undefined, null, class Thing {}, () => ({}), SQUARE), weird);
      const registerOptions = options({
        exposed: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
        methodToTypeid: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }),
        proxytype: fc.constantFrom(mp.BaseProxy, mp.AutoProxy),
        createMethod: fc.boolean(),
      });
      const managerOptions = options({
        address: fc.oneof(fc.tuple(fc.constantFrom('127.0.0.1', '0.0.0.0'), fc.oneof(fc.integer({ min: 0, max: 65535 }), edgeNumber)), fc.constant(join(tmpdir(), 'mpfuzz-nowhere'))),
        authkey: fc.oneof(fc.constantFrom('k', Buffer.from('k'), ''), weird),
        maxMessageBytes: fc.oneof(fc.integer({ min: 0, max: 5000 }), edgeNumber),
        shutdownTimeout: timeout,
        context: fc.constantFrom(mp.getContext('spawn'), null),
      });
      await fuzz(
        'Manager/BaseManager.register',
        runs(2),
        property(managerOptions, fc.boolean(), typeid, callable, registerOptions, async (mopts, sync, tid, make, ropts) => {
          const ctx = ctxOf(mopts, tid, make, ropts);
          const made = await attempt(`new ${sync ? 'SyncManager' : 'BaseManager'}(${show(mopts)})`, () => (sync ? new mp.SyncManager(mopts as never) : new mp.BaseManager(mopts as never)), ctx);
          if (made.ok) {
            const m = made.value as mp.BaseManager;
            await attempt('String(manager)', () => String(m), ctx);
            await attempt('manager.shutdown() (never started)', () => m.shutdown(), ctx);
          } else {
            // mp.Manager() checks the same options before it starts anything.
            await attempt(`Manager(${show(mopts)})`, () => mp.Manager(mopts as never), ctx);
          }
          class M extends mp.BaseManager {}
          const reg = await attempt(`M.register(${show(tid)}, ${show(make)}, ${show(ropts)})`, () => M.register(tid as never, make as never, ropts as never), ctx);
          if (!reg.ok) return;
          // A registered typeid adds a method: it must not replace the manager's own API,
          // nor make a manager a thenable or break its string conversion.
          for (const name of PROTECTED) {
            const mine = Object.getOwnPropertyDescriptor(M.prototype, name);
            if (mine !== undefined) fail(`M.register(${show(tid)}) replaced BaseManager.prototype.${name}`);
          }
          const m = new M();
          const thenable = typeof (m as unknown as { then?: unknown }).then === 'function';
          if (thenable) fail(`M.register(${show(tid)}) made every manager a thenable (await manager never settles)`);
          const text = (m as unknown as { toString(): unknown }).toString();
          if (typeof text !== 'string') {
            if (isThenable(text)) (text as Promise<unknown>).then(undefined, () => {});
            fail(`M.register(${show(tid)}): manager.toString() returns ${show(text)}`);
          }
        }),
        { examples: [[undefined, false, 'create', null, undefined]] },
      );
    },
    PROPERTY_MS * 2,
  );

  it(
    'setStartMethod, getStartMethod and getContext',
    async () => {
      const original = mp.getStartMethod({ allowNone: true });
      const method = fc.oneof(fc.constantFrom('spawn', 'forkserver', 'fork', null, undefined, 'SPAWN', ''), weird);
      try {
        await fuzz(
          'start methods',
          runs(1),
          property(method, options({ force: fc.boolean() }), options({ allowNone: fc.boolean() }), async (m, setOpts, getOpts) => {
            const ctx = ctxOf(m, setOpts, getOpts);
            try {
              await attempt(`setStartMethod(${show(m)}, ${show(setOpts)})`, () => mp.setStartMethod(m as never, setOpts as never), ctx);
              const got = await attempt(`getStartMethod(${show(getOpts)})`, () => mp.getStartMethod(getOpts as never), ctx);
              if (got.ok && got.value !== null && !mp.getAllStartMethods().includes(got.value as never)) fail(`getStartMethod() gave ${show(got.value)}`);
              const c = await attempt(`getContext(${show(m)})`, () => mp.getContext(m as never), ctx);
              if (c.ok) await attempt('context.setStartMethod()', () => (c.value as mp.Context).setStartMethod('spawn' as never), {});
            } finally {
              mp.setStartMethod(original, { force: true });
            }
          }),
        );
      } finally {
        mp.setStartMethod(original, { force: true });
      }
    },
    PROPERTY_MS * 2,
  );
});

// Last: the objects this makes with a bogus internal block fail later, in a garbage
// collector's finalizer (an uncaught exception), whatever runs then.
describe('undocumented parameters', () => {
  it(
    'constructors given an argument in their internal (undocumented) parameter slots',
    async () => {
      // `new Lock(x)` / `new Event(x)` take no argument in API.md (Python's take none);
      // Semaphore/Condition/Barrier/queues have one after their documented ones. A stray
      // argument must be refused (TypeError) or ignored: the object then works and closes.
      await fuzz(
        'internal parameter slots',
        runs(1),
        property(fc.constantFrom('Lock', 'RLock', 'Event', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Barrier', 'Queue', 'SimpleQueue', 'JoinableQueue'), weird, async (kind, extra) => {
          fc.pre(extra !== undefined);
          const ctx = ctxOf(extra);
          const made = await attempt(
            `new ${kind}(..., ${show(extra)})`,
            () => {
              switch (kind) {
                case 'Lock':
                  return new mp.Lock(extra as never);
                case 'RLock':
                  return new mp.RLock(extra as never);
                case 'Event':
                  return new (mp.Event as unknown as new (x: unknown) => mp.Event)(extra);
                case 'Semaphore':
                  return new (mp.Semaphore as unknown as new (v: number, x: unknown) => mp.Semaphore)(1, extra);
                case 'BoundedSemaphore':
                  return new (mp.BoundedSemaphore as unknown as new (v: number, x: unknown) => mp.Semaphore)(1, extra);
                case 'Condition':
                  return new (mp.Condition as unknown as new (l: unknown, x: unknown) => mp.Condition)(undefined, extra);
                case 'Barrier':
                  return new (mp.Barrier as unknown as new (p: number, o: unknown, x: unknown) => mp.Barrier)(1, {}, extra);
                case 'Queue':
                  return new (mp.Queue as unknown as new (m: number, x: unknown) => mp.Queue)(0, extra);
                case 'JoinableQueue':
                  return new (mp.JoinableQueue as unknown as new (m: number, x: unknown) => mp.JoinableQueue)(0, extra);
                default:
                  return new (mp.SimpleQueue as unknown as new (x: unknown) => mp.SimpleQueue)(extra);
              }
            },
            ctx,
          );
          if (!made.ok) return;
          const obj = made.value as { close(): void };
          // Ignored, then: the object must work as a fresh one and close cleanly.
          await attempt(
            `use of new ${kind}(..., ${show(extra)})`,
            async () => {
              if (obj instanceof mp.Lock || obj instanceof mp.RLock || obj instanceof mp.Semaphore || obj instanceof mp.Condition) {
                if (!(obj as mp.Lock).acquireSync({ block: false })) fail('a new lock is not free');
                (obj as mp.Lock).release();
              } else if (obj instanceof mp.Event) {
                obj.set();
                if (!obj.isSet()) fail('set() did not set');
              } else if (obj instanceof mp.Barrier) {
                if ((await obj.wait(0.5)) !== 0) fail('Barrier(1).wait() is not 0');
              } else if (obj instanceof mp.Queue || obj instanceof mp.SimpleQueue) {
                await (obj as mp.Queue).put(1);
                if ((await (obj as mp.Queue).get({ timeout: 0.5 } as never)) !== 1) fail('the queue lost its message');
              }
            },
            { ms: 2000 },
          );
          await attempt(`new ${kind}(..., ${show(extra)}).close()`, () => obj.close(), { ms: 2000 });
        }),
        { examples: [['Lock', {}]] },
      );
    },
    PROPERTY_MS * 2,
  );
});
