// Managers (API.md "Managers"): real manager server processes and real child processes.
// Covers every SyncManager proxy type (methods, errors and their classes, timeouts),
// proxies used by children (as Process args and inside mp.Queue messages), nested proxies,
// BaseManager subclasses with registered classes and callables from
// fixtures/manager-targets.mjs, _getvalue/_callmethod/toString, reference counting (a
// child's exit, a garbage-collected proxy), a server run with getServer().serveForever()
// in a child and reached over TCP, SharedMemoryManager, and the manager's lifecycle.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as mp from 'multiprocessing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Counter,
  Faulty,
  acquireAndExit,
  appendThroughNested,
  countUnderLock,
  fillSeed,
  makeCounter,
  makeFaulty,
  makeNumber,
  makeRecorder,
  makeRecorderLater,
  serveStore,
  setInitTag,
  tryAcquireEach,
  useProxiesFromQueue,
  waitForEvent,
} from './fixtures/manager-targets.mjs';
import { failure, range, settles, sleep } from './helpers/async.js';
import { fixturePath, fixtureUrl, hasProc, isRunning, taggedProcessesAfter, waitGone } from './helpers/scripts.js';

/**
 * A fixture target by reference. Needed for targets that use the fixture's imports (`mp`):
 * vitest rewrites those in the functions it loads, so their source no longer matches the
 * file and the child could not find them by source.
 */
const T = (name: string) => ({ module: fixtureUrl('manager-targets.mjs'), name });

const require = createRequire(import.meta.url);
const { connectionOf } = require('../dist/manager_proxy.js') as {
  connectionOf(proxy: mp.BaseProxy): { call(objectId: number, method: string, args: unknown[]): Promise<unknown> };
};

/** The server's object count (a debug request), asked through `proxy`'s connection. */
const numberOfObjects = (proxy: mp.BaseProxy) => connectionOf(proxy).call(0, 'numberOfObjects', []) as Promise<number>;

type ErrorClass = abstract new (...args: never[]) => Error;

/** The error `promise` rejected with (within `ms`), checked to be an instance of `cls`. */
async function rejection(promise: Promise<unknown>, cls: ErrorClass, message?: RegExp, ms = 5000): Promise<Error> {
  const err = await failure(() => settles(promise, 'a proxy call', ms));
  expect(err).toBeInstanceOf(cls);
  if (message !== undefined) expect((err as Error).message).toMatch(message);
  return err as Error;
}

/** A RemoteError whose cause is a ValueError saying the method is not exposed. */
async function notExposed(promise: Promise<unknown>, method: string): Promise<void> {
  const err = await rejection(promise, mp.RemoteError, new RegExp(`'${method.replace(/[$]/g, '\\$&')}'.*not exposed`));
  expect((err as mp.RemoteError).code).toBe('ERR_MP_REMOTE');
  expect((err as mp.RemoteError).cause).toBeInstanceOf(mp.ValueError);
}

/** Seconds `fn` took to settle, and how. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { value, ms: performance.now() - t0 };
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
}

/** Polls `read` until `ok` holds (or `ms` passed); returns the last value read. */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  let v = await read();
  while (!ok(v) && Date.now() < end) {
    await sleep(20);
    v = await read();
  }
  return v;
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return !settled;
}

const children: mp.Process[] = [];
const managers: mp.BaseManager[] = [];

type Target = ((...args: never[]) => unknown) | { module: string; name: string };

function startChild(target: Target, args: unknown[]): mp.Process {
  const p = new mp.Process({ target, args: args as never[] });
  children.push(p);
  p.start();
  return p;
}

/** Run `target(...args)` in a child process; its exit code (null: killed after `seconds`). */
async function runChild(target: Target, args: unknown[], seconds = 15): Promise<number | null> {
  const p = startChild(target, args);
  await p.join(seconds);
  if (p.exitcode === null) p.kill();
  return p.exitcode;
}

async function newManager(options?: mp.ManagerOptions): Promise<mp.SyncManager> {
  const m = await mp.Manager(options);
  managers.push(m);
  return m;
}

/** The manager processes `start()` adds to this process's children. */
async function startedPids(start: () => Promise<unknown>): Promise<number[]> {
  const before = new Set(mp.activeChildren().map((p) => p.pid));
  await start();
  return mp.activeChildren()
    .filter((p) => !before.has(p.pid) && /Manager/.test(p.name))
    .map((p) => p.pid!);
}

afterAll(async () => {
  for (const p of children) if (p.exitcode === null && p.pid !== null) p.kill();
  await Promise.all(managers.map((m) => settles(m.shutdown(), 'shutdown in afterAll').catch(() => {})));
});

let m: mp.SyncManager;
beforeAll(async () => {
  m = await newManager();
});

// ---------------------------------------------------------------------------------------
// 1. every proxy type

describe('dict proxy', () => {
  it('get/set/has/delete/length/keys/values/items, with defaults and KeyError', async () => {
    const d = await m.dict<string, unknown>({ a: 1 });
    expect(d).toBeInstanceOf(mp.DictProxy);
    expect(d).toBeInstanceOf(mp.BaseProxy);
    expect(d.typeid).toBe('dict');
    expect(await d.get('a')).toBe(1);
    expect(await d.get('missing')).toBeUndefined();
    expect(await d.get('missing', 'fallback')).toBe('fallback');
    await d.set('b', { nested: [1, 2n, 'x'], when: new Date(5) });
    expect(await d.get('b')).toEqual({ nested: [1, 2n, 'x'], when: new Date(5) });
    expect(await d.has('b')).toBe(true);
    expect(await d.has('zz')).toBe(false);
    expect(await d.length()).toBe(2);
    expect(await d.keys()).toEqual(['a', 'b']);
    expect((await d.values())[0]).toBe(1);
    expect((await d.items())[0]).toEqual(['a', 1]);
    await d.delete('a');
    expect(await d.has('a')).toBe(false);
    const err = await rejection(d.delete('a'), mp.KeyError);
    expect(err).toBeInstanceOf(mp.MultiprocessingError);
    expect(err.message).toContain('a');
    expect(await d.length()).toBe(1);
  });

  it('update (object, Map, pairs), pop, popitem, setdefault, clear, copy', async () => {
    const d = await m.dict<string | number, unknown>();
    await d.update({ x: 1, y: 2 });
    await d.update(new Map<string | number, unknown>([['z', 3]]));
    await d.update([
      ['w', 4],
      [7, 'seven'],
    ]);
    expect(await d.length()).toBe(5);
    // a non-string key: copy() is a Map, in insertion order
    const snap = await d.copy();
    expect(snap).toBeInstanceOf(Map);
    expect([...(snap as Map<unknown, unknown>).entries()]).toEqual([
      ['x', 1],
      ['y', 2],
      ['z', 3],
      ['w', 4],
      [7, 'seven'],
    ]);
    expect(await d.get(7)).toBe('seven');
    expect(await d.popitem()).toEqual([7, 'seven']);
    expect(await d.copy()).toEqual({ x: 1, y: 2, z: 3, w: 4 });
    expect(await d.pop('x')).toBe(1);
    expect(await d.pop('x', 'gone')).toBe('gone');
    await rejection(d.pop('x'), mp.KeyError);
    expect(await d.setdefault('y', 100)).toBe(2);
    expect(await d.setdefault('v', 100)).toBe(100);
    expect(await d.get('v')).toBe(100);
    await d.clear();
    expect(await d.length()).toBe(0);
    expect(await d.copy()).toEqual({});
    await rejection(d.popitem(), mp.KeyError);
  });

  it('keys must be primitives (TypeError); a bad update is a TypeError and changes nothing', async () => {
    const d = await m.dict({ keep: 1 });
    await rejection(d.set({} as never, 1), TypeError, /key/);
    await rejection(d.update(42 as never), TypeError);
    expect(await d.copy()).toEqual({ keep: 1 });
  });
});

