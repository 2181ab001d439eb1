// Value, Array, RawValue, RawArray over real shared memory, in this process and in
// forked children that revive the handles with the library's own revivers.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import * as mp from 'multiprocessing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript, shmNames, startChild, until } from './fixtures/sharedctypes-helper.mjs';

const require = createRequire(import.meta.url);
const { handleOf } = require('../dist/reduction.js') as typeof import('../dist/reduction.js');
const { Lock, RLock } = require('../dist/synchronize.js') as typeof import('../dist/synchronize.js');
const ctypes = require('../dist/ctypes.js') as typeof import('../dist/ctypes.js');

const WIN = process.platform === 'win32';
// biome-ignore lint/suspicious/noExplicitAny: tests poke at every shape
type Any = any;

// Edge values per typecode: [min, max] as stored.
const INT_EDGES: Record<string, [number | bigint, number | bigint]> = {
  b: [-128, 127],
  B: [0, 255],
  h: [-32768, 32767],
  H: [0, 65535],
  i: [-2147483648, 2147483647],
  I: [0, 4294967295],
  q: [-(2n ** 63n), 2n ** 63n - 1n],
  Q: [0n, 2n ** 64n - 1n],
  l: WIN ? [-2147483648, 2147483647] : [-(2n ** 63n), 2n ** 63n - 1n],
  L: WIN ? [0, 4294967295] : [0n, 2n ** 64n - 1n],
};
const ARRAY_CLASS: Record<string, string> = {
  c: 'Uint8Array',
  u: WIN ? 'Uint16Array' : 'Uint32Array',
  b: 'Int8Array',
  B: 'Uint8Array',
  h: 'Int16Array',
  H: 'Uint16Array',
  i: 'Int32Array',
  I: 'Uint32Array',
  l: WIN ? 'Int32Array' : 'BigInt64Array',
  L: WIN ? 'Uint32Array' : 'BigUint64Array',
  q: 'BigInt64Array',
  Q: 'BigUint64Array',
  f: 'Float32Array',
  d: 'Float64Array',
};

function below(x: number | bigint): number | bigint {
  return typeof x === 'bigint' ? x - 1n : x - 1;
}
function above(x: number | bigint): number | bigint {
  return typeof x === 'bigint' ? x + 1n : x + 1;
}

describe('ctypes table', () => {
  it('maps every typecode to its typed array, size and range', () => {
    for (const [code, cls] of Object.entries(ARRAY_CLASS)) {
      const info = ctypes.typeInfo(code);
      expect(info.ArrayType.name).toBe(cls);
      expect(info.size).toBe(info.ArrayType.BYTES_PER_ELEMENT);
      expect(info.align).toBe(info.size);
    }
    expect(ctypes.typeInfo('u').size).toBe(WIN ? 2 : 4);
    expect(ctypes.typeInfo('l').size).toBe(WIN ? 4 : 8);
    expect(ctypes.typeInfo('q').bigint).toBe(true);
    expect(ctypes.typeInfo('d').float).toBe(true);
  });

  it('accepts ctypes names', () => {
    expect(ctypes.typeInfo('c_int').code).toBe('i');
    expect(ctypes.typeInfo('c_double').code).toBe('d');
    expect(ctypes.typeInfo('c_char').code).toBe('c');
    expect(ctypes.typeInfo('c_wchar').code).toBe('u');
    expect(ctypes.typeInfo('c_uint8').code).toBe('B');
    expect(ctypes.typeInfo('c_long').code).toBe('l');
    expect(mp.Value('c_double', 2.5).typecode).toBe('d');
    expect(mp.Array('c_int', [1, 2]).typecode).toBe('i');
  });

  it('rejects unknown typecodes with a ValueError naming the valid ones', () => {
    expect(() => mp.Value('x' as Any)).toThrow(mp.ValueError);
    expect(() => mp.Value('x' as Any)).toThrow(/'c', 'u', 'b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q', 'f', 'd'/);
    expect(() => mp.Array('int' as Any, 3)).toThrow(mp.ValueError);
    expect(() => mp.RawArray('' as Any, 3)).toThrow(mp.ValueError);
    expect(() => mp.Value(1 as Any)).toThrow(TypeError);
    expect(() => mp.Value(1 as Any)).toThrow(/typecode/);
    expect(() => mp.RawValue(null as Any)).toThrow(TypeError);
  });
});

