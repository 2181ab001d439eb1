// The message codec of queues and pipes (lib/codec.ts), used directly: round trips of
// every value shape on the fast path and through the structured-clone fallback, the
// format byte, and decode() given random, truncated and mutated bytes.
import { createRequire } from 'node:module';
import * as v8 from 'node:v8';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

interface EncoderLike {
  encode(value: unknown): Uint8Array;
  shrink(): void;
}
interface DecoderLike {
  wire: boolean;
  decode(bytes: Uint8Array, start: number, end: number): unknown;
}
const codec = require('../dist/codec.js') as {
  Encoder: new () => EncoderLike;
  ArraySlice: new (array: readonly unknown[], start: number, end: number) => object;
  Decoder: new () => DecoderLike;
  revive(value: unknown, wire: boolean): unknown;
  FORMAT_FAST: number;
  FORMAT_V8: number;
};
const { Encoder, Decoder, ArraySlice, revive, FORMAT_FAST, FORMAT_V8 } = codec;

const enc = new Encoder();
const dec = new Decoder();

/** Encode (copying the scratch), decode and revive, as a ring's reader does. */
function roundTrip(value: unknown): { format: number; value: unknown; bytes: Uint8Array } {
  const bytes = enc.encode(value).slice();
  const decoded = dec.decode(bytes, 0, bytes.length);
  return { format: bytes[0]!, value: revive(decoded, dec.wire), bytes };
}