describe('list proxy', () => {
  it('get/set (negative indexes; RangeError out of range, as Python IndexError), append, extend, insert, length, copy', async () => {
    const l = await m.list<unknown>([1, 2, 3]);
    expect(l).toBeInstanceOf(mp.ListProxy);
    expect(l.typeid).toBe('list');
    expect(await l.get(0)).toBe(1);
    expect(await l.get(-1)).toBe(3);
    await rejection(l.get(3), RangeError, /^list index out of range$/);
    await rejection(l.get(-4), RangeError, /list index out of range/);
    await l.set(-1, 'three');
    await rejection(l.set(10, 'x'), RangeError, /list assignment index out of range/);
    await l.append({ four: 4 });
    await l.extend(new Set([5, 6]));
    await l.insert(0, 0);
    await l.insert(100, 'end'); // past the end: appended, as Python does
    expect(await l.length()).toBe(8);
    expect(await l.copy()).toEqual([0, 1, 2, 'three', { four: 4 }, 5, 6, 'end']);
  });

  it('pop, remove (ValueError), index (start/stop, ValueError), count, reverse, sort, slice', async () => {
    const l = await m.list([3, 1, 2, 1, 5]);
    expect(await l.pop()).toBe(5);
    expect(await l.pop(0)).toBe(3);
    expect(await l.copy()).toEqual([1, 2, 1]);
    expect(await l.count(1)).toBe(2);
    expect(await l.count(9)).toBe(0);
    expect(await l.index(1)).toBe(0);
    expect(await l.index(1, 1)).toBe(2);
    await rejection(l.index(1, 1, 2), mp.ValueError, /not in list/);
    await rejection(l.index(42), mp.ValueError);
    await l.remove(1);
    expect(await l.copy()).toEqual([2, 1]);
    await rejection(l.remove(42), mp.ValueError);
    await l.extend([9, 4, 7]);
    await l.sort();
    expect(await l.copy()).toEqual([1, 2, 4, 7, 9]);
    await l.sort({ reverse: true });
    expect(await l.copy()).toEqual([9, 7, 4, 2, 1]);
    await l.reverse();
    expect(await l.copy()).toEqual([1, 2, 4, 7, 9]);
    await rejection(l.sort({ key: (x: number) => -x } as never), TypeError);
    expect(await l.slice(1, 3)).toEqual([2, 4]);
    expect(await l.slice(-2)).toEqual([7, 9]);
    expect(await l.slice()).toEqual([1, 2, 4, 7, 9]);
    const empty = await m.list();
    await rejection(empty.pop(), RangeError, /pop from empty list/);
    await rejection(l.pop(99), RangeError, /pop index out of range/);
  });
});

describe('Namespace, Value and Array proxies', () => {
  it('Namespace: get/set/has/delete/copy, ValueError for a missing name', async () => {
    const ns = await m.Namespace<Record<string, unknown>>({ a: 1 });
    expect(ns).toBeInstanceOf(mp.NamespaceProxy);
    expect(ns.typeid).toBe('Namespace');
    expect(await ns.get('a')).toBe(1);
    await ns.set('b', [1, 2]);
    expect(await ns.has('b')).toBe(true);
    expect(await ns.copy()).toEqual({ a: 1, b: [1, 2] });
    await ns.delete('a');
    expect(await ns.has('a')).toBe(false);
    await rejection(ns.get('a'), mp.ValueError, /no attribute 'a'/);
    await rejection(ns.delete('a'), mp.ValueError);
    await rejection(m.Namespace(5 as never), TypeError);
  });

  it('Value: get/set; an unknown typecode is a ValueError', async () => {
    const v = await m.Value<number>('i', 5);
    expect(v).toBeInstanceOf(mp.ValueProxy);
    expect(await v.get()).toBe(5);
    await v.set(-7);
    expect(await v.get()).toBe(-7);
    const f = await m.Value('d', 1.5);
    expect(await f.get()).toBe(1.5);
    await rejection(m.Value('zz' as never, 1), mp.ValueError, /typecode/);
  });

  it('Array: get/set/length/slice/copy, RangeError for a bad index or value, TypeError for a bad type', async () => {
    const a = await m.Array<number>('i', [1, 2, 3]);
    expect(a).toBeInstanceOf(mp.ArrayProxy);
    expect(await a.length()).toBe(3);
    expect(await a.get(-1)).toBe(3);
    await a.set(0, 10);
    expect(await a.copy()).toEqual([10, 2, 3]);
    expect(await a.slice(1)).toEqual([2, 3]);
    await rejection(a.get(3), RangeError, /array index out of range/);
    await rejection(a.set(3, 1), RangeError, /array assignment index out of range/);
    await rejection(a.set(0, 2 ** 40), RangeError, /out of range/);
    await rejection(a.set(0, 'x' as never), TypeError);
    expect(await a.copy()).toEqual([10, 2, 3]);
    const zeros = await m.Array('d', 3);
    expect(await zeros.copy()).toEqual([0, 0, 0]);
  });
});