describe('Value', () => {
  it.each(Object.keys(INT_EDGES))("'%s' holds its min and max and rejects one past them", (code) => {
    const [min, max] = INT_EDGES[code];
    const v: Any = mp.Value(code as Any);
    expect(v.value).toBe(typeof min === 'bigint' ? 0n : 0);
    v.value = min;
    expect(v.value).toBe(min);
    v.value = max;
    expect(v.value).toBe(max);
    expect(mp.Value(code as Any, max as Any).value).toBe(max);
    expect(mp.RawValue(code as Any, min as Any).value).toBe(min);
    expect(() => mp.Value(code as Any, below(min) as Any)).toThrow(RangeError);
    expect(() => mp.Value(code as Any, above(max) as Any)).toThrow(RangeError);
    expect(() => {
      v.value = above(max);
    }).toThrow(RangeError);
    expect(v.value).toBe(max); // a rejected write changes nothing
    expect(() => mp.Value(code as Any, 1.5 as Any)).toThrow(TypeError);
    expect(() => mp.Value(code as Any, '1' as Any)).toThrow(TypeError);
    expect(() => mp.Value(code as Any, NaN as Any)).toThrow(TypeError);
  });

  it('bigint kinds take safe-integer numbers and refuse unsafe ones', () => {
    const v: Any = mp.Value('q', 42);
    expect(v.value).toBe(42n);
    v.value = -(2 ** 53 - 1);
    expect(v.value).toBe(-(2n ** 53n - 1n));
    expect(() => mp.Value('q', 2 ** 60)).toThrow(TypeError);
    expect(() => mp.Value('Q', -1)).toThrow(RangeError);
    expect(() => mp.Value('Q', -1n)).toThrow(RangeError);
    // number kinds take bigints in range
    expect(mp.Value('i', 5n as Any).value).toBe(5);
    expect(() => mp.Value('i', 2n ** 31n as Any)).toThrow(RangeError);
  });

  it.each(['f', 'd'])("'%s' keeps -0, NaN and the infinities", (code) => {
    const v: Any = mp.Value(code as Any, -0);
    expect(Object.is(v.value, -0)).toBe(true);
    v.value = NaN;
    expect(v.value).toBeNaN();
    v.value = Infinity;
    expect(v.value).toBe(Infinity);
    v.value = -Infinity;
    expect(v.value).toBe(-Infinity);
    v.value = 0.1;
    expect(v.value).toBe(code === 'd' ? 0.1 : Math.fround(0.1));
    v.value = code === 'd' ? Number.MAX_VALUE : 3.4028234663852886e38;
    expect(v.value).toBe(code === 'd' ? Number.MAX_VALUE : 3.4028234663852886e38);
    v.value = Number.MIN_VALUE;
    expect(v.value).toBe(code === 'd' ? Number.MIN_VALUE : 0);
    expect(() => {
      v.value = 'x';
    }).toThrow(TypeError);
  });

  it("'f' refuses finite values beyond float range instead of turning them into Infinity", () => {
    expect(() => mp.Value('f', 1e39)).toThrow(RangeError);
    expect(() => mp.Value('f', -1e300)).toThrow(RangeError);
    expect(mp.Value('d', 1e300).value).toBe(1e300);
  });

  it("'c' holds one byte as a 1-byte Buffer", () => {
    const v: Any = mp.Value('c');
    expect(Buffer.isBuffer(v.value)).toBe(true);
    expect(v.value).toEqual(Buffer.from([0]));
    v.value = Buffer.from('x');
    expect(v.value.toString()).toBe('x');
    v.value = 'y';
    expect(v.value).toEqual(Buffer.from('y'));
    v.value = 255;
    expect(v.value).toEqual(Buffer.from([255]));
    expect(mp.Value('c', Buffer.from('a')).value).toEqual(Buffer.from('a'));
    expect(() => mp.Value('c', Buffer.from('ab'))).toThrow(TypeError);
    expect(() => mp.Value('c', 'é')).toThrow(TypeError);
    expect(() => mp.Value('c', 256)).toThrow(RangeError);
    expect(() => mp.Value('c', {} as Any, {})).toThrow(TypeError);
  });

  it("'u' holds one character as a string", () => {
    const v: Any = mp.Value('u');
    expect(v.value).toBe('\0');
    v.value = 'é';
    expect(v.value).toBe('é');
    if (!WIN) {
      v.value = '😀';
      expect(v.value).toBe('😀');
    }
    expect(mp.Value('u', 'z').value).toBe('z');
    expect(() => mp.Value('u', 'ab')).toThrow(TypeError);
    expect(() => mp.Value('u', '')).toThrow(TypeError);
    expect(() => mp.Value('u', Buffer.from('a') as Any)).toThrow(TypeError);
  });

  it('has a lock by default (an RLock), a given one, or none with lock: false', () => {
    const v = mp.Value('i', 1);
    expect(v.getLock()).toBeInstanceOf(RLock);
    expect(v.typecode).toBe('i');
    const raw = v.getObj();
    expect(raw.value).toBe(1);
    raw.value = 7;
    expect(v.value).toBe(7);
    expect(raw.getObj()).toBe(raw);

    const lock = new Lock();
    const w = mp.Value('d', 0, { lock });
    expect(w.getLock()).toBe(lock);
    const rlock = new RLock();
    expect(mp.Value('d', 0, { lock: rlock }).getLock()).toBe(rlock);
    expect(mp.Value('d', 0, { lock: true }).getLock()).toBeInstanceOf(RLock);

    const none = mp.Value('i', 3, { lock: false });
    expect(none.value).toBe(3);
    expect(() => none.getLock()).toThrow(mp.ValueError);
    expect(() => none.getLock()).toThrow(/lock: false/);
    expect(() => mp.RawValue('i').getLock()).toThrow(mp.ValueError);
    // options as the second argument
    expect(() => mp.Value('i', { lock: false }).getLock()).toThrow(mp.ValueError);
    expect(mp.Value('i', { lock: false }).value).toBe(0);
  });

  it('supports a locked read-modify-write', () => {
    const v = mp.Value('i', 0);
    for (let i = 0; i < 10; i++) {
      using _ = v.getLock().hold();
      v.value += 1;
    }
    expect(v.value).toBe(10);
  });

  it('rejects bad options with a TypeError naming them', () => {
    expect(() => mp.Value('i', 0, { lock: 1 as Any })).toThrow(/options.lock/);
    expect(() => mp.Value('i', 0, { lock: 'yes' as Any })).toThrow(TypeError);
    expect(() => mp.Value('i', 0, { lok: true } as Any)).toThrow(/unknown option 'lok'/);
    expect(() => mp.Value('i', 0, 5 as Any)).toThrow(TypeError);
    expect(() => mp.Array('i', 3, { lock: {} as Any })).toThrow(/options.lock/);
  });

  it('prints like Python', () => {
    expect(String(mp.RawValue('i', 5))).toBe('c_int(5)');
    expect(String(mp.Value('d', 1.5))).toBe('<Synchronized wrapper for c_double(1.5)>');
  });
});

