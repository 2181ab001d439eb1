// Semaphore and BoundedSemaphore, in this process and across real processes (mp.Process
// with targets in fixtures/sync-targets.mjs).
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';
import { fixtureUrl } from './helpers/scripts.js';

const T = (name: string) => ({ module: fixtureUrl('sync-targets.mjs'), name });

async function runAll(procs: mp.Process[]): Promise<void> {
  for (const p of procs) p.start();
  for (const p of procs) await p.join(60);
  expect(procs.map((p) => p.exitcode)).toEqual(procs.map(() => 0));
}

describe('Semaphore', () => {
  it('counts units: acquire takes, release gives back, getValue reads', async () => {
    const s = new mp.Semaphore(2);
    expect(s.getValue()).toBe(2);
    expect(s.acquireSync()).toBe(true);
    expect(await s.acquire()).toBe(true);
    expect(s.getValue()).toBe(0);
    expect(s.acquireSync({ block: false })).toBe(false);
    expect(await s.acquire({ block: false })).toBe(false);
    expect(s.acquireSync({ timeout: -1 })).toBe(false); // negative = 0
    s.release();
    s.release();
    s.release(); // a plain Semaphore may go above its initial value
    expect(s.getValue()).toBe(3);
    expect(String(s)).toBe('<Semaphore(value=3)>');
    expect(new mp.Semaphore().getValue()).toBe(1);
  });

  it('checks its initial value', () => {
    expectThrows(() => new mp.Semaphore(-1), mp.ValueError, /must be >= 0/);
    expectThrows(() => new mp.Semaphore(1.5), TypeError, /value must be an integer/);
    expectThrows(() => new mp.Semaphore('2' as never), TypeError, /value/);
    const zero = new mp.Semaphore(0);
    expect(zero.acquireSync({ block: false })).toBe(false);
  });

  it('times out after roughly the timeout, sync and async', async () => {
    const s = new mp.Semaphore(0);
    let t = performance.now();
    expect(s.acquireSync({ timeout: 0.2 })).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    t = performance.now();
    expect(await s.acquire({ timeout: 0.2 })).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    expect(await s.acquire({ signal: ac.signal })).toBe(false);
  });

  it('hold(), holdAsync() and withLock() give the unit back', async () => {
    const s = new mp.Semaphore(1);
    {
      using _ = s.hold();
      expect(s.getValue()).toBe(0);
    }
    expect(s.getValue()).toBe(1);
    {
      await using _ = await s.holdAsync();
      expect(s.getValue()).toBe(0);
    }
    await expect(s.withLock(() => Promise.reject(new Error('inside')))).rejects.toThrow('inside');
    expect(await s.withLock(() => s.getValue())).toBe(0);
    expect(s.getValue()).toBe(1);
  });

  it('an async acquire is woken by a release from another process; the loop keeps ticking', async () => {
    const s = new mp.Semaphore(0);
    const p = new mp.Process({ target: T('releaseOnce'), args: [s, mp.RawArray('i', 1)] });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const got = s.acquire({ timeout: 30 });
    await new Promise((r) => setTimeout(r, 100));
    p.start();
    expect(await got).toBe(true);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
    await p.join();
  });

  it('Semaphore(1) keeps a counter exact across 3 processes (sync and async)', async () => {
    const s = new mp.Semaphore(1);
    const counter = mp.RawArray('i', 1);
    const n = 3000;
    await runAll(
      ['countUnder', 'countUnder', 'countUnderAsync'].map((name) => new mp.Process({ target: T(name), args: [s, counter, n] })),
    );
    expect(counter[0]).toBe(3 * n);
    expect(s.getValue()).toBe(1);
  });

  it('bounds concurrency across processes: never more than its value inside', async () => {
    const s = new mp.Semaphore(2);
    const current = mp.Value('i', 0);
    const highest = mp.Value('i', 0);
    await runAll([0, 1, 2, 3].map(() => new mp.Process({ target: T('boundedWork'), args: [s, current, highest, 40] })));
    expect(highest.value).toBeLessThanOrEqual(2);
    expect(highest.value).toBeGreaterThanOrEqual(1);
    expect(current.value).toBe(0);
    expect(s.getValue()).toBe(2);
  });
});

describe('BoundedSemaphore', () => {
  it('release above the initial value is a ValueError, here and in another process', async () => {
    const b = new mp.BoundedSemaphore(2);
    expect(String(b)).toBe('<BoundedSemaphore(value=2, maxvalue=2)>');
    expectThrows(() => b.release(), mp.ValueError, /released too many times/);
    b.acquireSync();
    const out = mp.RawArray('i', 1);
    let p = new mp.Process({ target: T('releaseOnce'), args: [b, out] });
    await runAll([p]);
    expect(out[0]).toBe(1);
    p = new mp.Process({ target: T('releaseOnce'), args: [b, out] });
    await runAll([p]);
    expect(out[0]).toBe(2);
    expect(b.getValue()).toBe(2);
    expect(new mp.BoundedSemaphore().getValue()).toBe(1);
    expectThrows(() => new mp.BoundedSemaphore(0).release(), mp.ValueError, /too many/);
  });

  it('is closed idempotently and refuses use after close', () => {
    const b = new mp.BoundedSemaphore(1);
    b.close();
    b.close();
    expectThrows(() => b.acquireSync(), mp.ValueError, /closed/);
  });
});