describe('Lock, RLock, Semaphore, BoundedSemaphore proxies', () => {
  it('Lock: acquire (block false, timeout), release, ValueError on an unlocked release', async () => {
    const lock = await m.Lock();
    expect(lock).toBeInstanceOf(mp.AcquirerProxy);
    expect(lock.typeid).toBe('Lock');
    expect(await lock.acquire()).toBe(true);
    // not recursive: a second acquire (even from the same process) waits
    expect(await lock.acquire({ block: false })).toBe(false);
    const t = await timed(() => lock.acquire({ timeout: 0.05 }));
    expect(t.value).toBe(false);
    expect(t.ms).toBeGreaterThanOrEqual(40);
    expect(t.ms).toBeLessThan(2000);
    const waiting = lock.acquire();
    expect(await pendingAfter(waiting, 50)).toBe(true);
    await lock.release(); // hands the lock to the waiter
    expect(await settles(waiting, 'acquire after release')).toBe(true);
    await lock.release();
    await rejection(lock.release(), mp.ValueError, /unlocked/);
  });

  it('Lock: holdAsync releases at the end of its scope, withLock releases even when fn throws', async () => {
    const lock = await m.Lock();
    {
      await using _held = await lock.holdAsync();
      expect(await lock.acquire({ block: false })).toBe(false);
    }
    expect(await lock.acquire({ block: false })).toBe(true);
    // holdAsync of a lock it cannot take fails (and takes nothing)
    await rejection(lock.holdAsync({ block: false }), Error, /not acquired/);
    await lock.release();
    expect(await lock.withLock(async () => (await lock.acquire({ block: false })) === false)).toBe(true);
    const err = await failure(() => lock.withLock(() => Promise.reject(new RangeError('inside'))));
    expect(err).toBeInstanceOf(RangeError);
    expect(await lock.acquire({ block: false })).toBe(true);
    await lock.release();
  });

  it('RLock: recursive for its owner, ValueError when released more than acquired', async () => {
    const r = await m.RLock();
    expect(r.typeid).toBe('RLock');
    expect(await r.acquire()).toBe(true);
    expect(await r.acquire({ block: false })).toBe(true);
    await r.release();
    await r.release();
    await rejection(r.release(), mp.ValueError, /un-acquired/);
  });

  it('Semaphore: counts, getValue, timeout; BoundedSemaphore: ValueError on over-release', async () => {
    const s = await m.Semaphore(2);
    expect(s).toBeInstanceOf(mp.SemaphoreProxy);
    expect(await s.getValue()).toBe(2);
    expect(await s.acquire()).toBe(true);
    expect(await s.acquire({ block: false })).toBe(true);
    expect(await s.getValue()).toBe(0);
    expect(await s.acquire({ block: false })).toBe(false);
    const t = await timed(() => s.acquire({ timeout: 0.05 }));
    expect(t.value).toBe(false);
    expect(t.ms).toBeGreaterThanOrEqual(40);
    const waiting = s.acquire();
    expect(await pendingAfter(waiting, 30)).toBe(true);
    await s.release();
    expect(await settles(waiting, 'semaphore acquire')).toBe(true);
    await s.release();
    await s.release();
    await s.release(); // unbounded: above the initial value
    expect(await s.getValue()).toBe(3);
    await rejection(m.Semaphore(-1), mp.ValueError);

    const b = await m.BoundedSemaphore(1);
    expect(b.typeid).toBe('BoundedSemaphore');
    await rejection(b.release(), mp.ValueError, /released too many times/);
    expect(await b.acquire()).toBe(true);
    await b.release();
    expect(await b.getValue()).toBe(1);
  });
});

describe('Condition proxy', () => {
  it('wait/notify/notifyAll with the lock held; ValueError without it; wait times out', async () => {
    const c = await m.Condition();
    expect(c).toBeInstanceOf(mp.ConditionProxy);
    await rejection(c.wait(0.01), mp.ValueError, /un-acquired/);
    await rejection(c.notify(), mp.ValueError, /un-acquired/);
    await rejection(c.notifyAll(), mp.ValueError);
    expect(await c.acquire()).toBe(true);
    const t = await timed(() => c.wait(0.05));
    expect(t.value).toBe(false);
    expect(t.ms).toBeGreaterThanOrEqual(40);
    // the timed-out wait took the lock back: still ours
    await c.notify();
    // two waiters (each wait releases the lock, so take it again for the second one)
    const first = c.wait(5);
    await c.acquire();
    const second = c.wait(5);
    expect(await pendingAfter(Promise.race([first, second]), 30)).toBe(true);
    // notify() wakes one, the oldest
    await c.acquire();
    await c.notify();
    await c.release();
    expect(await settles(first, 'the notified waiter')).toBe(true);
    expect(await pendingAfter(second, 30)).toBe(true);
    await c.release(); // the woken waiter re-acquired the lock
    // notifyAll() wakes the rest
    await c.acquire();
    await c.notifyAll();
    await c.release();
    expect(await settles(second, 'the other waiter')).toBe(true);
    await c.release();
    await rejection(c.release(), mp.ValueError);
  });

  it('waitFor runs its predicate here and returns its value; false after the timeout', async () => {
    const c = await m.Condition();
    const v = await m.Value<number>('i', 0);
    await c.acquire();
    const waited = c.waitFor(async () => ((await v.get()) >= 3 ? 'ready' : false), 5);
    const producer = (async () => {
      for (let i = 1; i <= 3; i++) {
        await sleep(5);
        await c.acquire();
        await v.set(i);
        await c.notifyAll();
        await c.release();
      }
    })();
    expect(await settles(waited, 'waitFor')).toBe('ready');
    await c.release();
    await producer;
    await c.acquire();
    let calls = 0;
    const t = await timed(() =>
      c.waitFor(() => {
        calls++;
        return false;
      }, 0.08),
    );
    expect(t.value).toBe(false);
    expect(t.ms).toBeGreaterThanOrEqual(70);
    expect(t.ms).toBeLessThan(3000);
    expect(calls).toBeGreaterThanOrEqual(2);
    await c.release();
  });

  it('Condition(lockProxy) uses that lock; anything else is a TypeError', async () => {
    const lock = await m.Lock();
    const c = await m.Condition(lock);
    await c.acquire();
    expect(await lock.acquire({ block: false })).toBe(false);
    await c.release();
    expect(await lock.acquire({ block: false })).toBe(true);
    await lock.release();
    const d = await m.dict();
    await rejection(m.Condition(d as never), TypeError, /Lock or RLock/);
  });
});

