// toWire/fromWire/dumps/loads: structured clone with shared objects as handles, in this
// process (through v8.serialize) and through a real forked child ('advanced' IPC).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { deserialize, serialize } from 'node:v8';
import * as mp from 'multiprocessing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, fixture, startChild } from './helpers/child.js';

const require = createRequire(import.meta.url);
const { dumps, fromWire, handleOf, isHandle, loads, toWire } = require('../dist/reduction.js') as typeof import('../dist/reduction.js');
const { trackerForChild } = require('../dist/resource_tracker.js') as typeof import('../dist/resource_tracker.js');

// biome-ignore lint/suspicious/noExplicitAny: tests poke at every shape
type Any = any;

const segments: mp.SharedMemory[] = [];
afterAll(() => {
  for (const shm of segments.splice(0)) {
    shm.close();
    try {
      shm.unlink();
    } catch {}
  }
});
function shm(size: number): mp.SharedMemory {
  const s = new mp.SharedMemory({ create: true, size });
  segments.push(s);
  return s;
}
function list(items: (string | number)[]): mp.ShareableList {
  const l = new mp.ShareableList(items);
  segments.push(l.shm);
  return l;
}

/** Every structured-clone type, with a cycle and a shared reference. */
function plainSample(): Any {
  const shared = { n: 1 };
  const obj: Any = {
    num: 1.5,
    str: 'x',
    bool: true,
    nil: null,
    undef: undefined,
    big: 2n ** 70n,
    date: new Date(1234),
    re: /a+b/gi,
    arr: [1, 'two', [3]],
    map: new Map<unknown, unknown>([
      ['k', 1],
      [{ key: true }, shared],
    ]),
    set: new Set([1, 'a', shared]),
    u8: new Uint8Array([1, 2, 3]),
    f64: new Float64Array([0.5, -1]),
    i64: new BigInt64Array([-5n]),
    buf: Buffer.from('buffer'),
    ab: new Uint8Array([9, 8]).buffer,
    err: new RangeError('bad range'),
    boxed: Object(7),
    shared,
    again: shared,
  };
  obj.self = obj;
  obj.arr.push(obj);
  return obj;
}

function checkPlainSample(r: Any): void {
  expect(r.num).toBe(1.5);
  expect(r.str).toBe('x');
  expect(r.bool).toBe(true);
  expect(r.nil).toBe(null);
  expect('undef' in r && r.undef === undefined).toBe(true);
  expect(r.big).toBe(2n ** 70n);
  expect(r.date).toEqual(new Date(1234));
  expect(r.re.source).toBe('a+b');
  expect(r.re.flags).toBe('gi');
  expect(r.arr.slice(0, 3)).toEqual([1, 'two', [3]]);
  expect(r.arr[3]).toBe(r);
  expect(r.self).toBe(r);
  expect([...r.map.keys()][0]).toBe('k');
  expect([...r.map.keys()][1]).toEqual({ key: true });
  expect([...r.map.values()][1]).toBe(r.shared);
  expect([...r.set][2]).toBe(r.shared);
  expect(r.again).toBe(r.shared);
  expect(r.u8).toEqual(new Uint8Array([1, 2, 3]));
  expect(r.f64).toEqual(new Float64Array([0.5, -1]));
  expect(r.i64).toEqual(new BigInt64Array([-5n]));
  expect(Buffer.isBuffer(r.buf) && r.buf.toString()).toBe('buffer');
  expect(new Uint8Array(r.ab)).toEqual(new Uint8Array([9, 8]));
  expect(r.err).toBeInstanceOf(RangeError);
  expect(r.err.message).toBe('bad range');
  expect(r.boxed.valueOf()).toBe(7);
}

describe('toWire without shared objects', () => {
  it('returns every structured-clone type as it is, uncopied', () => {
    const sample = plainSample();
    expect(toWire(sample)).toBe(sample);
    for (const key of Object.keys(sample)) expect(toWire(sample[key])).toBe(sample[key]);
    for (const prim of [1, 'a', true, null, undefined, 5n, Symbol.for('s')]) expect(toWire(prim)).toBe(prim);
    const fn = () => 1;
    expect(toWire(fn)).toBe(fn);
  });

  it('round-trips every structured-clone type, cycles and shared references', () => {
    checkPlainSample(loads(dumps(plainSample())));
    checkPlainSample(fromWire(deserialize(serialize(toWire(plainSample())))));
  });

  it('leaves functions to structured clone, which refuses them', () => {
    expect(() => dumps({ f() {} })).toThrow(/could not be cloned/);
  });
});

