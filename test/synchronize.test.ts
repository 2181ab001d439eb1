import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { startChild } from './helpers/child.js';

const require = createRequire(import.meta.url);
const { toHandle } = require('../dist/reduction.js');

const handle = (obj: unknown) => (obj as { [k: symbol]: () => unknown })[toHandle]();

describe('Lock', () => {
  it('acquires, refuses a second non-blocking acquire, and releases', async () => {
    const lock = new mp.Lock();
    expect(lock.acquireSync()).toBe(true);
    expect(lock.acquireSync({ block: false })).toBe(false);
    expect(await lock.acquire({ block: false })).toBe(false);
    lock.release();
    expect(await lock.acquire()).toBe(true);
    lock.release();
  });

  it('release of an unlocked Lock is a ValueError', () => {
    const lock = new mp.Lock();
    expect(() => lock.release()).toThrow(mp.ValueError);
  });

  it('times out after roughly the timeout, sync and async', async () => {
    const lock = new mp.Lock();
    lock.acquireSync();
    let t = performance.now();
    expect(lock.acquireSync({ timeout: 0.2 })).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    t = performance.now();
    expect(await lock.acquire({ timeout: 0.2 })).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    expect(lock.acquireSync({ timeout: -1 })).toBe(false); // negative = 0
    lock.release();
  });

  it('hold() and holdAsync() release at scope exit; withLock releases on throw', async () => {
    const lock = new mp.Lock();
    {
      using _ = lock.hold();
      expect(lock.acquireSync({ block: false })).toBe(false);
    }
    expect(lock.acquireSync({ block: false })).toBe(true);
    lock.release();
    {
      await using _ = await lock.holdAsync();
      expect(lock.acquireSync({ block: false })).toBe(false);
    }
    await expect(lock.withLock(() => Promise.reject(new Error('inside')))).rejects.toThrow('inside');
    expect(await lock.withLock(() => 42)).toBe(42);
    expect(lock.acquireSync({ block: false })).toBe(true);
    lock.release();
  });

  it('rejects bad options with a TypeError naming them', async () => {
    const lock = new mp.Lock();
    // Checked whether or not the lock is free, and nothing is taken on a bad call.
    expect(() => lock.acquireSync({ timeout: 'soon' as unknown as number })).toThrow(/options\.timeout/);
    expect(() => lock.acquireSync(5 as never)).toThrow(TypeError);
    await expect(lock.acquire({ timeout: 'soon' as unknown as number })).rejects.toThrow(TypeError);
    lock.acquireSync();
    expect(() => lock.acquireSync({ timeout: 'soon' as unknown as number })).toThrow(/options\.timeout/);
    lock.release();
    expect(lock.acquireSync({ block: false })).toBe(true);
    lock.release();
  });

  it('is closed idempotently and refuses use after close', () => {
    const lock = new mp.Lock();
    lock.close();
    lock.close();
    expect(() => lock.acquireSync()).toThrow(mp.ValueError);
  });

  it('keeps a counter exact across 3 processes (sync and async acquire)', async () => {
    const lock = new mp.Lock();
    const counter = mp.RawArray('i', 1);
    const n = 5000;
    const children = ['count', 'count', 'countAsync'].map((op) => {
      const c = startChild('lock-worker.cjs');
      c.send({ op, lock: handle(lock), counter: handle(counter), n });
      return c;
    });
    for (const c of children) expect(await c.next()).toBe('done');
    await Promise.all(children.map((c) => c.exited));
    expect(counter[0]).toBe(3 * n);
  });

  it('is released by another process (a Lock has no owner)', async () => {
    const lock = new mp.Lock();
    lock.acquireSync();
    const c = startChild('lock-worker.cjs');
    c.send({ op: 'release', lock: handle(lock) });
    expect(await c.next()).toBe('done');
    expect(lock.acquireSync({ block: false })).toBe(true);
  });

  it('wakes a waiter in this process when another process releases; the event loop keeps running', async () => {
    const lock = new mp.Lock();
    const c = startChild('lock-worker.cjs');
    c.send({ op: 'holdFor', lock: handle(lock), ms: 300, exit: false });
    expect(await c.next()).toBe('held');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const got = await lock.acquire({ timeout: 10 });
    clearInterval(timer);
    expect(got).toBe(true);
    expect(ticks).toBeGreaterThan(5);
    lock.release();
    c.proc.kill();
  });

  it('is taken over within about a second when its holder is SIGKILLed, with MP_OWNER_DIED', async () => {
    for (const mode of ['sync', 'async'] as const) {
      const lock = new mp.Lock();
      const c = startChild('lock-worker.cjs');
      c.send({ op: 'hold', lock: handle(lock) });
      expect(await c.next()).toBe('held');
      const warnings: { code?: string }[] = [];
      const onWarning = (w: Error & { code?: string }) => warnings.push(w);
      process.on('warning', onWarning);
      const blocked = mode === 'sync' ? lock.acquireSync({ block: false }) : await lock.acquire({ block: false });
      expect(blocked).toBe(false);
      c.proc.kill('SIGKILL');
      await c.exited;
      const t = performance.now();
      const got = mode === 'sync' ? lock.acquireSync({ timeout: 5 }) : await lock.acquire({ timeout: 5 });
      expect(got).toBe(true);
      expect(performance.now() - t).toBeLessThan(1500);
      await new Promise((r) => setImmediate(r));
      process.off('warning', onWarning);
      expect(warnings.some((w) => w.code === 'MP_OWNER_DIED')).toBe(true);
      lock.release();
    }
  });
});