describe('Event and Barrier proxies', () => {
  it('Event: isSet/set/clear/wait (timeout false, a waiter woken by set)', async () => {
    const ev = await m.Event();
    expect(ev).toBeInstanceOf(mp.EventProxy);
    expect(await ev.isSet()).toBe(false);
    const t = await timed(() => ev.wait(0.05));
    expect(t.value).toBe(false);
    expect(t.ms).toBeGreaterThanOrEqual(40);
    const waiting = ev.wait(5);
    expect(await pendingAfter(waiting, 30)).toBe(true);
    await ev.set();
    expect(await settles(waiting, 'event wait')).toBe(true);
    expect(await ev.isSet()).toBe(true);
    expect(await ev.wait()).toBe(true);
    await ev.clear();
    expect(await ev.isSet()).toBe(false);
    expect(await ev.wait(0)).toBe(false);
  });

  it('Barrier: parties meet with distinct indexes; the getters are Promises', async () => {
    const b = await m.Barrier(3);
    expect(b).toBeInstanceOf(mp.BarrierProxy);
    expect(b.parties).toBeInstanceOf(Promise);
    expect(await b.parties).toBe(3);
    expect(await b.nWaiting).toBe(0);
    expect(await b.broken).toBe(false);
    const first = b.wait(5);
    const second = b.wait(5);
    expect(await eventually(() => b.nWaiting, (n) => n === 2)).toBe(2);
    const third = b.wait(5);
    const indexes = await settles(Promise.all([first, second, third]), 'barrier');
    expect([...indexes].sort()).toEqual([0, 1, 2]);
    expect(await b.nWaiting).toBe(0);
    // reusable
    const again = await settles(Promise.all([b.wait(5), b.wait(5), b.wait(5)]), 'barrier again');
    expect([...again].sort()).toEqual([0, 1, 2]);
  });

  it('Barrier: timeout, abort and reset give BrokenBarrierError; an action is refused', async () => {
    const b = await m.Barrier(2);
    const t = await timed(() => b.wait(0.05));
    expect(t.error).toBeInstanceOf(mp.BrokenBarrierError);
    expect(t.ms).toBeGreaterThanOrEqual(40);
    expect(await b.broken).toBe(true);
    await rejection(b.wait(1), mp.BrokenBarrierError);
    await b.reset();
    expect(await b.broken).toBe(false);
    const aborted = b.wait(5);
    await eventually(() => b.nWaiting, (n) => n === 1);
    await b.abort();
    await rejection(aborted, mp.BrokenBarrierError);
    expect(await b.broken).toBe(true);
    await b.reset();
    const reset = b.wait(5);
    await eventually(() => b.nWaiting, (n) => n === 1);
    await b.reset();
    await rejection(reset, mp.BrokenBarrierError);
    expect(await b.broken).toBe(false);
    // a default timeout given at creation
    const timed2 = await m.Barrier(2, { timeout: 0.05 });
    await rejection(timed2.wait(), mp.BrokenBarrierError);
    await rejection(m.Barrier(2, { action: 'notify someone' } as never), TypeError, /action/);
    await rejection(m.Barrier(0), mp.ValueError);
  });
});

describe('Queue and JoinableQueue proxies', () => {
  it('put/get (block, timeout), putNowait/getNowait, qsize/empty/full, Empty and Full', async () => {
    const q = await m.Queue<unknown>(2);
    expect(q).toBeInstanceOf(mp.QueueProxy);
    expect(await q.empty()).toBe(true);
    await q.put({ a: [1, 2n], m: new Map([[1, 'one']]) });
    await q.putNowait('b');
    expect(await q.qsize()).toBe(2);
    expect(await q.full()).toBe(true);
    await rejection(q.putNowait('c'), mp.Full);
    await rejection(q.put('c', { block: false }), mp.Full);
    const t = await timed(() => q.put('c', { timeout: 0.05 }));
    expect(t.error).toBeInstanceOf(mp.Full);
    expect(t.ms).toBeGreaterThanOrEqual(40);
    expect(await q.get()).toEqual({ a: [1, 2n], m: new Map([[1, 'one']]) });
    expect(await q.getNowait()).toBe('b');
    expect(await q.empty()).toBe(true);
    await rejection(q.getNowait(), mp.Empty);
    await rejection(q.get({ block: false }), mp.Empty);
    const t2 = await timed(() => q.get({ timeout: 0.05 }));
    expect(t2.error).toBeInstanceOf(mp.Empty);
    expect((t2.error as mp.Empty).code).toBe('ERR_MP_EMPTY');
    expect(t2.ms).toBeGreaterThanOrEqual(40);
    // a blocked get is woken by a put; a blocked put by a get
    const getting = q.get();
    expect(await pendingAfter(getting, 30)).toBe(true);
    await q.put('late');
    expect(await settles(getting, 'blocked get')).toBe('late');
    await q.put(1);
    await q.put(2);
    const putting = q.put(3);
    expect(await pendingAfter(putting, 30)).toBe(true);
    expect(await q.get()).toBe(1);
    await settles(putting, 'blocked put');
    expect([await q.get(), await q.get()]).toEqual([2, 3]);
  });

  it('JoinableQueue: join waits for every taskDone; ValueError for one too many', async () => {
    const q = await m.JoinableQueue<number>();
    expect(q).toBeInstanceOf(mp.JoinableQueueProxy);
    expect(await settles(q.join(), 'join of an empty queue')).toBeUndefined();
    await q.put(1);
    await q.put(2);
    const joined = q.join();
    expect(await pendingAfter(joined, 30)).toBe(true);
    await q.get();
    await q.taskDone();
    expect(await pendingAfter(joined, 30)).toBe(true);
    await q.get();
    await q.taskDone();
    await settles(joined, 'join after the last taskDone');
    await rejection(q.taskDone(), mp.ValueError, /too many times/);
  });
});

// ---------------------------------------------------------------------------------------
// 6. _getvalue, _callmethod, toString

describe('_getvalue, _callmethod and toString', () => {
  it('_getvalue copies the value of dict, list, Namespace, Value and Array', async () => {
    const d = await m.dict<string, unknown>({ a: 1, b: [2] });
    const l = await m.list([1, 'two', [3]]);
    const ns = await m.Namespace({ x: 1 });
    const v = await m.Value('d', 2.5);
    const a = await m.Array('i', [4, 5]);
    expect(await d._getvalue()).toEqual({ a: 1, b: [2] });
    expect(await l._getvalue()).toEqual([1, 'two', [3]]);
    expect(await ns._getvalue()).toEqual({ x: 1 });
    expect(await v._getvalue()).toBe(2.5);
    expect(await a._getvalue()).toEqual([4, 5]);
    // a copy: changing it changes nothing in the manager
    const copy = (await l._getvalue()) as unknown[];
    copy.push('local');
    expect(await l.length()).toBe(3);
  });

  it('_callmethod reaches exposed methods only; hidden ones are a RemoteError', async () => {
    const d = await m.dict();
    expect(await d._callmethod('set', ['k', 1])).toBeUndefined();
    expect(await d._callmethod('get', ['k'])).toBe(1);
    expect(await d._callmethod('length')).toBe(1);
    const l = await m.list([1]);
    expect(await l._callmethod('length', [])).toBe(1);
    const lock = await m.Lock();
    for (const name of ['constructor', '__proto__', 'toString', 'nope', 'locked']) await notExposed(lock._callmethod(name), name);
    for (const name of ['constructor', 'hasOwnProperty', 'valueOf']) await notExposed(d._callmethod(name), name);
    const err = await rejection(d._callmethod('toString'), mp.RemoteError);
    expect(((err as mp.RemoteError).cause as Error).message).toMatch(/exposed: get, set/);
    await rejection(d._callmethod('get', 'k' as never), TypeError, /args/);
    expect(await failure(() => d._callmethod(5 as never))).toBeInstanceOf(TypeError);
    // the object is unharmed
    expect(await d.get('k')).toBe(1);
  });

  it('toString names the proxy class, typeid, address and id; the manager says its state', async () => {
    const d = await m.dict();
    const l = await m.list();
    expect(String(d)).toMatch(/^<DictProxy object, typeid 'dict' at .+, id \d+>$/);
    expect(String(l)).toMatch(/^<ListProxy object, typeid 'list' at .+, id \d+>$/);
    expect(String(d)).not.toBe(String(l));
    expect(String(m)).toMatch(/^<SyncManager started at .+>$/);
    expect(String(new mp.SyncManager())).toMatch(/^<SyncManager initial>$/);
  });
});

