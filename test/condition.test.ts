// Condition, in this process and across real processes (targets in fixtures/sync-targets.mjs).
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';
import { fixtureUrl } from './helpers/scripts.js';

const T = (name: string) => ({ module: fixtureUrl('sync-targets.mjs'), name });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, seconds = 20): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${seconds} s: ${String(check)}`);
    await sleep(10);
  }
}

function start(name: string, args: unknown[]): mp.Process {
  const p = new mp.Process({ target: T(name), args });
  p.start();
  return p;
}

describe('Condition', () => {
  it('wait and notify without holding the lock are ValueErrors', async () => {
    const c = new mp.Condition();
    expectThrows(() => c.waitSync(0), mp.ValueError, /un-acquired lock/);
    expectThrows(() => c.notify(), mp.ValueError, /un-acquired lock/);
    expectThrows(() => c.notifyAll(), mp.ValueError, /un-acquired lock/);
    expectThrows(() => c.waitForSync(() => true), mp.ValueError, /un-acquired lock/);
    await expect(c.wait(0)).rejects.toBeInstanceOf(mp.ValueError);
    await expect(c.waitFor(() => true)).rejects.toBeInstanceOf(mp.ValueError);
    expectThrows(() => c.release(), mp.ValueError, /un-acquired RLock/);
  });

  it('wait(timeout) is false after about the timeout, and the lock is held again, at its depth', async () => {
    const c = new mp.Condition();
    expect(String(c)).toBe('<Condition(<RLock(None, 0)>, 0)>');
    c.acquireSync();
    c.acquireSync();
    let t = performance.now();
    expect(c.waitSync(0.2)).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    t = performance.now();
    expect(await c.wait(0.2)).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    expect(c.waitSync(-5)).toBe(false); // negative = 0
    c.release();
    c.release();
    expect(() => c.release()).toThrow(mp.ValueError);
  });

  it('waitFor returns the predicate value: at once, after a notify, or its last value on timeout', async () => {
    const c = new mp.Condition(new mp.Lock());
    await c.acquire();
    expect(c.waitForSync(() => 'ready')).toBe('ready');
    expect(c.waitForSync(() => 0, 0.1)).toBe(0);
    expect(await c.waitFor(async () => '', 0.1)).toBe('');
    let n = 0;
    setTimeout(async () => {
      await c.acquire();
      n = 7;
      c.notify();
      c.release();
    }, 50);
    expect(await c.waitFor(() => n, 10)).toBe(7);
    c.release();
    expectThrows(() => c.waitForSync('x' as never), TypeError, /predicate/);
  });

  it('with a plain Lock: hold(), holdAsync(), withLock()', async () => {
    const lock = new mp.Lock();
    const c = new mp.Condition(lock);
    {
      using _ = c.hold();
      expect(lock.acquireSync({ block: false })).toBe(false);
    }
    {
      await using _ = await c.holdAsync();
      expect(lock.acquireSync({ block: false })).toBe(false);
    }
    expect(await c.withLock(() => 3)).toBe(3);
    expect(lock.acquireSync({ block: false })).toBe(true);
    lock.release();
    expectThrows(() => new mp.Condition({} as never), TypeError, /Lock or RLock/);
  });

  it('notify(n) wakes exactly n of the processes waiting, notifyAll the rest', async () => {
    const c = new mp.Condition();
    const ready = mp.RawArray('i', 1);
    const woken = mp.RawArray('i', 1);
    const procs = [
      start('condWaiter', [c, ready, woken]),
      start('condWaiter', [c, ready, woken]),
      start('condWaiterAsync', [c, ready, woken]),
      start('condWaiterAsync', [c, ready, woken]),
    ];
    // Each counts itself in `ready` holding the lock and registers before releasing it.
    await until(() => ready[0] === 4);
    await c.acquire();
    expect(String(c)).toMatch(/, 4\)>$/);
    c.notify();
    c.release();
    await until(() => woken[0] === 1);
    await sleep(300);
    expect(woken[0]).toBe(1);
    c.acquireSync();
    c.notify(2);
    c.release();
    await until(() => woken[0] === 3);
    await sleep(300);
    expect(woken[0]).toBe(3);
    await c.withLock(() => c.notifyAll());
    await until(() => woken[0] === 4);
    for (const p of procs) await p.join(20);
    expect(procs.map((p) => p.exitcode)).toEqual([0, 0, 0, 0]);
  });

  it('a notify does not reach a waiter that came after it', async () => {
    const c = new mp.Condition();
    const ready = mp.RawArray('i', 1);
    const woken = mp.RawArray('i', 1);
    c.acquireSync();
    c.notify(5); // nobody waits: nothing is saved up
    c.release();
    const p = start('condWaiter', [c, ready, woken, 0.5]);
    await p.join(20);
    expect(woken[0]).toBe(0);
    expect(ready[0]).toBe(1);
  });

  it("keeps a counter exact across 3 processes under its lock", async () => {
    const c = new mp.Condition();
    const counter = mp.RawArray('i', 1);
    const n = 3000;
    const procs = ['countUnder', 'countUnder', 'countUnderAsync'].map((name) => start(name, [c, counter, n]));
    for (const p of procs) await p.join(60);
    expect(procs.map((p) => p.exitcode)).toEqual([0, 0, 0]);
    expect(counter[0]).toBe(3 * n);
  });

  it('carries a producer and a consumer in different processes (waitFor, notify, notifyAll)', async () => {
    const c = new mp.Condition(new mp.Lock());
    const box = mp.RawArray('i', 2);
    const n = 300;
    const consumer = start('condConsume', [c, box, n]);
    const producer = start('condProduce', [c, box, n, 3]);
    await Promise.all([consumer.join(60), producer.join(60)]);
    expect([consumer.exitcode, producer.exitcode]).toEqual([0, 0]);
    expect([box[0], box[1]]).toEqual([0, n]);
  });

  it('an async wait leaves the event loop running and is woken from another process', async () => {
    const c = new mp.Condition();
    const ready = mp.RawArray('i', 1);
    const woken = mp.RawArray('i', 1);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await c.acquire();
    const waiting = c.wait(30);
    const p = start('condWaiter', [c, ready, woken, 30]); // waits too, then we notify both
    await sleep(200);
    await until(() => ready[0] === 1);
    const notifier = new mp.Condition(); // a different condition does not wake ours
    notifier.acquireSync();
    notifier.notifyAll();
    notifier.release();
    await c.acquire();
    c.notifyAll();
    c.release();
    expect(await waiting).toBe(true);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(20);
    c.release();
    await p.join(20);
    expect(woken[0]).toBe(1);
  });

  it('its lock is taken over when a holder is SIGKILLed mid-critical-section, with MP_OWNER_DIED', async () => {
    for (const lock of [undefined, new mp.Lock()]) {
      const c = new mp.Condition(lock);
      const ready = mp.RawArray('i', 1);
      const p = start('condHoldForever', [c, ready]);
      await until(() => ready[0] === 1);
      expect(c.acquireSync({ block: false })).toBe(false);
      const warnings: { code?: string }[] = [];
      const onWarning = (w: Error & { code?: string }) => warnings.push(w);
      process.on('warning', onWarning);
      p.kill();
      await p.join(20);
      const t = performance.now();
      expect(await c.acquire({ timeout: 5 })).toBe(true);
      expect(performance.now() - t).toBeLessThan(1500);
      await new Promise((r) => setImmediate(r));
      process.off('warning', onWarning);
      expect(warnings.some((w) => w.code === 'MP_OWNER_DIED')).toBe(true);
      // And the condition works on: a wait times out and gives the lock back.
      expect(await c.wait(0.05)).toBe(false);
      c.notifyAll();
      c.release();
    }
  });
});