describe('Array', () => {
  it.each(Object.keys(INT_EDGES))("'%s' is a real %s over shared memory with min and max", (code) => {
    const [min, max] = INT_EDGES[code];
    const arr: Any = mp.Array(code as Any, [min, max, min]);
    expect(arr).toBeInstanceOf((globalThis as Any)[ARRAY_CLASS[code]]);
    expect(ArrayBuffer.isView(arr)).toBe(true);
    expect(arr.length).toBe(3);
    expect(Array.from(arr)).toEqual([min, max, min]);
    expect(arr.typecode).toBe(code);
    expect(() => mp.Array(code as Any, [0, above(max)])).toThrow(RangeError);
    expect(() => mp.Array(code as Any, [below(min)])).toThrow(RangeError);
    expect(() => mp.RawArray(code as Any, [0, 0.5])).toThrow(/sizeOrValues\[1\]/);
  });

  it.each(['f', 'd'])("'%s' keeps -0, NaN and the infinities", (code) => {
    const arr: Any = mp.Array(code as Any, [-0, NaN, Infinity, -Infinity, 1.5]);
    expect(Object.is(arr[0], -0)).toBe(true);
    expect(arr[1]).toBeNaN();
    expect(arr[2]).toBe(Infinity);
    expect(arr[3]).toBe(-Infinity);
    expect(arr[4]).toBe(1.5);
    expect(arr).toBeInstanceOf(code === 'f' ? Float32Array : Float64Array);
  });

  it('is zero-filled for a size and accepts iterables and array-likes', () => {
    const a = mp.Array('d', 5);
    expect(Array.from(a)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(mp.Array('i', new Set([3, 4])))).toEqual([3, 4]);
    expect(Array.from(mp.Array('i', { length: 2, 0: 9, 1: 8 } as Any))).toEqual([9, 8]);
    expect(Array.from(mp.Array('d', new Float64Array([1.5, 2.5])))).toEqual([1.5, 2.5]);
    expect(Array.from(mp.Array('q', [1, 2n]))).toEqual([1n, 2n]);
    function* gen() {
      yield 1;
      yield 2;
    }
    expect(Array.from(mp.RawArray('H', gen()))).toEqual([1, 2]);
    expect(mp.Array('i', 0).length).toBe(0);
    expect(mp.Array('i', []).length).toBe(0);
  });

  it('rejects bad sizes and values with typed errors naming the argument', () => {
    expect(() => mp.Array('i', -1)).toThrow(RangeError);
    expect(() => mp.Array('i', 1.5)).toThrow(TypeError);
    expect(() => mp.Array('i', 1.5)).toThrow(/sizeOrValues/);
    expect(() => mp.Array('i', NaN)).toThrow(TypeError);
    expect(() => mp.Array('i', null as Any)).toThrow(/sizeOrValues/);
    expect(() => mp.Array('i', undefined as Any)).toThrow(/sizeOrValues/);
    expect(() => mp.Array('i', {} as Any)).toThrow(TypeError);
    expect(() => mp.Array('i', true as Any)).toThrow(TypeError);
    expect(() => mp.Array('i', 'abc' as Any)).toThrow(TypeError);
    expect(() => mp.Array('i', [1, 'x'] as Any)).toThrow(/sizeOrValues\[1\]/);
    expect(() => mp.Array('q', [1.5])).toThrow(TypeError);
    expect(() => mp.Array('d', [1n << 1100n] as Any)).toThrow(RangeError);
    expect(() => mp.Array('i', 3, 'x' as Any)).toThrow(/options/);
  });

  it('keeps plain typed array behaviour: species, subarray views, iteration', () => {
    const arr = mp.Array('d', [1, 2, 3, 4]);
    const sliced = arr.slice(1, 3);
    expect(sliced.constructor).toBe(Float64Array);
    expect(Array.from(sliced)).toEqual([2, 3]);
    sliced[0] = 99;
    expect(arr[1]).toBe(2); // a copy
    const mapped = arr.map((x) => x * 2);
    expect(mapped.constructor).toBe(Float64Array);
    expect(arr.filter((x) => x > 2).constructor).toBe(Float64Array);

    const view = arr.subarray(1, 3);
    expect(view.typecode).toBe('d');
    expect(view.length).toBe(2);
    view[0] = 20;
    expect(arr[1]).toBe(20); // shares memory
    expect(view.getLock()).toBe(arr.getLock());
    expect([...arr]).toEqual([1, 20, 3, 4]);
    expect(Object.keys(arr)).toEqual(['0', '1', '2', '3']);
    expect(JSON.stringify(Array.from(arr))).toBe('[1,20,3,4]');
    // the constructor makes plain arrays for user code
    const Ctor = arr.constructor as Any;
    const plain = new Ctor(2);
    expect(plain.typecode).toBeUndefined();
    expect(plain.length).toBe(2);
  });

  it('has getLock/getObj for every lock form', () => {
    const arr = mp.Array('i', [1, 2, 3]);
    expect(arr.getLock()).toBeInstanceOf(RLock);
    const obj = arr.getObj();
    expect(obj).not.toBe(arr);
    expect(obj).toBe(arr.getObj());
    expect(obj.typecode).toBe('i');
    expect(() => obj.getLock()).toThrow(mp.ValueError);
    obj[0] = 42;
    expect(arr[0]).toBe(42);
    const lock = new Lock();
    expect(mp.Array('i', 2, { lock }).getLock()).toBe(lock);
    const raw = mp.Array('i', 2, { lock: false });
    expect(() => raw.getLock()).toThrow(/lock: false/);
    expect(raw.getObj()).toBe(raw);
    const raw2 = mp.RawArray('d', 2);
    expect(() => raw2.getLock()).toThrow(mp.ValueError);
    expect(raw2.getObj()).toBe(raw2);
  });

  it("'c' arrays have .value (up to NUL) and .raw (all bytes)", () => {
    const arr = mp.Array('c', 'hello');
    expect(arr.length).toBe(5);
    expect(arr.value).toEqual(Buffer.from('hello'));
    expect(arr.raw).toEqual(Buffer.from('hello'));
    arr.value = 'hi';
    expect(arr.value).toEqual(Buffer.from('hi'));
    expect(arr.raw).toEqual(Buffer.from('hi\0lo'));
    arr.raw = Buffer.from('HEY');
    expect(arr.raw).toEqual(Buffer.from('HEYlo'));
    arr.value = Buffer.from('12345');
    expect(arr.value.toString()).toBe('12345');
    expect(() => {
      arr.value = '123456';
    }).toThrow(mp.ValueError);
    expect(() => {
      arr.raw = '123456';
    }).toThrow(mp.ValueError);
    expect(() => {
      arr.value = 5 as Any;
    }).toThrow(TypeError);
    const sized = mp.RawArray('c', 8);
    expect(sized.value).toEqual(Buffer.alloc(0));
    expect(sized.raw).toEqual(Buffer.alloc(8));
    expect(Array.from(mp.Array('c', [97, 'b', Buffer.from('c')]))).toEqual([97, 98, 99]);
    expect(Array.from(mp.Array('c', Buffer.from([0, 255])))).toEqual([0, 255]);
    expect(() => mp.Array('c', [256])).toThrow(RangeError);
    expect(() => mp.Array('c', ['ab'])).toThrow(TypeError);
  });

  it("'u' arrays have a string .value", () => {
    const s = WIN ? 'héllo' : 'héllo😀';
    const arr = mp.Array('u', s);
    expect(arr.length).toBe(WIN ? 5 : 6);
    expect(arr.value).toBe(s);
    arr.value = 'ab';
    expect(arr.value).toBe('ab');
    expect(arr[2]).toBe(0);
    expect(() => {
      arr.value = 'x'.repeat(10);
    }).toThrow(mp.ValueError);
    expect(() => {
      arr.value = 1 as Any;
    }).toThrow(TypeError);
    expect(mp.RawArray('u', 4).value).toBe('');
    expect(mp.Array('u', ['a', 'b']).value).toBe('ab');
    expect(() => mp.Array('u', ['ab'])).toThrow(TypeError);
  });

  it('puts arrays above 64 KiB in a dedicated segment whose buffer is exactly the data', () => {
    const before = new Set(shmNames());
    const big = mp.Array('d', 10_000_000);
    expect(big.length).toBe(10_000_000);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(80_000_000);
    const whole = new Float64Array(big.buffer);
    expect(whole.length).toBe(big.length);
    whole[123] = 4.5;
    expect(big[123]).toBe(4.5);
    expect(big[9_999_999]).toBe(0);
    const added = shmNames().filter((n) => !before.has(n));
    expect(added.length).toBeGreaterThanOrEqual(1);
    // small ones live in an arena
    const small = mp.Array('d', 100);
    expect(small.buffer.byteLength).toBeGreaterThan(small.byteLength);
  });

  it('works with and without new, like Python callables', () => {
    const A = mp.Array as Any;
    const V = mp.Value as Any;
    expect(new A('i', [1, 2]).typecode).toBe('i');
    expect(new V('d', 2).value).toBe(2);
    expect(new (mp.RawArray as Any)('B', 2).length).toBe(2);
    expect(new (mp.RawValue as Any)('h', 3).value).toBe(3);
  });

  it('refuses to send an object whose lock is not shareable', () => {
    const duck = { acquire() {}, release() {} };
    const v = mp.Value('i', 0, { lock: duck as Any });
    expect(v.getLock()).toBe(duck);
    expect(() => handleOf(v as Any)).toThrow(TypeError);
    const arr = mp.Array('i', 2, { lock: duck as Any });
    expect(() => handleOf(arr as Any)).toThrow(/cannot be sent/);
  });

  it("does not touch the global Array", () => {
    expect(mp.Array).not.toBe(globalThis.Array);
    expect(Array.isArray([])).toBe(true);
    expect(globalThis.Array.from([1])).toEqual([1]);
  });
});