// ---------------------------------------------------------------------------------------
// 4. nested proxies

describe('nested proxies', () => {
  it('a list stored in a dict comes back as a proxy of the same list', async () => {
    const d = await m.dict();
    const l = await m.list<unknown>([1]);
    await d.set('l', l);
    const again = (await d.get('l')) as mp.ListProxy<unknown>;
    expect(again).toBeInstanceOf(mp.ListProxy);
    expect(String(again)).toBe(String(l));
    await again.append('through the copy');
    expect(await l.copy()).toEqual([1, 'through the copy']);
    await l.append('through the original');
    expect(await again.copy()).toEqual([1, 'through the copy', 'through the original']);
  });

  it('a dict stored in a list; copy() and _getvalue() of the holder give proxies inside', async () => {
    const inner = await m.dict({ k: 'v' });
    const l = await m.list<unknown>(['first']);
    await l.append(inner);
    const got = (await l.get(-1)) as mp.DictProxy;
    expect(got).toBeInstanceOf(mp.DictProxy);
    await got.set('added', true);
    expect(await inner.copy()).toEqual({ k: 'v', added: true });
    const snap = await l.copy();
    expect(snap[0]).toBe('first');
    expect(snap[1]).toBeInstanceOf(mp.DictProxy);
    expect(await (snap[1] as mp.DictProxy).get('k')).toBe('v');

    const holder = await m.dict<string, unknown>();
    const list = await m.list([1, 2]);
    await holder.set('list', list);
    await holder.set('plain', 3);
    const copy = (await holder.copy()) as Record<string, unknown>;
    expect(copy.plain).toBe(3);
    expect(copy.list).toBeInstanceOf(mp.ListProxy);
    await (copy.list as mp.ListProxy).append(3);
    expect(await list.copy()).toEqual([1, 2, 3]);
    const value = (await holder._getvalue()) as Record<string, unknown>;
    expect(value.list).toBeInstanceOf(mp.ListProxy);
  });

  it('a nested proxy works in a child process too', async () => {
    const d = await m.dict<string, unknown>();
    const inner = await m.list(['parent']);
    await d.set('inner', inner);
    expect(await runChild(appendThroughNested, [d, 'child'])).toBe(0);
    expect(await inner.copy()).toEqual(['parent', 'child']);
    expect(await d.get('innerKind')).toBe('ListProxy');
  });
});

// ---------------------------------------------------------------------------------------
// 2, 3. children

describe.concurrent('proxies in child processes', () => {
  it('the seed example: a child fills a dict, reverses a list and sets a Namespace', async () => {
    const d = await m.dict();
    const l = await m.list(range(10));
    const ns = await m.Namespace();
    expect(await runChild(fillSeed, [d, l, ns])).toBe(0);
    expect(await d.copy()).toEqual({ name: 'Alice', age: 30, Job: 'Engineer' });
    expect(await l.copy()).toEqual(range(10).reverse());
    const pid = await ns.get('pid');
    expect(typeof pid).toBe('number');
    expect(pid).not.toBe(process.pid);
    expect(await ns.get('typeids')).toEqual(['dict', 'list', 'Namespace']);
  });

  it('a child waits on an Event proxy until the parent sets it', async () => {
    const ev = await m.Event();
    const ns = await m.Namespace();
    const p = startChild(waitForEvent, [ev, ns, 20]);
    const status = () => ns.copy().then((c) => c.status);
    expect(await eventually(status, (s) => s === 'waiting', 10_000)).toBe('waiting');
    await sleep(100);
    expect(await status()).toBe('waiting');
    expect(p.isAlive()).toBe(true);
    await ev.set();
    await p.join(10);
    expect(p.exitcode).toBe(0);
    expect(await status()).toBe('set');
  });

  it('a child and the parent contend on a Lock proxy around a read-modify-write of a Value proxy', async () => {
    const lock = await m.Lock();
    const counter = await m.Value<number>('i', 0);
    const n = 40;
    const p = startChild(countUnderLock, [lock, counter, n]);
    await countUnderLock(lock, counter, n);
    await p.join(20);
    expect(p.exitcode).toBe(0);
    expect(await counter.get()).toBe(2 * n);
  });

  it("a lock held by another process: it cannot take it; a child's exit releases what it held", async () => {
    const lock = await m.Lock();
    const rlock = await m.RLock();
    const sem = await m.Semaphore(1);
    expect(await lock.acquire()).toBe(true);
    expect(await rlock.acquire()).toBe(true);
    expect(await sem.acquire()).toBe(true);
    const out = await m.list<boolean>();
    expect(await runChild(tryAcquireEach, [[lock, rlock, sem], out])).toBe(0);
    expect(await out.copy()).toEqual([false, false, false]);
    await lock.release();
    await rlock.release();
    await sem.release();

    const ns = await m.Namespace();
    const go = await m.Event();
    const p = startChild(acquireAndExit, [lock, ns, go]);
    expect(await eventually(() => ns.copy().then((c) => c.status), (s) => s === 'holding', 10_000)).toBe('holding');
    expect(await lock.acquire({ block: false })).toBe(false);
    await go.set();
    await p.join(10);
    expect(p.exitcode).toBe(0);
    expect(await lock.acquire({ timeout: 3 })).toBe(true);
    await lock.release();
  });

  it('proxies of a TCP manager with its own authkey work in a child (the token carries the key)', async () => {
    const tm = await newManager({ address: ['127.0.0.1', 0], authkey: 'not the process key' });
    const address = tm.address as [string, number];
    expect(address[0]).toBe('127.0.0.1');
    expect(address[1]).toBeGreaterThan(0);
    expect(String(tm)).toContain(`127.0.0.1:${address[1]}`);
    const d = await tm.dict();
    const l = await tm.list([1, 2, 3]);
    const ns = await tm.Namespace();
    expect(await runChild(fillSeed, [d, l, ns])).toBe(0);
    expect(await d.get('Job')).toBe('Engineer');
    expect(await l.copy()).toEqual([3, 2, 1]);
  });

  it('proxies sent through an mp.Queue work in the child', async () => {
    const inbox = new mp.Queue();
    const d = await m.dict<string, unknown>({ greeting: 'hello' });
    const l = await m.list();
    const lock = await m.Lock();
    const q = await m.Queue();
    const p = startChild(useProxiesFromQueue, [inbox]);
    await inbox.put({ d, l, lock, q });
    expect(await q.get({ timeout: 15 })).toBe('hello');
    await p.join(10);
    expect(p.exitcode).toBe(0);
    expect(await d.get('child')).toEqual({ pid: p.pid, kinds: ['DictProxy', 'ListProxy', 'AcquirerProxy', 'QueueProxy'] });
    expect(await l.copy()).toEqual(['from the child']);
    expect(await lock.acquire({ block: false })).toBe(true);
    inbox.close();
  });
});