function label(value: unknown): string {
  try {
    return String(value).slice(0, 40);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Round trip that must take the given format; returns the value. */
function via(format: number, value: unknown): unknown {
  const r = roundTrip(value);
  expect(r.format, `format of ${label(value)}`).toBe(format);
  return r.value;
}

/** A small seeded PRNG (mulberry32): the same inputs on every run. */
function prng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPED_CTORS = [
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

function sampleTyped(ctor: (typeof TYPED_CTORS)[number]): ArrayBufferView & ArrayLike<unknown> {
  if (ctor === BigInt64Array) return new BigInt64Array([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)]);
  if (ctor === BigUint64Array) return new BigUint64Array([0n, 1n, 2n ** 64n - 1n]);
  if (ctor === Float32Array || ctor === Float64Array) return new ctor([0, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -3.25]);
  return new (ctor as Uint8ArrayConstructor)([0, 1, 127, 128, 255, 256, -1, -129, 65535, 2 ** 31]);
}

describe('codec: the format byte', () => {
  it('is FORMAT_FAST (1) for the fast path and FORMAT_V8 (2) for the structured-clone fallback', () => {
    expect(FORMAT_FAST).toBe(1);
    expect(FORMAT_V8).toBe(2);
    expect(enc.encode(1)[0]).toBe(FORMAT_FAST);
    expect(enc.encode({ a: [1, 'x'] })[0]).toBe(FORMAT_FAST);
    expect(enc.encode(new Map())[0]).toBe(FORMAT_V8);
    expect(enc.encode(1n)[0]).toBe(FORMAT_V8);
    // After the format byte, a v8 message is v8.serialize output.
    const bytes = enc.encode(new Map([['k', [1, 2]]])).slice();
    expect(v8.deserialize(Buffer.from(bytes.subarray(1)))).toEqual(new Map([['k', [1, 2]]]));
  });

  it('decode() refuses an unknown format byte and empty input with an Error', () => {
    for (const first of [0, 3, 4, 9, 255]) {
      const bytes = enc.encode(1).slice();
      bytes[0] = first;
      expect(() => dec.decode(bytes, 0, bytes.length)).toThrow(/format/);
    }
    expect(() => dec.decode(new Uint8Array(0), 0, 0)).toThrow(Error);
    // An empty range inside a bigger buffer whose next byte is a format byte.
    expect(() => dec.decode(Uint8Array.of(FORMAT_FAST, 0), 0, 0)).toThrow(Error);
    expect(() => dec.decode(Uint8Array.of(FORMAT_V8, 0xff, 0x0f, 0x5f), 0, 0)).toThrow(Error);
    expect(() => dec.decode(Uint8Array.of(FORMAT_FAST), 0, 1)).toThrow(/truncated/);
  });
});

describe('codec: fast path round trips', () => {
  it('numbers, including -0, NaN, infinities and the int32 edges', () => {
    const numbers = [
      0,
      -0,
      1,
      -1,
      2 ** 31 - 1,
      -(2 ** 31),
      2 ** 31,
      -(2 ** 31) - 1,
      2 ** 32,
      2 ** 53 + 2,
      1.5,
      -1e-300,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      Number.EPSILON,
    ];
    for (const n of numbers) {
      const got = via(FORMAT_FAST, n);
      expect(Object.is(got, n), `${n}`).toBe(true);
    }
    expect(Object.is((via(FORMAT_FAST, [-0, 0]) as number[])[0], -0)).toBe(true);
  });

  it('booleans, null, undefined', () => {
    for (const v of [true, false, null, undefined]) expect(via(FORMAT_FAST, v)).toBe(v);
    expect(via(FORMAT_FAST, [undefined, null])).toEqual([undefined, null]);
    const withUndefined = via(FORMAT_FAST, { u: undefined }) as object;
    expect(Object.keys(withUndefined)).toEqual(['u']);
  });

  it('strings: short and long, Latin-1, UTF-8, astral, NUL, and lone surrogates', () => {
    const strings = [
      '',
      'a',
      '\0',
      'x'.repeat(32),
      'x'.repeat(33),
      'é'.repeat(32),
      'é'.repeat(33),
      '\xff'.repeat(255),
      '\xff'.repeat(256),
      'ü'.repeat(100_000),
      'héllo wörld ✓',
      '漢字かな',
      '😀 𝄞 astral',
      '\uffff\ufffe',
      '\ud800',
      '\udc00',
      '\udc00\ud800',
      'a\ud800b',
      `${'x'.repeat(40)}\ud800`,
      `\udfff${'é'.repeat(40)}`,
      '\ud83d\ude00',
      'end with high \ud83d',
    ];
    for (const s of strings) {
      const got = via(FORMAT_FAST, s) as string;
      expect(got.length, JSON.stringify(s.slice(0, 20))).toBe(s.length);
      expect(got === s, JSON.stringify(s.slice(0, 20))).toBe(true);
    }
    // As object keys too.
    const keys: Record<string, number> = {};
    strings.forEach((s, i) => {
      keys[s] = i;
    });
    expect(via(FORMAT_FAST, keys)).toEqual(keys);
  });

  it('arrays and plain objects, nested, with odd keys', () => {
    const values: unknown[] = [
      [],
      {},
      [1, 'two', [3, [4, [5]]], { six: 6 }],
      { a: 1, b: { c: { d: [null, true, 'x'] } }, e: [] },
      { 2: 'two', 1: 'one', b: 'b', a: 'a' },
      { 'with space': 1, '': 2, 'ü': 3, '\ud800': 4, ['k'.repeat(300)]: 5 },
      { constructor: 'c', toString: 'not a function', hasOwnProperty: 1 },
      Array.from({ length: 10_000 }, (_, i) => i * 1.5),
      Array.from({ length: 50 }, (_, i) => ({ i })),
    ];
    for (const v of values) {
      const got = via(FORMAT_FAST, v);
      expect(got).toStrictEqual(v);
      expect(got).toStrictEqual(structuredClone(v));
    }
    const ordered = via(FORMAT_FAST, { 2: 'two', 1: 'one', b: 'b', a: 'a' }) as object;
    expect(Object.keys(ordered)).toEqual(['1', '2', 'b', 'a']);
  });

  it('an own "__proto__" key stays an own property and does not change the prototype', () => {
    const v = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>;
    const got = via(FORMAT_FAST, v) as Record<string, unknown>;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(Object.keys(got)).toEqual(['__proto__', 'x']);
    expect(Object.getOwnPropertyDescriptor(got, '__proto__')?.value).toEqual({ polluted: true });
    expect((got as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('every TypedArray kind and Buffer: same class and bytes, in a fresh buffer of its own', () => {
    for (const ctor of TYPED_CTORS) {
      const t = sampleTyped(ctor);
      const got = via(FORMAT_FAST, t) as typeof t;
      expect(got.constructor, ctor.name).toBe(ctor);
      expect(got, ctor.name).toEqual(t);
      expect(got.buffer, ctor.name).not.toBe(t.buffer);
      expect(got.byteOffset % (ctor.BYTES_PER_ELEMENT ?? 1)).toBe(0);
      // Empty, and a view into the middle of a bigger buffer.
      expect(via(FORMAT_FAST, new ctor(0))).toEqual(new ctor(0));
      const big = new ctor(16);
      const inner = big.subarray(3, 9);
      const gotInner = via(FORMAT_FAST, inner) as typeof inner;
      expect(gotInner.constructor).toBe(ctor);
      expect(gotInner.length).toBe(6);
      expect(gotInner).toEqual(inner);
    }
    const buf = Buffer.from('a pooled buffer'); // byteOffset into the pool
    const got = via(FORMAT_FAST, buf) as Buffer;
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.equals(buf)).toBe(true);
    expect(Buffer.isBuffer(via(FORMAT_FAST, Buffer.alloc(0)))).toBe(true);
    const many = { b: buf, u: new Uint16Array([1, 2]), list: [new Float64Array([0.5]), new Int8Array([-1])] };
    expect(via(FORMAT_FAST, many)).toEqual(many);
    // A big one (the scratch grows), then the scratch shrinks back.
    const huge = Buffer.alloc(3 << 20, 0x5a);
    expect((via(FORMAT_FAST, huge) as Buffer).equals(huge)).toBe(true);
    enc.shrink();
    expect(via(FORMAT_FAST, 'after shrink')).toBe('after shrink');
  });

  it('arrays of numbers (written packed from 8 on): ints, then -0, NaN or a non-int32 make them float64s', () => {
    const ints = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? -i : i * 1000));
    const holey = new Array<number>(12);
    for (let i = 0; i < 12; i++) holey[i] = i;
    for (const odd of [-0, Number.NaN, 0.5, 2 ** 31, -(2 ** 31) - 1, Number.NEGATIVE_INFINITY]) {
      for (const at of [0, 10, 19]) {
        const v = ints.slice();
        v[at] = odd;
        const got = via(FORMAT_FAST, v) as number[];
        expect(Array.isArray(got)).toBe(true);
        for (const [k, x] of got.entries()) expect(Object.is(x, v[k]), `${odd} at ${at}: [${k}]`).toBe(true);
      }
    }
    expect(via(FORMAT_FAST, ints)).toStrictEqual(ints);
    expect(via(FORMAT_FAST, holey)).toStrictEqual(holey);
    expect(via(FORMAT_FAST, [...ints, 'x'])).toStrictEqual([...ints, 'x']);
  });

  it("an ArraySlice (a pool's chunk) arrives as its range; 8 or more numbers as an Int32Array or Float64Array", () => {
    const items = [...Array.from({ length: 30 }, (_, i) => i - 5), 1.5, -0, Number.NaN, 'x', { o: 1 }];
    const slice = (start: number, end: number) => {
      const [got] = via(FORMAT_FAST, [new ArraySlice(items, start, end)]) as [unknown];
      return got;
    };
    const ints = slice(0, 30);
    expect(ints).toBeInstanceOf(Int32Array);
    expect(Array.from(ints as Int32Array)).toEqual(items.slice(0, 30));
    const floats = slice(22, 33);
    expect(floats).toBeInstanceOf(Float64Array);
    for (const [k, x] of Array.from(floats as Float64Array).entries()) expect(Object.is(x, items[22 + k]), `[${k}]`).toBe(true);
    expect(slice(26, 34)).toStrictEqual(items.slice(26, 34)); // a string among them: an array
    expect(slice(3, 10)).toStrictEqual(items.slice(3, 10)); // 7 numbers: an array
    expect(slice(30, 35)).toStrictEqual(items.slice(30, 35));
    expect(slice(4, 4)).toStrictEqual([]);
    // Its own memory, aligned, not a view of the message bytes.
    const bytes = enc.encode([1, new ArraySlice(items, 0, 10)]).slice();
    const [, got] = dec.decode(bytes, 0, bytes.length) as [number, Int32Array];
    expect(got.buffer).not.toBe(bytes.buffer);
    expect(got.byteOffset).toBe(0);
    // The structured-clone fallback (a Map beside it) makes it an array.
    const [, viaV8] = via(FORMAT_V8, [new Map(), new ArraySlice(items, 0, 10)]) as [unknown, unknown];
    expect(viaV8).toStrictEqual(items.slice(0, 10));
  });

  it('nesting up to the fast limit stays fast; depth 100 goes through the fallback intact', () => {
    const nest = (depth: number): unknown => {
      let v: unknown = 'leaf';
      for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { d: v };
      return v;
    };
    expect(via(FORMAT_FAST, nest(30))).toEqual(nest(30));
    const deep = via(FORMAT_V8, nest(100));
    expect(deep).toEqual(nest(100));
    expect(via(FORMAT_V8, nest(1000))).toEqual(nest(1000));
  });
});

describe('codec: structured-clone fallback round trips', () => {
  it('Map, Set, Date, BigInt, RegExp, boxed primitives, null-prototype objects, DataView', () => {
    const values: unknown[] = [
      new Map<unknown, unknown>([
        [1, 'one'],
        ['k', { v: [1] }],
        [{ o: 1 }, new Set([1])],
      ]),
      new Set([1, 'two', { three: 3 }]),
      new Date(1_700_000_000_123),
      new Date(Number.NaN),
      123n,
      -(2n ** 100n),
      { big: 1n, list: [2n] },
      /a+b/gi,
      [new Date(0), 'fast part', 1],
    ];
    for (const v of values) expect(via(FORMAT_V8, v)).toEqual(v);
    const boxed = via(FORMAT_V8, new Number(5)) as object;
    expect(boxed).toBeInstanceOf(Number);
    expect(Number(boxed)).toBe(5);
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    const gotBare = via(FORMAT_V8, bare) as object;
    expect(Object.getPrototypeOf(gotBare)).toBe(Object.prototype);
    expect(gotBare).toEqual({ a: 1 });
    const dv = new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2);
    const gotDv = via(FORMAT_V8, dv) as DataView;
    expect(gotDv).toBeInstanceOf(DataView);
    expect(gotDv.byteLength).toBe(2);
    expect([gotDv.getUint8(0), gotDv.getUint8(1)]).toEqual([2, 3]);
  });

  it('-0 and lone surrogates survive the fallback too', () => {
    const got = via(FORMAT_V8, { m: new Map([['\ud800', '\udc00x']]), z: -0, s: 'a\udfffb' }) as {
      m: Map<string, string>;
      z: number;
      s: string;
    };
    expect(Object.is(got.z, -0)).toBe(true);
    expect(got.m.get('\ud800')).toBe('\udc00x');
    expect(got.s).toBe('a\udfffb');
  });

  it('cycles and shared references keep their identity', () => {
    const cyclic: Record<string, unknown> = { name: 'root' };
    cyclic.self = cyclic;
    cyclic.list = [cyclic, { back: cyclic }];
    const got = via(FORMAT_V8, cyclic) as typeof cyclic & { list: [unknown, { back: unknown }] };
    expect(got.self).toBe(got);
    expect(got.list[0]).toBe(got);
    expect(got.list[1].back).toBe(got);
    const arr: unknown[] = [1];
    arr.push(arr);
    const gotArr = via(FORMAT_V8, arr) as unknown[];
    expect(gotArr[1]).toBe(gotArr);

    const shared = { s: 1 };
    const pair = via(FORMAT_V8, { a: shared, b: shared, c: [shared] }) as Record<string, unknown>;
    expect(pair.a).toBe(pair.b);
    expect((pair.c as unknown[])[0]).toBe(pair.a);
    const sharedArr = [1, 2];
    const two = via(FORMAT_V8, [sharedArr, sharedArr]) as unknown[][];
    expect(two[0]).toBe(two[1]);
  });

  it('a typed array referenced twice stays one object (as structured clone keeps it)', () => {
    const t = new Uint8Array([1, 2, 3]);
    const clone = structuredClone({ a: t, b: t });
    expect(clone.a).toBe(clone.b);
    const got = roundTrip({ a: t, b: t }).value as { a: Uint8Array; b: Uint8Array };
    expect(got.a).toEqual(t);
    expect(got.a).toBe(got.b);
  });

  it('non-index properties of an array are the one documented loss of the fast path; a Map keeps them', () => {
    const arr = Object.assign([1, 2], { extra: 'kept' });
    const got = roundTrip(arr).value as typeof arr;
    expect([...got]).toEqual([1, 2]);
    expect(got.extra).toBeUndefined();
    const viaMap = roundTrip(new Map([['arr', arr]])).value as Map<string, typeof arr>;
    expect(viaMap.get('arr')!.extra).toBe('kept');
  });

  it('class instances arrive as plain objects with their own enumerable data', () => {
    class Point {
      x = 1;
      y = 2;
      #hidden = 3;
      get sum(): number {
        return this.x + this.y + this.#hidden;
      }
      norm(): number {
        return Math.hypot(this.x, this.y);
      }
    }
    const got = via(FORMAT_V8, new Point()) as Record<string, unknown>;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(got).toEqual({ x: 1, y: 2 });
    expect(got.norm).toBeUndefined();
    expect(got.sum).toBeUndefined();
    const inList = via(FORMAT_V8, [new Point(), { p: new Point() }]) as Record<string, unknown>[];
    expect(inList).toEqual([{ x: 1, y: 2 }, { p: { x: 1, y: 2 } }]);
  });

  it('holes in arrays stay holes', () => {
    // biome-ignore lint/suspicious/noSparseArray: the point of the test
    const sparse = [1, , 3];
    const got = via(FORMAT_V8, sparse) as unknown[];
    expect(got.length).toBe(3);
    expect(1 in got).toBe(false);
    expect(got[2]).toBe(3);
    const empty = via(FORMAT_V8, new Array(5)) as unknown[];
    expect(empty.length).toBe(5);
    expect(0 in empty).toBe(false);
    const trailing = [1, 2];
    trailing.length = 4;
    const gotTrailing = via(FORMAT_V8, trailing) as unknown[];
    expect(gotTrailing.length).toBe(4);
    expect(3 in gotTrailing).toBe(false);
  });

  it('every TypedArray kind and Buffer inside a fallback message keeps its class and bytes', () => {
    const list = TYPED_CTORS.map((ctor) => sampleTyped(ctor));
    const got = via(FORMAT_V8, new Map<string, unknown>([['list', list], ['buf', Buffer.from('buffer')]])) as Map<string, unknown>;
    const gotList = got.get('list') as (typeof list)[number][];
    TYPED_CTORS.forEach((ctor, i) => {
      expect(gotList[i]!.constructor, ctor.name).toBe(ctor);
      expect(gotList[i], ctor.name).toEqual(list[i]);
    });
    expect(Buffer.isBuffer(got.get('buf'))).toBe(true);
    expect((got.get('buf') as Buffer).toString()).toBe('buffer');
  });

  it('more containers than the fast path tracks go through the fallback intact', () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ i, tags: [String(i)] }));
    expect(via(FORMAT_V8, many)).toEqual(many);
  });

  it('values that cannot be cloned throw (a function, a symbol)', () => {
    expect(() => enc.encode(() => 1)).toThrow();
    expect(() => enc.encode({ s: Symbol('x') })).toThrow();
    // The encoder still works afterwards.
    expect(via(FORMAT_FAST, [1, 2])).toEqual([1, 2]);
  });
});