describe('across processes', () => {
  let child: Awaited<ReturnType<typeof startChild>>;
  beforeAll(async () => {
    child = await startChild();
  });
  afterAll(async () => {
    await child?.close();
  });

  it('a Value travels as a handle, with its lock', async () => {
    const v = mp.Value('d', 1.25);
    expect(await child.call('describe', { h: handleOf(v) })).toEqual({
      isArray: false,
      ctor: 'Synchronized',
      typecode: 'd',
      lockKind: 'RLock',
      length: undefined,
    });
    expect(await child.call('valueSet', { h: handleOf(v), v: -7.5 })).toBe(1.25);
    expect(v.value).toBe(-7.5);
    const q = mp.Value('Q', 2n ** 64n - 1n);
    expect(await child.call('valueSet', { h: handleOf(q), v: 5n })).toBe(2n ** 64n - 1n);
    expect(q.value).toBe(5n);
    const c = mp.Value('c', 'a');
    expect(await child.call('valueSet', { h: handleOf(c), v: Buffer.from('z') })).toEqual(Buffer.from('a'));
    expect(c.value.toString()).toBe('z');
  });

  it('RawValue and lock: false travel without a lock', async () => {
    const r = mp.RawValue('i', 3);
    const info = (await child.call('describe', { h: handleOf(r) })) as Any;
    expect(info.ctor).toBe('RawSharedValue');
    expect(info.lockKind).toBe('throws ValueError');
    await child.call('valueSet', { h: handleOf(r), v: 9 });
    expect(r.value).toBe(9);
    const n = mp.Value('h', -5, { lock: false });
    expect(await child.call('valueGet', { h: handleOf(n) })).toBe(-5);
  });

  it('a given Lock travels with its Value', async () => {
    const lock = new Lock();
    const v = mp.Value('i', 0, { lock });
    expect(((await child.call('describe', { h: handleOf(v) })) as Any).lockKind).toBe('Lock');
  });

  it.each(['b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q', 'f', 'd'])("an Array('%s') is mutated by the child", async (code) => {
    const [min, max] = INT_EDGES[code] ?? [-1.5, 2.5];
    const arr: Any = mp.Array(code as Any, [min, max, 0, 0]);
    const info = (await child.call('describe', { h: handleOf(arr) })) as Any;
    expect(info.isArray).toBe(true);
    expect(info.ctor).toBe(`Shared${ARRAY_CLASS[code]}`);
    expect(info.typecode).toBe(code);
    expect(info.length).toBe(4);
    expect(info.lockKind).toBe('RLock');
    const before = await child.call('arraySet', { h: handleOf(arr), writes: [[2, max], [3, min]] });
    expect(before).toEqual([min, max, 0, 0].map((x) => (typeof min === 'bigint' ? BigInt(x) : x)));
    expect(Array.from(arr)).toEqual([min, max, max, min]);
  });

  it('a RawArray, a subarray view and a lock: false Array travel too', async () => {
    const raw = mp.RawArray('i', [1, 2, 3, 4, 5]);
    expect(((await child.call('describe', { h: handleOf(raw) })) as Any).lockKind).toBe('throws ValueError');
    await child.call('arraySet', { h: handleOf(raw), writes: [[0, 10]] });
    expect(raw[0]).toBe(10);
    const view = raw.subarray(2, 4);
    expect(await child.call('arrayRead', { h: handleOf(view) })).toEqual([3, 4]);
    await child.call('arraySet', { h: handleOf(view), writes: [[1, 40]] });
    expect(raw[3]).toBe(40);
    const nolock = mp.Array('d', [0.5], { lock: false });
    expect(await child.call('arrayRead', { h: handleOf(nolock) })).toEqual([0.5]);
  });

  it("'c' and 'u' arrays keep .value/.raw across processes", async () => {
    const c = mp.Array('c', 'hello');
    const seen = (await child.call('charArray', { h: handleOf(c), value: 'bye' })) as Any;
    expect(Buffer.from(seen.value).toString()).toBe('hello');
    expect(c.value.toString()).toBe('bye');
    expect(c.raw).toEqual(Buffer.from('bye\0o'));
    const u = mp.Array('u', 'wörld');
    expect(await child.call('wcharArray', { h: handleOf(u), value: 'ok' })).toBe('wörld');
    expect(u.value).toBe('ok');
  });

  it('a big array is shared, buffer and all', async () => {
    const big = mp.Array('d', 1_000_000);
    big[0] = 1;
    big[999_999] = 2;
    const out = await child.call('bigArray', { h: handleOf(big), value: 3.5 });
    expect(out).toEqual({ length: 1_000_000, bufferLength: 1_000_000, first: 1, last: 2 });
    expect(big[0]).toBe(3.5);
    expect(big[999_999]).toBe(3.5);
  });

  it('locked increments from two processes add up', async () => {
    const v = mp.Value('i', 0);
    const N = 20_000;
    const remote = child.call('incrementValue', { h: handleOf(v), n: N });
    const lock = v.getLock();
    for (let i = 0; i < N; i++) {
      await lock.acquire();
      v.value += 1;
      lock.release();
    }
    await remote;
    expect(v.value).toBe(2 * N);
  });
});