// ---------------------------------------------------------------------------------------
// 5. BaseManager subclasses with registered types

type Remote<T> = mp.AutoProxy & { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never };
type CounterProxy = Remote<Pick<Counter, 'increment' | 'value' | 'slowDouble' | 'fail' | 'pid' | 'initTag'>> & {
  fork(): Promise<CounterProxy>;
};
type RecorderProxy = Remote<ReturnType<typeof makeRecorder>>;

type ClassManagerMethods = {
  Counter(start?: number): Promise<CounterProxy>;
  ValueOnly(start?: number): Promise<CounterProxy>;
  WithSecret(start?: number): Promise<CounterProxy>;
  Faulty(kind: string): Promise<mp.AutoProxy>;
};
class ClassManager extends mp.BaseManager {}
ClassManager.register('Counter', Counter, { methodToTypeid: { fork: 'Counter' } });
ClassManager.register('ValueOnly', Counter, { exposed: ['value'] });
ClassManager.register('WithSecret', Counter, { exposed: ['value', '_secret'] });
ClassManager.register('Faulty', Faulty);

type FunctionManagerMethods = {
  Counter(start?: number): Promise<CounterProxy>;
  ValueOnly(start?: number): Promise<CounterProxy>;
  Recorder(label: string): Promise<RecorderProxy>;
  RecorderLater(label: string): Promise<RecorderProxy>;
  Number(): Promise<never>;
  ghost(): Promise<never>;
  Faulty(kind: string): Promise<mp.AutoProxy>;
};
class FunctionManager extends mp.BaseManager {}
FunctionManager.register('Counter', makeCounter, { methodToTypeid: { fork: 'Counter' } });
FunctionManager.register('ValueOnly', makeCounter, { exposed: ['value'] });
FunctionManager.register('Recorder', makeRecorder);
FunctionManager.register('RecorderLater', makeRecorderLater);
FunctionManager.register('Number', makeNumber);
FunctionManager.register('ghost');
FunctionManager.register('Faulty', makeFaulty);

/** Start each kind of manager once, on first use (a failed start fails each test that needs it). */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= make();
    return p;
  };
}
const classManager = once(async () => {
  const cm = new ClassManager() as ClassManager & ClassManagerMethods;
  managers.push(cm);
  await cm.start(setInitTag, ['from the initializer']);
  return cm;
});
const functionManager = once(async () => {
  const fm = new FunctionManager() as FunctionManager & FunctionManagerMethods;
  managers.push(fm);
  await fm.start();
  return fm;
});

/** The shared checks of a registered counter type (a class or a function that makes one). */
async function checkCounter(mgr: { Counter(start?: number): Promise<CounterProxy>; ValueOnly(start?: number): Promise<CounterProxy> }) {
  const c = await mgr.Counter(5);
  expect(c).toBeInstanceOf(mp.AutoProxy);
  expect(c.typeid).toBe('Counter');
  expect(await c.increment()).toBe(6);
  expect(await c.increment(4)).toBe(10);
  expect(await c.slowDouble()).toBe(20);
  expect(await c.value()).toBe(20);
  const serverPid = await c.pid();
  expect(serverPid).not.toBe(process.pid);
  // the public methods are there, '_secret' and the Object.prototype ones are not
  expect(typeof c.increment).toBe('function');
  expect(Object.hasOwn(c, '_secret')).toBe(false);
  await notExposed(c._callmethod('_secret'), '_secret');
  await notExposed(c._callmethod('constructor'), 'constructor');
  // a method's own error: its class, the server's stack
  const err = await rejection(c.fail(), mp.ValueError, /counter at 20 failed/);
  expect(err.stack).toMatch(/at Counter\.fail .*manager-targets\.mjs/);
  // methodToTypeid: the result is a new managed Counter, as a proxy
  const f = await c.fork();
  expect(f).toBeInstanceOf(mp.AutoProxy);
  expect(f.typeid).toBe('Counter');
  expect(String(f)).not.toBe(String(c));
  expect(await f.increment()).toBe(21);
  expect(await c.value()).toBe(20);
  expect(await f.pid()).toBe(serverPid);
  // exposed limits the methods
  const v = await mgr.ValueOnly(3);
  expect(await v.value()).toBe(3);
  expect(Object.hasOwn(v, 'increment')).toBe(false);
  await notExposed(v._callmethod('increment'), 'increment');
  expect(await v.value()).toBe(3);
  return c;
}