describe('codec: decode() and its input bytes', () => {
  const corpus: unknown[] = [
    0,
    -1,
    2 ** 40,
    'short',
    'x'.repeat(50),
    'é✓😀',
    '\ud800 lone',
    [1, [2, [3]], { a: 'b' }],
    { k: true, n: null, u: undefined, f: 1.25, s: ['a', 'b'] },
    new Uint16Array([1, 2, 3]),
    new BigInt64Array([-5n]),
    Buffer.from('bytes'),
    { typed: [new Float64Array([1.5]), new Int8Array([-3])] },
    new Map<unknown, unknown>([[1, new Uint8Array([1, 2, 3])]]),
    { date: new Date(0), big: 10n },
    new Set(['a']),
    [new DataView(new ArrayBuffer(3)), /x/],
    (() => {
      const c: Record<string, unknown> = {};
      c.c = c;
      return c;
    })(),
  ];
  const encoded = corpus.map((v) => enc.encode(v).slice());

  it('reads only [start, end) of a bigger buffer, at any offset', () => {
    encoded.forEach((bytes, i) => {
      for (const offset of [0, 1, 3, 8, 13]) {
        const big = new Uint8Array(offset + bytes.length + 11).fill(0xff);
        big.set(bytes, offset);
        const got = revive(dec.decode(big, offset, offset + bytes.length), dec.wire);
        expect(got, `corpus[${i}] at ${offset}`).toEqual(roundTrip(corpus[i]).value);
        // The same through a view with a byteOffset of its own.
        const view = big.subarray(offset > 0 ? 1 : 0);
        const shift = offset > 0 ? 1 : 0;
        const got2 = revive(dec.decode(view, offset - shift, offset - shift + bytes.length), dec.wire);
        expect(got2, `corpus[${i}] view at ${offset}`).toEqual(roundTrip(corpus[i]).value);
      }
    });
  });

  it('every proper prefix of a fast message throws, even when the bytes after it would complete it', () => {
    encoded.forEach((bytes, i) => {
      if (bytes[0] !== FORMAT_FAST) return;
      for (let end = 0; end < bytes.length; end++) {
        expect(() => dec.decode(bytes, 0, end), `corpus[${i}] cut at ${end}`).toThrow(Error);
      }
      // Trailing bytes inside the range are refused too.
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(() => dec.decode(longer, 0, longer.length)).toThrow(/trailing/);
    });
  });

  it('decoded values never share memory with the input bytes', () => {
    for (const value of [
      { t: new Uint8Array([1, 2, 3, 4]), b: Buffer.from('abcd'), s: 'a string', f: new Float64Array([2.5]) },
      new Map<string, unknown>([
        ['t', new Uint8Array([1, 2, 3, 4])],
        ['b', Buffer.from('abcd')],
        ['f', new Float64Array([2.5])],
        ['d', new DataView(new Uint8Array([7, 7]).buffer)],
      ]),
    ]) {
      const bytes = enc.encode(value).slice();
      const input = new Uint8Array(bytes.length + 64);
      input.set(bytes, 16);
      const got = revive(dec.decode(input, 16, 16 + bytes.length), dec.wire);
      const expected = roundTrip(value).value; // decoded from bytes nobody changes
      input.fill(0xaa); // the ring slot is reused by later messages
      const label = bytes[0] === FORMAT_FAST ? 'fast' : 'v8';
      expect(got, label).toEqual(expected);
      const views = got instanceof Map ? [...got.values()] : Object.values(got as object);
      for (const v of views) {
        if (ArrayBuffer.isView(v)) expect(v.buffer, `${label}: ${v.constructor.name}`).not.toBe(input.buffer);
      }
    }
  });

  it('deeply nested fast-format input (which the Encoder never writes) throws an Error, not a crash', () => {
    const depth = 200_000;
    const bytes = new Uint8Array(2 + depth * 5);
    bytes[0] = FORMAT_FAST;
    for (let i = 0; i < depth; i++) {
      bytes[1 + i * 5] = 9; // T_ARRAY
      bytes[2 + i * 5] = 1; // of length 1
    }
    bytes[1 + depth * 5] = 1; // T_NULL
    expect(() => dec.decode(bytes, 0, bytes.length)).toThrow(Error);
    expect(via(FORMAT_FAST, [1])).toEqual([1]);
  });

  it('lengths far beyond the input are refused without allocating them', () => {
    const cases: number[][] = [
      [FORMAT_FAST, 9, 0xff, 0xff, 0xff, 0xff], // array of 4 G elements
      [FORMAT_FAST, 10, 0xff, 0xff, 0xff, 0x7f], // object of 2 G keys
      [FORMAT_FAST, 7, 0xff, 0xff, 0xff, 0xff, 0x41], // UTF-8 of 4 GB
      [FORMAT_FAST, 8, 0xff, 0xff, 0xff, 0xff, 0x41, 0], // UTF-16 of 4 G chars
      [FORMAT_FAST, 11, 0, 0xff, 0xff, 0xff, 0xff], // typed array of 4 GB
      [FORMAT_FAST, 11, 200, 1, 0, 0, 0, 0], // typed array of an unknown kind
      [FORMAT_FAST, 11, 10, 3, 0, 0, 0, 1, 2, 3], // BigInt64Array of 3 bytes
      [FORMAT_FAST, 6, 200, 0x41], // Latin-1 of 200 chars, 1 given
      [FORMAT_FAST, 10, 1, 0, 0, 0, 4, 0, 0, 0, 0, 1], // an object key that is not a string
    ];
    for (const c of cases) {
      const bytes = Uint8Array.from(c);
      expect(() => dec.decode(bytes, 0, bytes.length), JSON.stringify(c)).toThrow(/corrupt/);
    }
  });

  it('random, truncated and mutated bytes: decode returns or throws an Error, never crashes or hangs', () => {
    const rnd = prng(0x5eed);
    const int = (n: number) => Math.floor(rnd() * n);
    const decoder = new Decoder();
    const failures = new Map<string, number>();
    let returned = 0;
    const t0 = performance.now();
    const N = 30_000;
    for (let i = 0; i < N; i++) {
      let bytes: Uint8Array;
      const src = encoded[int(encoded.length)]!;
      switch (i % 5) {
        case 0: {
          // Random bytes after a plausible format byte.
          bytes = new Uint8Array(int(48));
          for (let k = 0; k < bytes.length; k++) bytes[k] = int(256);
          if (bytes.length > 0) bytes[0] = [FORMAT_FAST, FORMAT_FAST, FORMAT_V8, int(256)][int(4)]!;
          break;
        }
        case 1:
          bytes = src.slice(0, int(src.length + 1)); // truncated (or whole)
          break;
        case 2: {
          // A few bytes changed.
          bytes = src.slice();
          for (let k = 1 + int(4); k > 0; k--) bytes[1 + int(bytes.length - 1)] = int(256);
          break;
        }
        case 3: {
          // A length-like word overwritten with a big value, then maybe truncated.
          bytes = src.slice();
          const at = 1 + int(Math.max(1, bytes.length - 4));
          const word = [0xffffffff, 0x7fffffff, 0x10000, bytes.length, 0][int(5)]!;
          for (let k = 0; k < 4 && at + k < bytes.length; k++) bytes[at + k] = (word >>> (8 * k)) & 0xff;
          if (rnd() < 0.5) bytes = bytes.subarray(0, int(bytes.length + 1));
          break;
        }
        default: {
          // Bytes inserted or removed in the middle.
          const at = int(src.length);
          bytes = rnd() < 0.5
            ? Uint8Array.from([...src.subarray(0, at), int(256), ...src.subarray(at)])
            : Uint8Array.from([...src.subarray(0, at), ...src.subarray(at + 1)]);
        }
      }
      // Decode from inside a bigger buffer, so that reading past `end` would find bytes.
      const host = new Uint8Array(bytes.length + 8).fill(FORMAT_FAST);
      host.set(bytes, 4);
      try {
        decoder.decode(host, 4, 4 + bytes.length);
        returned++;
      } catch (err) {
        if (!(err instanceof Error)) throw new Error(`decode threw a non-Error: ${String(err)}`);
        const key = err.constructor.name;
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
      if (i % 5000 === 0) {
        // The decoder is still sound.
        const good = encoded[i % encoded.length]!;
        expect(revive(decoder.decode(good, 0, good.length), decoder.wire)).toEqual(roundTrip(corpus[i % encoded.length]).value);
      }
    }
    const elapsed = performance.now() - t0;
    expect(returned).toBeGreaterThan(0);
    expect([...failures.values()].reduce((a, b) => a + b, 0) + returned).toBe(N);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('corrupt input is reported as a ValueError ("corrupt message"), not as a TypeError or RangeError', () => {
    // A v8 host object (Node's typed-array record) with a view type index out of range.
    const good = enc.encode(new Map([['t', new Uint8Array([1, 2, 3])]])).slice();
    const badHost = Buffer.from(good);
    // Node writes a typed array as 0x5c ('\\'), then varint type index, varint byte length.
    const at = badHost.indexOf(0x5c, 1);
    expect(at).toBeGreaterThan(0);
    badHost[at + 1] = 0x7f; // type index 127: no such view type
    const errors: Error[] = [];
    for (const bytes of [badHost]) {
      try {
        dec.decode(bytes, 0, bytes.length);
      } catch (e) {
        errors.push(e as Error);
      }
    }
    // Nesting deeper than the stack: the decoder should refuse it itself.
    const depth = 200_000;
    const deep = new Uint8Array(2 + depth * 5);
    deep[0] = FORMAT_FAST;
    for (let i = 0; i < depth; i++) {
      deep[1 + i * 5] = 9;
      deep[2 + i * 5] = 1;
    }
    deep[1 + depth * 5] = 1;
    try {
      dec.decode(deep, 0, deep.length);
    } catch (e) {
      errors.push(e as Error);
    }
    expect(errors.length).toBe(2);
    expect(errors.map((e) => `${e.constructor.name}: ${e.message}`)).toEqual([
      expect.stringMatching(/^ValueError: corrupt message/),
      expect.stringMatching(/^ValueError: corrupt message/),
    ]);
  });
});