describe('toWire with shared objects', () => {
  it('replaces each shareable by its handle, copying only the path to it', () => {
    const v = mp.Value('i', 1);
    const arr = mp.Array('d', [1, 2]);
    const untouched = { deep: { x: [1, 2] } };
    const holder = { list: [0, { v }], untouched, arr };
    const w = toWire(holder) as Any;
    expect(w).not.toBe(holder);
    expect(w.untouched).toBe(untouched); // no shareable inside: shared, not copied
    expect(w.list).not.toBe(holder.list);
    expect(w.list[0]).toBe(0);
    expect(isHandle(w.list[1].v)).toBe(true);
    expect(isHandle(w.arr)).toBe(true); // a shared typed array travels as a handle, never copied
    expect(ArrayBuffer.isView(w.arr)).toBe(false);
    // The original is unchanged.
    expect(holder.list[1]).toEqual({ v });
    expect(holder.arr).toBe(arr);
    const back = fromWire(w) as Any;
    expect(back.list[1].v.value).toBe(1);
    back.list[1].v.value = 5;
    back.arr[1] = 7;
    expect(v.value).toBe(5);
    expect(arr[1]).toBe(7);
  });

  it('makes one handle per shared object and revives it once (identity kept)', () => {
    const v = mp.Value('i', 3);
    const w = toWire({ a: v, b: [v], c: new Map([[v, v]]) }) as Any;
    expect(w.a).toBe(w.b[0]);
    expect([...w.c.keys()][0]).toBe(w.a);
    const r = loads(dumps({ a: v, b: [v], c: new Map([[v, v]]), d: new Set([v]) })) as Any;
    expect(r.b[0]).toBe(r.a);
    expect([...r.c.keys()][0]).toBe(r.a);
    expect([...r.c.values()][0]).toBe(r.a);
    expect([...r.d][0]).toBe(r.a);
    expect(r.a).not.toBe(v);
    r.a.value = 9;
    expect(v.value).toBe(9);
    fromWire(w);
  });

  it('keeps cycles through copied objects', () => {
    const v = mp.Value('i', 0);
    const a: Any = { v, name: 'a' };
    const b: Any = { a, plain: { n: 1 } };
    a.b = b;
    a.self = a;
    const w = toWire(a) as Any;
    expect(w).not.toBe(a);
    expect(w.self).toBe(w);
    expect(w.b.a).toBe(w);
    expect(w.b).not.toBe(b);
    expect(w.b.plain).toBe(b.plain);
    expect(a.v).toBe(v);
    const r = fromWire(deserialize(serialize(w))) as Any;
    expect(r.self).toBe(r);
    expect(r.b.a).toBe(r);
    r.v.value = 11;
    expect(v.value).toBe(11);
  });

  it('handles Map keys and Set members, keeping their order', () => {
    const l1 = new mp.Lock();
    const l2 = new mp.RLock();
    const m = new Map<unknown, unknown>([
      ['first', 1],
      [l1, 'lock'],
      ['last', l2],
    ]);
    const s = new Set<unknown>(['x', l2, 'y']);
    const r = loads(dumps({ m, s })) as Any;
    const keys = [...r.m.keys()];
    expect(keys[0]).toBe('first');
    expect(keys[2]).toBe('last');
    expect(keys[1]).toBeInstanceOf(mp.Lock);
    expect(r.m.get('last')).toBeInstanceOf(mp.RLock);
    const members = [...r.s];
    expect(members[0]).toBe('x');
    expect(members[1]).toBe(r.m.get('last'));
    expect(members[2]).toBe('y');
    // Same lock: held here, not free there.
    expect(l1.acquireSync({ block: false })).toBe(true);
    expect(keys[1].acquireSync({ block: false })).toBe(false);
    l1.release();
    expect(keys[1].acquireSync({ block: false })).toBe(true);
    keys[1].release();
  });

  it('keeps holes of sparse arrays and a __proto__ key', () => {
    const v = mp.RawValue('i', 1);
    const sparse: Any[] = [];
    sparse[3] = v;
    const obj = JSON.parse('{"__proto__": {"polluted": true}}');
    obj.v = v;
    const w = toWire({ sparse, obj }) as Any;
    expect(w.sparse.length).toBe(4);
    expect(1 in w.sparse).toBe(false);
    expect(Object.keys(w.obj)).toEqual(['__proto__', 'v']);
    expect(({} as Any).polluted).toBeUndefined();
    const r = fromWire(deserialize(serialize(w))) as Any;
    expect(0 in r.sparse).toBe(false);
    expect(r.sparse[3].value).toBe(1);
    expect(Object.getOwnPropertyDescriptor(r.obj, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('walks 100,000-deep structures without recursion', () => {
    const v = mp.RawValue('i', 42);
    let node: Any = { v };
    for (let i = 0; i < 100_000; i++) node = { next: node };
    const w = toWire(node) as Any;
    let p = w;
    while (p.next !== undefined) p = p.next;
    expect(isHandle(p.v)).toBe(true);
    fromWire(w);
    expect(p.v.value).toBe(42);
  });

  it('round-trips every shared type in this process as the same shared memory', () => {
    const s = shm(32);
    const l = list(['a', 0]);
    const objs = {
      value: mp.Value('q', 1n),
      raw: mp.RawValue('d', 0),
      array: mp.Array('h', [1, 2, 3]),
      rawArray: mp.RawArray('B', 4),
      shm: s,
      lock: new mp.Lock(),
      rlock: new mp.RLock(),
      list: l,
    };
    const r = loads(dumps(objs)) as Any;
    r.value.value = 5n;
    r.raw.value = 1.25;
    r.array[2] = -3;
    r.rawArray[3] = 200;
    r.shm.buf[31] = 77;
    r.list[0] = 'b';
    expect(objs.value.value).toBe(5n);
    expect(objs.raw.value).toBe(1.25);
    expect([...objs.array]).toEqual([1, 2, -3]);
    expect(objs.rawArray[3]).toBe(200);
    expect(s.buf[31]).toBe(77);
    expect(l[0]).toBe('b');
    expect(r.lock.acquireSync({ block: false })).toBe(true);
    expect(objs.lock.acquireSync({ block: false })).toBe(false);
    r.lock.release();
    expect(isHandle(toWire(objs.array))).toBe(true);
    fromWire(toWire(objs.array));
    r.shm.close();
    r.list.shm.close();
  });

  it('dumps/loads accept any Uint8Array view of the bytes', () => {
    const v = mp.Value('i', 8);
    const bytes = dumps([v]);
    const copy = new Uint8Array(bytes.length + 4);
    copy.set(bytes, 4);
    const r = loads(copy.subarray(4)) as Any;
    expect(r[0].value).toBe(8);
  });

  it('a handle that is already plain data passes through toWire', () => {
    const v = mp.Value('i', 2);
    const h = handleOf(v);
    expect(toWire({ h }) as Any).toEqual({ h });
    expect((fromWire({ h }) as Any).h.value).toBe(2);
  });
});

describe('handles are checked against their kind before revival', () => {
  /** A JSON copy of `obj`'s handle, edited. */
  const edited = (obj: object, edit: (h: Any) => void): Any => {
    const h = JSON.parse(JSON.stringify(handleOf(obj as Any)));
    edit(h);
    return h;
  };

  it('a handle relabeled as a bigger kind is refused before its block is read', () => {
    const lock = new mp.Lock();
    const asQueue = edited(lock, (h) => {
      h.$mpHandle = 'Queue';
      h.ring = h.block;
      h.maxsize = 0;
    });
    expect(() => fromWire(asQueue)).toThrow(/^invalid Queue handle: ring\.n must be an integer from 832 /);
    const event = new mp.Event();
    const asLock = edited(event, (h) => {
      h.$mpHandle = 'Lock';
    });
    expect(() => fromWire(asLock)).toThrow(mp.ValueError);
    expect(() => fromWire(asLock)).toThrow(/^invalid Lock handle: block\.n must be an integer from 8 /);
    lock.close();
    event.close();
  });

  it('a nested handle is checked with its own kind, and named by its path', () => {
    const cond = new mp.Condition();
    expect(() => fromWire(edited(cond, (h) => delete h.lock))).toThrow(/^invalid Condition handle: lock must be the handle of a shared Lock or RLock, got nothing/);
    expect(() => fromWire(edited(cond, (h) => (h.lock.block.o = 3)))).toThrow(/^invalid Condition handle: lock\.block\.o must be an integer from 64 /);
    const barrier = new mp.Barrier(2);
    expect(() => fromWire(edited(barrier, (h) => (h.cond.$mpHandle = 'Lock')))).toThrow(/^invalid Barrier handle: cond\.\$mpHandle must be one of 'Condition'/);
    cond.close();
    barrier.close();
  });

  it('an array view must lie inside its block', () => {
    const arr = mp.Array('i', 4);
    expect(() => fromWire(edited(arr, (h) => (h.s = 3)))).toThrow(/^invalid Array handle: n must be an integer from 0 to 1, got number 4/);
    expect(() => fromWire(edited(arr, (h) => (h.n = 5)))).toThrow(mp.ValueError);
    const view = fromWire(edited(arr, (h) => Object.assign(h, { s: 1, n: 2 }))) as Int32Array;
    arr[1] = 7;
    expect(Array.from(view)).toEqual([7, 0]);
  });
});

describe('public constructors take only their documented arguments', () => {
  it('refuses an argument in the slot the revive path used to take, accepts undefined', () => {
    const Any = mp as Any;
    expect(() => new Any.Lock({})).toThrow(/^Lock\(\) takes no arguments, got an object/);
    expect(() => new Any.Event(1)).toThrow(TypeError);
    expect(() => new Any.Semaphore(1, {})).toThrow(/^Semaphore\(\) takes at most 1 argument \(value\)/);
    expect(() => new Any.BoundedSemaphore(1, {})).toThrow(/^BoundedSemaphore\(\) takes at most 1 argument/);
    expect(() => new Any.Condition(undefined, {})).toThrow(TypeError);
    expect(() => new Any.Barrier(1, {}, {})).toThrow(/^Barrier\(\) takes at most 2 arguments \(parties, options\)/);
    expect(() => new Any.JoinableQueue(0, {})).toThrow(/^JoinableQueue\(\) takes at most 1 argument \(maxsize\)/);
    expect(() => new Any.SimpleQueue({})).toThrow(TypeError);
    const lock = new Any.Lock(undefined);
    expect(lock.acquireSync({ block: false })).toBe(true);
    lock.release();
    lock.close();
  });
});

describe('through a forked child (advanced serialization)', () => {
  let child: Child;
  let nextId = 1;
  async function call(op: string, payload: unknown): Promise<Any> {
    const id = nextId++;
    child.send({ id, op, payload: toWire(payload) });
    const reply = await child.next<Any>();
    expect(reply.id).toBe(id);
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), reply.error);
    return fromWire(reply.result);
  }

  beforeAll(async () => {
    child = startChild('targets-wire.cjs');
    expect(await child.next()).toEqual({ ready: true });
  });
  afterAll(async () => {
    child.proc.kill();
    await child.exited;
  });

  it('the child mutates shared objects nested anywhere; the parent sees it', async () => {
    const value = mp.Value('i', 10);
    const lock = new mp.Lock();
    const rlock = new mp.RLock();
    const untouched = { n: [1, 2, { deep: true }] };
    const p: Any = {
      value,
      raw: mp.RawValue('d', 0),
      array: mp.Array('i', [1, 2, 3]),
      rawArray: mp.RawArray('d', 3),
      shm: shm(8),
      list: list([1, 'parent']),
      byKey: new Map<unknown, unknown>([
        ['a', 1],
        [lock, 2],
        ['z', 3],
      ]),
      members: new Set([rlock]),
      twice: [value, value],
      plain: { d: new Date(7), big: 1n << 65n, bytes: Buffer.from('ok'), re: /r/m },
      untouched,
    };
    p.self = p;
    expect(lock.acquireSync()).toBe(true); // held by the parent: the child must find it taken
    const r = await call('mutate', p);
    lock.release();
    expect(r.sameValue).toBe(true);
    expect(r.cycle).toBe(true);
    expect(r.arrayIsTyped).toBe('SharedInt32Array');
    expect(r.lockFree).toBe(false);
    expect(r.rlockFree).toBe(true);
    expect(r.mapOrder).toEqual([1, 2, 3]);
    expect(r.plain.d).toEqual(new Date(7));
    expect(r.plain.big).toBe(1n << 65n);
    expect(Buffer.isBuffer(r.plain.bytes) && r.plain.bytes.toString()).toBe('ok');
    expect(r.plain.re.flags).toBe('m');
    expect(r.untouched).toEqual(untouched);
    expect(value.value).toBe(11);
    expect(p.raw.value).toBe(2.5);
    expect([...p.array]).toEqual([99, 2, 3]);
    expect(p.rawArray[2]).toBe(-1);
    expect(p.shm.buf[0]).toBe(7);
    expect(p.list[1]).toBe('child');
  });

  it('shared objects made in the child come back as the same memory', async () => {
    const made = await call('make', null);
    expect(made.v.value).toBe(1.5);
    expect([...made.a]).toEqual([5, 6, 7]);
    expect(made.both[0]).toBe(made.both[1]);
    expect(made.both[0]).toBe(made.v);
    made.v.value = -2;
    made.a[1] = 60;
    expect(await call('readMade', null)).toEqual({ v: -2, a: [5, 60, 7] });
  });
});

describe('a process that only loads reduction.js', () => {
  it('revives handles (the shared types load on demand)', () => {
    const v = mp.Value('i', 41);
    const t = trackerForChild(3);
    const out = execFileSync(process.execPath, [fixture('targets-loads.cjs'), dumps({ v, again: v }).toString('base64')], {
      stdio: ['ignore', 'pipe', 'inherit', ...(t === null ? [] : [t.fd])],
      env: { ...process.env, ...(t?.env ?? {}) },
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ before: 41, same: true });
    expect(v.value).toBe(42);
  });
});
