import { afterEach, describe, expect, it } from 'vitest';
import * as mp from 'multiprocessing';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { inspect } from 'node:util';

const { handleOf, revive } = createRequire(import.meta.url)('../dist/reduction.js') as typeof import('../dist/reduction.js');

const fixtures = path.join(__dirname, 'fixtures');
const hasPython = spawnSync('python3', ['-c', 'import multiprocessing.shared_memory'], { stdio: 'ignore' }).status === 0;

const made: mp.ShareableList[] = [];
function track(sl: mp.ShareableList): mp.ShareableList {
  made.push(sl);
  return sl;
}
afterEach(() => {
  for (const sl of made.splice(0)) {
    sl.close();
    try {
      sl.shm.unlink();
    } catch {}
  }
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

// Tagged JSON for values crossing to Python (see fixtures/shm-peer.py).
type Tagged = null | boolean | string | { i: string } | { f: string } | { b: string };
function tag(v: unknown, asFloat = false): Tagged {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return { i: String(v) };
  if (typeof v === 'number') return Number.isInteger(v) && !asFloat ? { i: String(v) } : { f: String(v) };
  if (v instanceof Uint8Array) return { b: Buffer.from(v).toString('hex') };
  throw new Error(`cannot tag ${String(v)}`);
}
function untag(t: Tagged): unknown {
  if (t !== null && typeof t === 'object') {
    if ('i' in t) {
      const n = BigInt(t.i);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    if ('f' in t) return Number(t.f === 'inf' ? Infinity : t.f === '-inf' ? -Infinity : t.f);
    return Buffer.from(t.b, 'hex');
  }
  return t;
}

// Produced by CPython 3.11:
//   ShareableList([1, 2.5, True, None, 'héllo', b'ab\x00', 'x'*8, -5, 2**63-1])
const GOLDEN_ITEMS = [1, 2.5, true, null, 'héllo', Buffer.from('ab\0', 'latin1'), 'x'.repeat(8), -5, 2n ** 63n - 1n];
const GOLDEN_FORMAT = 'qdxxxxxxx?xxxxxx?x8s8s16sqq';
const GOLDEN_HEX =
  '09000000000000000000000000000000080000000000000010000000000000001800000000000000200000000000000028000000000000003000000000000000400000000000000048000000000000005000000000000000010000000000000000000000000004400000000000000001000000000000000068c3a96c6c6f0000616200000000000078787878787878780000000000000000fbffffffffffffffffffffffffffff7f71000000000000006400000000000000787878787878783f7878787878783f7838730000000000003873000000000000313673000000000071000000000000007100000000000000000000030102010000';

describe('ShareableList', () => {
  it("writes CPython's layout byte for byte", () => {
    const sl = track(new mp.ShareableList(GOLDEN_ITEMS));
    expect(sl.format).toBe(GOLDEN_FORMAT);
    expect(sl.shm.size).toBe(249);
    expect(Buffer.from(sl.shm.buf).toString('hex')).toBe(GOLDEN_HEX);
  });

  it('reads every item type back', () => {
    const sl = track(new mp.ShareableList(GOLDEN_ITEMS));
    expect(sl.length).toBe(9);
    expect([...sl]).toEqual([1, 2.5, true, null, 'héllo', Buffer.from('ab'), 'xxxxxxxx', -5, 2n ** 63n - 1n]);
    expect(sl.get(5)).toBeInstanceOf(Buffer);
    expect(String(sl)).toBe(
      `ShareableList([1, 2.5, True, None, 'héllo', b'ab', 'xxxxxxxx', -5, 9223372036854775807], name='${sl.shm.name}')`,
    );
    expect(inspect(sl)).toBe(String(sl));
  });

  it('index access through the proxy, negative indices included', () => {
    const sl = track(new mp.ShareableList([10, 20, 30]));
    expect(sl[0]).toBe(10);
    expect(sl[-1]).toBe(30);
    expect(sl[-3]).toBe(10);
    sl[1] = 'ab';
    sl[-1] = 2.25;
    expect([...sl]).toEqual([10, 'ab', 2.25]);
    expect(sl.get(-2)).toBe('ab');
    sl.set(-3, false);
    expect(sl[0]).toBe(false);
    expect(0 in sl).toBe(true);
    expect(2 in sl).toBe(true);
    expect(3 in sl).toBe(false);
    expect('length' in sl).toBe(true);
    expect(sl).toBeInstanceOf(mp.ShareableList);
    // other keys pass through
    expect((sl as unknown as Record<string, unknown>).foo).toBeUndefined();
    (sl as unknown as Record<string, unknown>).foo = 1;
    expect((sl as unknown as Record<string, unknown>).foo).toBe(1);
    expect((sl as unknown as Record<string, unknown>)['1.5']).toBeUndefined();
    expect(Array.from(sl)).toEqual([false, 'ab', 2.25]);
  });

  it('out of range is a RangeError, a non-integer index a TypeError', () => {
    const sl = track(new mp.ShareableList([1, 2]));
    for (const i of [2, -3, 100]) {
      expect(() => sl.get(i)).toThrow(RangeError);
      expect(() => sl[i]).toThrow(/index out of range/);
      expect(() => sl.set(i, 1)).toThrow(/assignment index out of range/);
      expect(() => {
        sl[i] = 1;
      }).toThrow(RangeError);
    }
    for (const i of [1.5, '0', null, undefined, 1n, Number.NaN]) {
      const err = catchError(() => sl.get(i as never));
      expect(err).toBeInstanceOf(TypeError);
      expect(err.message).toMatch(/^index must be an integer/);
      expect(() => sl.set(i as never, 1)).toThrow(TypeError);
    }
  });

  it('str/bytes may not outgrow their storage', () => {
    const sl = track(new mp.ShareableList(['abc', 7, Buffer.from('0123456789')]));
    sl[0] = '1234567'; // 'abc' got 8 bytes
    expect(sl[0]).toBe('1234567');
    sl[0] = '12345678';
    expect(sl[0]).toBe('12345678');
    const err = catchError(() => {
      sl[0] = '123456789';
    });
    expect(err).toBeInstanceOf(mp.ValueError);
    expect(err.message).toMatch(/^bytes\/str item exceeds available storage/);
    expect(sl[0]).toBe('12345678'); // unchanged
    sl[0] = 'z'; // shorter: the rest is zeroed
    expect(sl[0]).toBe('z');
    expect(sl.format).toBe('8sq16s');
    sl[1] = 'eight!!!'; // an 8-byte slot takes 8 bytes of str
    expect(sl.format).toBe('8s8s16s');
    expect(() => sl.set(1, 'nine!!!!!')).toThrow(mp.ValueError);
    sl[2] = 42; // a str slot can hold a number and then a str again
    expect(sl.format).toBe('8s8sq');
    sl[2] = Buffer.from('sixteen bytes!!!');
    expect(sl.format).toBe('8s8s16s');
    expect(sl[2]).toEqual(Buffer.from('sixteen bytes!!!'));
    expect(() => sl.set(2, 'é'.repeat(9))).toThrow(/exceeds available storage/); // 18 bytes
  });

  it('strings are sized by their UTF-8 bytes', () => {
    const s = 'ééééé€😀'; // 7 characters, 17 bytes
    const sl = track(new mp.ShareableList([s, '']));
    expect(sl[0]).toBe(s);
    expect(sl[1]).toBe('');
    expect(sl.format).toBe('24s8s');
  });

  it('keeps Python quirks: trailing NULs are stripped', () => {
    const sl = track(new mp.ShareableList(['a\0', Buffer.from([1, 0, 0])]));
    expect(sl[0]).toBe('a');
    expect(sl[1]).toEqual(Buffer.from([1]));
  });

  it('numbers: ints are int64, other numbers doubles, bigints beyond 2^53', () => {
    const sl = track(
      new mp.ShareableList([0, -1, 2 ** 53, -(2 ** 63), 1e20, -0, Number.NaN, Infinity, 0.1, 5n, -(2n ** 63n)]),
    );
    expect(sl.format).toBe('qqqqdddddqq');
    const v = [...sl];
    expect(v.slice(0, 2)).toEqual([0, -1]);
    expect(v[2]).toBe(2n ** 53n);
    expect(v[3]).toBe(-(2n ** 63n));
    expect(v[4]).toBe(1e20);
    expect(Object.is(v[5], -0)).toBe(true);
    expect(v[6]).toBeNaN();
    expect(v[7]).toBe(Infinity);
    expect(v[8]).toBe(0.1);
    expect(v[9]).toBe(5);
    expect(v[10]).toBe(-(2n ** 63n));
    expect(String(sl)).toContain(
      '[0, -1, 9007199254740992, -9223372036854775808, 1e+20, -0.0, nan, inf, 0.1, 5, -9223372036854775808]',
    );
    expect(() => new mp.ShareableList([2n ** 63n])).toThrow(RangeError);
    expect(() => sl.set(0, -(2n ** 63n) - 1n)).toThrow(/does not fit in a 64-bit signed integer/);
  });

  it('floats print as Python prints them', () => {
    const sl = track(new mp.ShareableList([2.5, 1e22, 1.5e-5, 123456.789, 1e-4, 1e300, -2.5e-7, 1e16]));
    sl[0] = 2.0000001;
    // 1e16 is an integer number: it is stored (and printed) as a Python int
    expect(String(sl)).toContain('[2.0000001, 1e+22, 1.5e-05, 123456.789, 0.0001, 1e+300, -2.5e-07, 10000000000000000]');
    expect(sl.format.endsWith('q')).toBe(true);
    const back = track(new mp.ShareableList([0.5]));
    back[0] = 3; // becomes an int
    expect(back.format).toBe('q');
  });

  it('count and index use Python equality', () => {
    const sl = track(new mp.ShareableList([1, true, 1.0, 'a', Buffer.from('a'), null, 2n]));
    expect(sl.count(1)).toBe(3); // 1, True and 1.0 (stored as 1)
    expect(sl.count(true)).toBe(3);
    expect(sl.count(1n)).toBe(3);
    expect(sl.count('a')).toBe(1);
    expect(sl.count(Buffer.from('a'))).toBe(1);
    expect(sl.count(new Uint8Array([97]))).toBe(1);
    expect(sl.count(null)).toBe(1);
    expect(sl.count(false)).toBe(0);
    expect(sl.index(2)).toBe(6);
    expect(sl.index(null)).toBe(5);
    expect(sl.index(Buffer.from('a'))).toBe(4);
    const err = catchError(() => sl.index('zz'));
    expect(err).toBeInstanceOf(mp.ValueError);
    expect(err.message).toBe("'zz' not in this container");
  });

  it('an empty list', () => {
    const sl = track(new mp.ShareableList());
    expect(sl.length).toBe(0);
    expect([...sl]).toEqual([]);
    expect(sl.format).toBe('');
    expect(sl.shm.size).toBe(16);
    expect(String(sl)).toBe(`ShareableList([], name='${sl.shm.name}')`);
    const att = track(new mp.ShareableList(null, { name: sl.shm.name }));
    expect(att.length).toBe(0);
  });

  it('accepts any iterable and creates under a given name', () => {
    const name = `mpt_sl_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    function* gen() {
      yield 1;
      yield 'two';
    }
    const sl = track(new mp.ShareableList(gen(), { name }));
    expect(sl.shm.name).toBe(name);
    expect([...sl]).toEqual([1, 'two']);
    expect(() => new mp.ShareableList([1], { name })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  it('attaches by name: one list, two views', () => {
    const sl = track(new mp.ShareableList([1, 'abc', null]));
    const att = track(new mp.ShareableList(null, { name: sl.shm.name }));
    expect([...att]).toEqual([1, 'abc', null]);
    att[2] = 3.5;
    expect(sl[2]).toBe(3.5);
    sl[1] = 'xyz';
    expect(att[1]).toBe('xyz');
    expect(() => new mp.ShareableList(undefined, { name: `mpt_missing_${process.pid}` })).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
  });

  it('refuses a segment that is not a list', () => {
    const small = new mp.SharedMemory({ create: true, size: 8 });
    const garbage = new mp.SharedMemory({ create: true, size: 64 });
    try {
      garbage.buf.fill(0xff);
      new DataView(garbage.buf.buffer).setBigInt64(0, 1000n, true);
      expect(() => new mp.ShareableList(null, { name: small.name })).toThrow(mp.ValueError);
      expect(() => new mp.ShareableList(null, { name: garbage.name })).toThrow(/does not hold a ShareableList/);
      new DataView(garbage.buf.buffer).setBigInt64(0, 2n, true); // count fits, offsets do not
      expect(() => new mp.ShareableList(null, { name: garbage.name })).toThrow(mp.ValueError);
    } finally {
      for (const s of [small, garbage]) {
        s.close();
        s.unlink();
      }
    }
  });

  it('close makes every operation a ValueError; close is idempotent', () => {
    const sl = track(new mp.ShareableList([1, 2]));
    sl.close();
    sl.close();
    sl[Symbol.dispose]();
    expect(() => sl[0]).toThrow(mp.ValueError);
    expect(() => sl.set(0, 1)).toThrow(/closed/);
    expect(() => sl.format).toThrow(mp.ValueError);
    expect(() => [...sl]).toThrow(mp.ValueError);
    expect(sl.length).toBe(2);
    expect(String(sl)).toMatch(/^ShareableList\(<closed>, name='/);
  });

  it('travels as a handle', () => {
    const sl = track(new mp.ShareableList(['handle', 9]));
    const handle = handleOf(sl as never);
    expect(handle).toEqual({ $mpHandle: 'ShareableList', name: sl.shm.name });
    const copy = track(revive(structuredClone(handle)) as mp.ShareableList);
    expect(copy).toBeInstanceOf(mp.ShareableList);
    expect(copy[0]).toBe('handle');
    copy[1] = 10;
    expect(sl[1]).toBe(10);
  });

  it('a separate node process attaches by name', () => {
    const sl = track(new mp.ShareableList([1, 'node', Buffer.from([0xab])]));
    const stdout = execFileSync(process.execPath, [path.join(fixtures, 'shm-peer.cjs'), 'list-attach', sl.shm.name, '0', '"peer"'], {
      encoding: 'utf8',
    });
    const r = JSON.parse(stdout);
    expect(r.before).toEqual([1, 'node', { b: 'ab' }]);
    expect(sl[0]).toBe('peer');
  });

  describe('bad input', () => {
    it('items of unsupported types name their position', () => {
      for (const bad of [undefined, {}, [1], Symbol('s'), () => 1, new Date(), new Int32Array(2)]) {
        const err = catchError(() => new mp.ShareableList([1, bad as never]));
        expect(err).toBeInstanceOf(TypeError);
        expect(err.message).toMatch(/^sequence\[1\] must be a number, bigint, boolean, string, Buffer\/Uint8Array or null/);
      }
      const sl = track(new mp.ShareableList([1]));
      expect(() => sl.set(0, {} as never)).toThrow(/^value must be/);
      expect(() => {
        (sl as unknown as Record<number, unknown>)[0] = undefined;
      }).toThrow(TypeError);
      expect(sl[0]).toBe(1);
    });

    it('sequence and options', () => {
      expect(() => new mp.ShareableList('abc' as never)).toThrow(/to attach by name use new ShareableList\(null, \{ name \}\)/);
      expect(() => new mp.ShareableList(5 as never)).toThrow(TypeError);
      expect(() => new mp.ShareableList({} as never)).toThrow(/sequence must be an iterable/);
      expect(() => new mp.ShareableList([1], 5 as never)).toThrow(/options must be an options object/);
      expect(() => new mp.ShareableList([1], { name: 5 } as never)).toThrow(/name must be a string/);
      expect(() => new mp.ShareableList([1], { nme: 'x' } as never)).toThrow(/unknown option 'nme'/);
      expect(() => new mp.ShareableList(null, { name: '' })).toThrow(mp.ValueError);
    });

    it('an item too large for a format slot', () => {
      expect(() => new mp.ShareableList([Buffer.alloc(10_000_000)])).toThrow(/too large for a ShareableList item/);
      const ok = track(new mp.ShareableList([Buffer.alloc(9_999_990)]));
      expect(ok.format).toBe('9999992s');
    });
  });

  describe.skipIf(!hasPython)('interop with CPython', () => {
    const items = [42, -7, 3.25, true, false, null, 'héllo wörld', Buffer.from([0, 1, 2, 255]), 'x'.repeat(20), 2n ** 62n, 0.1];
    const tagged = () => JSON.stringify(items.map((v) => tag(v)));

    it('our bytes equal the bytes CPython writes for the same list', () => {
      const r = JSON.parse(execFileSync('python3', [path.join(fixtures, 'shm-peer.py'), 'list-layout', tagged()], { encoding: 'utf8' }));
      const sl = track(new mp.ShareableList(items));
      expect(sl.format).toBe(r.format);
      expect(sl.shm.size).toBe(r.size);
      expect(Buffer.from(sl.shm.buf).toString('hex')).toBe(r.hex);
      expect(String(sl).split(', name=')[0]).toBe(r.repr);
    });

    it('python attaches to our list, reads and writes', () => {
      const sl = track(new mp.ShareableList([...items, 'ééééé'])); // 10 UTF-8 bytes: we allocate 16
      const fmt = sl.format;
      const edits = { 0: { i: '-99' }, 2: 'py', 6: 'short', 7: { b: 'cafe' }, 10: null, 11: { f: '1e+300' } };
      const r = JSON.parse(
        execFileSync('python3', [path.join(fixtures, 'shm-peer.py'), 'list-attach', sl.shm.name, JSON.stringify(edits)], {
          encoding: 'utf8',
        }),
      );
      expect(r.error).toBeNull();
      expect(r.length).toBe(12);
      expect(r.format).toBe(fmt);
      expect(fmt).toBe('qqdxxxxxxx?xxxxxxx?xxxxxx?x16s8s24sqd16s');
      expect(r.before.map(untag)).toEqual([...items, 'ééééé']);
      expect([...sl]).toEqual(r.after.map(untag));
      expect(sl[0]).toBe(-99);
      expect(sl[2]).toBe('py');
      expect(sl[6]).toBe('short');
      expect(sl[7]).toEqual(Buffer.from([0xca, 0xfe]));
      expect(sl[10]).toBeNull();
      expect(sl[11]).toBe(1e300);
      expect(r.repr).toBe(String(sl));
    });

    it('python refuses to outgrow our str storage, as we do', () => {
      const sl = track(new mp.ShareableList(['abc']));
      const r = JSON.parse(
        execFileSync('python3', [path.join(fixtures, 'shm-peer.py'), 'list-attach', sl.shm.name, JSON.stringify({ 0: 'x'.repeat(9) })], {
          encoding: 'utf8',
        }),
      );
      expect(r.error).toBe('ValueError: bytes/str item exceeds available storage');
      expect(() => sl.set(0, 'x'.repeat(9))).toThrow('bytes/str item exceeds available storage');
    });

    it('we attach to a list python created while python runs', async () => {
      const py = spawn('python3', [path.join(fixtures, 'shm-peer.py'), 'list-create', tagged()], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = readline.createInterface({ input: py.stdout })[Symbol.asyncIterator]();
      try {
        const first = JSON.parse((await lines.next()).value);
        const sl = new mp.ShareableList(null, { name: first.name });
        expect(sl.format).toBe(first.format);
        expect([...sl]).toEqual(items);
        sl[0] = 'node'; // an 8-byte int slot takes a short str
        sl[2] = 7n;
        sl[5] = Buffer.from('by');
        sl[6] = 'ok';
        sl[8] = null;
        expect(() => sl.set(6, 'x'.repeat(17))).toThrow(mp.ValueError); // 'héllo wörld' got 16
        sl.close();
        py.stdin.write('go\n');
        const second = JSON.parse((await lines.next()).value);
        const after = second.after.map(untag);
        expect(after[0]).toBe('node');
        expect(after[2]).toBe(7);
        expect(after[5]).toEqual(Buffer.from('by'));
        expect(after[6]).toBe('ok');
        expect(after[8]).toBeNull();
        expect(after[1]).toBe(-7);
        expect(second.format).toBe('8sqqxxxxxxx?xxxxxxx?8s16s8sxxxxxx?xqd');
        const code = await new Promise((resolve) => py.once('exit', resolve));
        expect(code).toBe(0);
      } finally {
        py.kill();
      }
    });
  });
});