describe('worker threads', () => {
  it('a worker thread revives a Value and an Array from their handles', async () => {
    const { Worker } = await import('node:worker_threads');
    const v = mp.Value('i', 1);
    const arr = mp.Array('d', [0, 0]);
    const dist = new URL('../dist/', import.meta.url).pathname;
    const w = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       require(${JSON.stringify(`${dist}index.js`)});
       const { revive } = require(${JSON.stringify(`${dist}reduction.js`)});
       const v = revive(workerData.v); const arr = revive(workerData.arr);
       v.getLock().acquireSync(); v.value += 41; v.getLock().release();
       arr[1] = 2.5;
       parentPort.postMessage(v.value);`,
      { eval: true, workerData: { v: handleOf(v as Any), arr: handleOf(arr as Any) } },
    );
    const [seen] = await Promise.all([new Promise((r) => w.once('message', r)), new Promise((r) => w.once('exit', r))]);
    expect(seen).toBe(42);
    expect(v.value).toBe(42);
    expect(arr[1]).toBe(2.5);
  });
});

describe('no leftovers', () => {
  it('a process that made one of everything leaves nothing in /dev/shm when it exits', async () => {
    const { code, lines } = await runScript('leak');
    expect(code).toBe(0);
    const { created } = lines[0] as { created: string[] };
    expect(created.length).toBeGreaterThanOrEqual(3); // an arena + two dedicated segments
    expect(created.filter((n) => existsSync(`/dev/shm/${n}`))).toEqual([]);
  });

  it('a SIGKILLed process leaves nothing: its resource tracker removes what it made', async () => {
    let created: string[] = [];
    // Not joined to this tree's tracker: the child starts its own, which sees the child die.
    const result = await runScript('leak', {
      args: ['hang'],
      tracker: false,
      onLine: (line: Any, proc: Any) => {
        created = line.created;
        proc.kill('SIGKILL');
      },
    });
    expect(result.signal).toBe('SIGKILL');
    expect(created.length).toBeGreaterThanOrEqual(3);
    expect(await until(() => created.every((n) => !existsSync(`/dev/shm/${n}`)))).toBe(true);
  });

  it('a child holding a parent-made block keeps it alive; the arena goes when both let go', async () => {
    const child = await startChild();
    try {
      const h = (await child.call('makeValue', { typecode: 'i', v: 77 })) as Any;
      await child.call('exit', { code: 0 });
      await child.exited;
      // The child is gone; the handle's transit reference kept its arena alive.
      const { revive } = require('../dist/reduction.js');
      const v = revive(h) as Any;
      expect(v.value).toBe(77);
      v.value = 78;
      expect(v.value).toBe(78);
    } finally {
      await child.close();
    }
  });
});