describe('RLock', () => {
  it('is recursive for its owner and counts releases', () => {
    const r = new mp.RLock();
    expect(r.acquireSync()).toBe(true);
    expect(r.acquireSync()).toBe(true);
    r.release();
    r.release();
    expect(() => r.release()).toThrow(mp.ValueError);
  });

  it('release by a process that does not own it is a ValueError', async () => {
    const r = new mp.RLock();
    r.acquireSync();
    const c = startChild('lock-worker.cjs');
    c.send({ op: 'release', lock: handle(r), exit: false });
    const reply = (await c.next()) as { error: string; code: string };
    expect(reply.code).toBe('ERR_MP_VALUE');
    c.send({ op: 'tryAcquire', lock: handle(r) });
    expect(await c.next()).toBe(false);
    r.release();
    await c.exited;
  });

  it('keeps a counter exact across 2 processes', async () => {
    const r = new mp.RLock();
    const counter = mp.RawArray('i', 1);
    const children = [0, 1].map(() => {
      const c = startChild('lock-worker.cjs');
      c.send({ op: 'count', lock: handle(r), counter: handle(counter), n: 5000 });
      return c;
    });
    for (const c of children) expect(await c.next()).toBe('done');
    expect(counter[0]).toBe(10000);
  });

  it('is taken over when its holder dies, and then behaves as owned here', async () => {
    const r = new mp.RLock();
    const c = startChild('lock-worker.cjs');
    c.send({ op: 'hold', lock: handle(r) });
    expect(await c.next()).toBe('held');
    c.proc.kill('SIGKILL');
    await c.exited;
    const onWarning = () => {};
    process.on('warning', onWarning);
    expect(r.acquireSync({ timeout: 5 })).toBe(true);
    process.off('warning', onWarning);
    expect(r.acquireSync()).toBe(true);
    r.release();
    r.release();
    expect(() => r.release()).toThrow(mp.ValueError);
  });
});

describe('RLock ownership', () => {
  const { revive } = require('../dist/reduction.js') as { revive(h: unknown): unknown };

  it('two objects for one RLock in one thread (sent away and received back) share the recursion depth', () => {
    const r = new mp.RLock();
    const again = revive(handle(r)) as mp.RLock;
    expect(again).not.toBe(r);
    expect(r.acquireSync()).toBe(true);
    expect(again.acquireSync({ block: false })).toBe(true); // re-entry, not a deadlock
    expect(String(again)).toBe(`<RLock(${process.pid}, 2)>`);
    again.release();
    r.release();
    expect(String(r)).toBe('<RLock(None, 0)>');
    expect(() => again.release()).toThrow(mp.ValueError);
    // Received first, then the original is used: the same.
    const third = revive(handle(again)) as mp.RLock;
    third.acquireSync();
    expect(r.isOwned()).toBe(true);
    r.release();
    expect(third.isOwned()).toBe(false);
  });

  it('belongs to a thread: a worker thread of the same process cannot take or release it', async () => {
    const { Worker } = await import('node:worker_threads');
    const r = new mp.RLock();
    r.acquireSync();
    const dist = new URL('../dist/', import.meta.url);
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       require(workerData.dist + 'index.js');
       const r = require(workerData.dist + 'reduction.js').revive(workerData.h);
       let releaseError = null;
       try { r.release(); } catch (e) { releaseError = e.code; }
       parentPort.postMessage({ got: r.acquireSync({ block: false }), releaseError, repr: String(r) });`,
      { eval: true, workerData: { h: handle(r), dist: dist.pathname } },
    );
    const reply = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(reply).toEqual({ got: false, releaseError: 'ERR_MP_VALUE', repr: `<RLock(${process.pid}, nonzero)>` });
    await w.terminate();
    r.release();
  });
});