describe('BaseManager subclasses with registered types', () => {
  it('a registered class (exported by a fixture): public methods, _ refused, exposed, methodToTypeid', async () => {
    const cm = await classManager();
    const c = await checkCounter(cm);
    expect(await c.initTag()).toBe('from the initializer');
    const s = await cm.WithSecret(1);
    expect(await s._callmethod('_secret')).toBe('hidden'); // exposed lists it explicitly
    await notExposed(s._callmethod('increment'), 'increment');
  });

  it('a throwing constructor gives its own error class with the server stack', async () => {
    const cm = await classManager();
    const rangeError = await rejection(cm.Faulty('range'), RangeError, /Faulty cannot be built \(range\)/);
    expect(rangeError.stack).toMatch(/at new Faulty .*manager-targets\.mjs/);
    const key = await rejection(cm.Faulty('key'), mp.KeyError, /Faulty cannot be built/);
    expect(key.stack).toMatch(/at new Faulty/);
    expect((await cm.Counter(1)).typeid).toBe('Counter'); // the server goes on
  });

  it('the same type made by a registered function', async () => {
    await checkCounter(await functionManager());
  });

  it('a registered function that throws gives its own error class with the server stack', async () => {
    const fm = await functionManager();
    const rangeError = await rejection(fm.Faulty('range'), RangeError, /Faulty cannot be built \(range\)/);
    expect(rangeError.stack).toMatch(/at new Faulty .*manager-targets\.mjs/);
    expect(rangeError.stack).toMatch(/at makeFaulty /);
    await rejection(fm.Faulty('key'), mp.KeyError, /Faulty cannot be built \(key\)/);
  });

  it('a registered plain function returning a plain object (sync or async)', async () => {
    const fm = await functionManager();
    const r = await fm.Recorder('rec');
    expect(r.typeid).toBe('Recorder');
    expect(await r.label()).toBe('rec');
    expect(await r.record('a')).toBe(1);
    expect(await r.record({ b: 2 })).toBe(2);
    expect(await r.entries()).toEqual(['a', { b: 2 }]);
    await notExposed(r._callmethod('_hidden'), '_hidden');
    const later = await fm.RecorderLater('later');
    expect(await later.label()).toBe('later');
    // each call makes a new object
    const other = await fm.Recorder('other');
    expect(await other.entries()).toEqual([]);
  });

  it('a callable returning a non-object is a TypeError; a typeid without a callable is a RemoteError', async () => {
    const fm = await functionManager();
    await rejection(fm.Number(), TypeError, /returned 5/);
    const err = await rejection(fm.ghost(), mp.RemoteError, /ghost/);
    expect((err as mp.RemoteError).cause).toBeInstanceOf(mp.ValueError);
  });

  it('register checks its arguments', () => {
    class Checked extends mp.BaseManager {}
    expect(() => Checked.register(5 as never)).toThrow(TypeError);
    expect(() => Checked.register('x', 42 as never)).toThrow(TypeError);
    expect(() => Checked.register('x', 'makeCounter' as never)).toThrow(TypeError);
    expect(() => Checked.register('x', makeCounter, 5 as never)).toThrow(TypeError);
    expect(() => Checked.register('x', makeCounter, { exposed: 'value' as never })).toThrow(TypeError);
    expect(() => Checked.register('x', makeCounter, { exposed: [1] as never })).toThrow(TypeError);
    expect(() => Checked.register('x', makeCounter, { proxytype: 5 as never })).toThrow(TypeError);
    expect(() => Checked.register('_x', makeCounter)).toThrow(mp.ValueError);
    expect(() => Checked.register('', makeCounter)).toThrow(mp.ValueError);
    expect(() => Checked.register('shutdown', makeCounter)).toThrow(mp.ValueError);
    expect(Object.hasOwn(Checked.prototype, 'x')).toBe(false);
    // registrations are per class
    Checked.register('y', makeCounter);
    expect(typeof (Checked.prototype as unknown as Record<string, unknown>).y).toBe('function');
    expect((mp.BaseManager.prototype as unknown as Record<string, unknown>).y).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------
// 7. reference counting

describe.concurrent('reference counting', () => {
  it("a child's proxies are released when it exits; what the parent holds stays", async () => {
    const rm = await newManager();
    const shared = await rm.list(['parent']);
    const base = await numberOfObjects(shared);
    expect(base).toBe(1);
    const ready = new mp.Queue<number>();
    const go = new mp.Event();
    const p = startChild(T('createAndHold'), [rm.address, 5, ready, go]);
    expect(await ready.get({ timeout: 15 })).toBe(5);
    expect(await numberOfObjects(shared)).toBe(base + 5);
    go.set();
    await p.join(10);
    expect(p.exitcode).toBe(0);
    expect(await eventually(() => numberOfObjects(shared), (n) => n === base, 8000)).toBe(base);
    expect(await shared.copy()).toEqual(['parent']);
    ready.close();
  });

  it('a proxy passed to a child survives the end of the child (the parent still holds it)', async () => {
    const rm = await newManager();
    const d = await rm.dict();
    const l = await rm.list(range(3));
    const ns = await rm.Namespace();
    expect(await runChild(fillSeed, [d, l, ns])).toBe(0);
    await sleep(1300); // past the server's grace period for objects nobody holds
    expect(await numberOfObjects(d)).toBe(3);
    expect(await d.get('name')).toBe('Alice');
    expect(await l.copy()).toEqual([2, 1, 0]);
  });

  it('a dropped proxy, once garbage collected, is freed on the server (node --expose-gc)', async () => {
    const run = await runNode(['--expose-gc', fixturePath('manager-gc.mjs')], 20_000);
    expect(run.timedOut, run.stderr).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    expect(run.reports).toHaveLength(1);
    const r = run.reports[0] as { length: number; before: number; during: number; after: number; ms: number; kept: boolean };
    expect(r.length).toBe(4);
    expect(r.before).toBe(1);
    expect(r.during).toBe(2);
    expect(r.after).toBe(1);
    expect(r.ms).toBeLessThan(5000);
    expect(r.kept).toBe(true);
  });
});

interface NodeRun {
  code: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
  reports: unknown[];
}

/** Run node with `args`, SIGKILLed after `ms`. */
function runNode(args: string[], ms: number, env: Record<string, string> = {}): Promise<NodeRun> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: ms, killSignal: 'SIGKILL', env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        timedOut: e?.killed === true,
        stdout,
        stderr,
        ms: performance.now() - t0,
        reports: stdout
          .split('\n')
          .filter((line) => line.startsWith('{"report"'))
          .map((line) => (JSON.parse(line) as { report: unknown }).report),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------
// 8. a server in a child process, reached over TCP

interface StoreProxy extends mp.AutoProxy {
  push(x: unknown): Promise<number>;
  all(): Promise<unknown[]>;
  pid(): Promise<number>;
}
class StoreClient extends mp.BaseManager {
  declare getStore: () => Promise<StoreProxy>;
}
StoreClient.register('getStore');

describe('getServer().serveForever() in a child process', () => {
  it('a client connects over TCP with the authkey, uses the served object, and the server shuts down', async () => {
    const report = new mp.Queue<unknown>();
    const control = new mp.Queue<string>();
    const p = startChild(serveStore, [report, control, 'secret']);
    const { address, pid } = (await report.get({ timeout: 15 })) as { address: [string, number]; pid: number };
    expect(pid).toBe(p.pid);
    expect(address[0]).toBe('127.0.0.1');
    expect(address[1]).toBeGreaterThan(0);

    const wrong = new StoreClient({ address, authkey: 'not the secret' });
    await rejection(wrong.connect(), mp.AuthenticationError);
    const none = new StoreClient({ address, authkey: null });
    await rejection(none.connect(), mp.AuthenticationError);

    const client = new StoreClient({ address, authkey: 'secret' });
    managers.push(client);
    await client.connect();
    expect(client.address).toEqual(address);
    await rejection(client.connect(), mp.ProcessError);
    const store = await client.getStore();
    expect(store).toBeInstanceOf(mp.AutoProxy);
    expect(await store.push('a')).toBe(1);
    expect(await store.push({ b: 2 })).toBe(2);
    const again = await client.getStore(); // the callable returns the same store
    expect(await again.all()).toEqual(['a', { b: 2 }]);
    expect(await again.pid()).toBe(p.pid);

    await control.put('stop');
    expect(await report.get({ timeout: 10 })).toBe('served');
    await p.join(10);
    expect(p.exitcode).toBe(0);
    await rejection(store.all(), mp.EOFError);
    await client.shutdown();
    // nobody is listening there any more
    const late = new StoreClient({ address, authkey: 'secret' });
    await rejection(late.connect(), mp.EOFError);
    report.close();
    control.close();
  });
});

// ---------------------------------------------------------------------------------------
// 9. SharedMemoryManager

describe('SharedMemoryManager', () => {
  it('SharedMemory and ShareableList are usable, listed, and unlinked by shutdown', async () => {
    const smm = new mp.SharedMemoryManager();
    managers.push(smm);
    await rejection(smm.SharedMemory(16), mp.ProcessError);
    await smm.start();
    const shm = await smm.SharedMemory(64);
    expect(shm).toBeInstanceOf(mp.SharedMemory);
    expect(shm.size).toBeGreaterThanOrEqual(64);
    shm.buf[0] = 42;
    shm.buf[63] = 7;
    const other = new mp.SharedMemory(shm.name);
    expect([other.buf[0], other.buf[63]]).toEqual([42, 7]);
    other.close();
    const sl = await smm.ShareableList([1, 'two', 3.5, null, true]);
    expect(sl).toBeInstanceOf(mp.ShareableList);
    expect(sl.get(1)).toBe('two');
    sl.set(0, 10);
    const view = new mp.ShareableList(null, { name: sl.shm.name });
    expect(view.get(0)).toBe(10);
    view.close();
    const names = [shm.name, sl.shm.name];
    expect((await smm.listSegments()).sort()).toEqual([...names].sort());
    if (hasProc) for (const name of names) expect(existsSync(`/dev/shm/${name.replace(/^\//, '')}`)).toBe(true);

    await smm.shutdown();
    for (const name of names) {
      if (hasProc) expect(existsSync(`/dev/shm/${name.replace(/^\//, '')}`), name).toBe(false);
      const err = await failure(() => new mp.SharedMemory(name));
      expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    }
    // what this process mapped stays usable until it closes it
    expect(shm.buf[0]).toBe(42);
    shm.close();
    sl.close();
    await smm.shutdown();
  });
});

// ---------------------------------------------------------------------------------------
// 10. lifecycle

describe('lifecycle', () => {
  it('await using shuts the manager down: its process is gone and its proxies reject with EOFError', async () => {
    let pids: number[] = [];
    let d: mp.DictProxy | undefined;
    {
      await using um = new mp.SyncManager();
      pids = await startedPids(() => um.start());
      expect(pids).toHaveLength(1);
      expect(isRunning(pids[0]!)).toBe(true);
      d = await um.dict({ a: 1 });
      expect(await d.get('a')).toBe(1);
    }
    expect(await waitGone(pids[0]!, 5000)).toBe(true);
    await rejection(d!.get('a'), mp.EOFError, /closed|shut down/, 3000);
  });

  it('shutdown twice is fine, start twice or after shutdown is a ProcessError, and the process is gone', async () => {
    const sm = new mp.SyncManager();
    managers.push(sm);
    await sm.shutdown(); // never started: nothing to do
    await rejection(sm.dict(), mp.ProcessError, /start/);
    const pids = await startedPids(() => sm.start());
    expect(pids).toHaveLength(1);
    expect(sm.address).not.toBeNull();
    await rejection(sm.start(), mp.ProcessError);
    await rejection(sm.connect(), mp.ProcessError);
    expect(() => sm.getServer()).toThrow(mp.ProcessError);
    const l = await sm.list([1]);
    const t = await timed(() => sm.shutdown());
    expect(t.error).toBeUndefined();
    expect(t.ms).toBeLessThan(3000);
    expect(String(sm)).toMatch(/^<SyncManager shutdown/);
    await sm.shutdown();
    await settles(sm.join(1), 'join after shutdown');
    expect(isRunning(pids[0]!)).toBe(false);
    expect(mp.activeChildren().some((p) => p.pid === pids[0])).toBe(false);
    await rejection(l.append(2), mp.EOFError);
    await rejection(sm.start(), mp.ProcessError);
    await rejection(sm.list(), mp.ProcessError);
  });

  it('calls waiting in the server reject with EOFError when it shuts down or dies', async () => {
    const sm = await newManager();
    const lock = await sm.Lock();
    await lock.acquire();
    const blocked = lock.acquire(); // waits for a release that never comes
    const q = await sm.Queue();
    const getting = q.get();
    expect(await pendingAfter(Promise.race([blocked, getting]), 30)).toBe(true);
    await sm.shutdown();
    await rejection(blocked, mp.EOFError, undefined, 3000);
    await rejection(getting, mp.EOFError, undefined, 3000);

    // killed outright
    const km = new mp.SyncManager();
    managers.push(km);
    const [pid] = await startedPids(() => km.start());
    const ev = await km.Event();
    const waiting = ev.wait();
    expect(await pendingAfter(waiting, 30)).toBe(true);
    process.kill(pid!, 'SIGKILL');
    await rejection(waiting, mp.EOFError, undefined, 3000);
    await rejection(ev.isSet(), mp.EOFError, undefined, 3000);
    const t = await timed(() => km.shutdown());
    expect(t.error).toBeUndefined();
    expect(t.ms).toBeLessThan(3000);
  });

  it('a script that never shuts its manager down exits promptly and leaves no process behind', async () => {
    const tag = `manager-noshutdown-${process.pid}-${Date.now()}`;
    const run = await runNode([fixturePath('manager-noshutdown.mjs')], 15_000, { MP_TEST_TAG: tag });
    expect(run.timedOut, run.stderr).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    expect(run.ms).toBeLessThan(8000);
    const r = run.reports[0] as { pids: number[]; answer: number; length: number };
    expect(r.answer).toBe(42);
    expect(r.length).toBe(2);
    expect(r.pids).toHaveLength(1);
    expect(await waitGone(r.pids[0]!, 5000)).toBe(true);
    if (hasProc) expect(await taggedProcessesAfter(tag)).toEqual([]);
  });

  it('options are checked', () => {
    expect(() => new mp.SyncManager({ address: 5 as never })).toThrow(TypeError);
    expect(() => new mp.SyncManager({ address: ['127.0.0.1', 70000] })).toThrow();
    expect(() => new mp.SyncManager({ maxMessageBytes: 10 })).toThrow();
    expect(() => new mp.SyncManager({ shutdownTimeout: -1 })).toThrow(TypeError);
    expect(() => new mp.SyncManager(5 as never)).toThrow(TypeError);
    // A socket path longer than sun_path: Node would bind a name cut short (left behind).
    const long = `/tmp/mp-manager-${process.pid}-${'m'.repeat(120)}`;
    expect(() => new mp.SyncManager({ address: long })).toThrow(mp.ValueError);
    expect(() => new mp.SyncManager({ address: long })).toThrow(/options\.address is a socket path of \d+ bytes.*AF_UNIX path too long/);
  });

  it('a non-loopback address without an authkey (or an empty one) refuses to serve: getServer()', () => {
    for (const authkey of [null, '', Buffer.alloc(0)]) {
      expect(() => new mp.SyncManager({ address: ['0.0.0.0', 0], authkey }).getServer()).toThrow(mp.ValueError);
    }
  });

  it('a non-loopback address without an authkey refuses to start (ValueError)', async () => {
    const sm = new mp.SyncManager({ address: ['0.0.0.0', 0], authkey: null });
    managers.push(sm);
    await rejection(sm.start(), mp.ValueError, /authkey/);
    const empty = new mp.SyncManager({ address: ['0.0.0.0', 0], authkey: '' });
    managers.push(empty);
    await rejection(empty.start(), mp.ValueError, /authkey/);
  });
});
