// Event, in this process and across real processes (targets in fixtures/sync-targets.mjs).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';
import { fixtureUrl } from './helpers/scripts.js';

const require = createRequire(import.meta.url);
const { native } = require('../dist/native.js') as { native: { pendingWaits(): number } };
const T = (name: string) => ({ module: fixtureUrl('sync-targets.mjs'), name });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(name: string, args: unknown[]): mp.Process {
  const p = new mp.Process({ target: T(name), args });
  p.start();
  return p;
}

describe('Event', () => {
  it('isSet, set, clear, and wait returning the flag', async () => {
    const ev = new mp.Event();
    expect(ev.isSet()).toBe(false);
    expect(String(ev)).toBe('<Event unset>');
    expect(ev.waitSync(0)).toBe(false);
    expect(await ev.wait(0)).toBe(false);
    expect(ev.waitSync(-1)).toBe(false);
    ev.set();
    ev.set();
    expect(ev.isSet()).toBe(true);
    expect(String(ev)).toBe('<Event set>');
    expect(ev.waitSync()).toBe(true);
    expect(await ev.wait(5)).toBe(true);
    ev.clear();
    ev.clear();
    expect(ev.isSet()).toBe(false);
    expectThrows(() => ev.waitSync('1' as never), TypeError, /timeout/);
  });

  it('a wait times out after about the timeout, sync and async', async () => {
    const ev = new mp.Event();
    let t = performance.now();
    expect(ev.waitSync(0.2)).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    t = performance.now();
    expect(await ev.wait(0.2)).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
  });

  it('a set() during a wait counts even when a clear() follows before the waiter runs', async () => {
    const ev = new mp.Event();
    const waiting = ev.wait(10);
    ev.set();
    ev.clear();
    expect(await waiting).toBe(true);
    expect(ev.isSet()).toBe(false);
  });

  it('is set by another process: an async wait resolves true and the loop keeps ticking', async () => {
    const ev = new mp.Event();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const p = start('setLater', [ev, 300]);
    expect(await ev.wait(30)).toBe(true);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(20);
    await p.join(20);
  });

  it('wakes waiters in other processes, sync and async, when set here', async () => {
    const ev = new mp.Event();
    const out = mp.RawArray('i', 3);
    const procs = [0, 1, 2].map((i) => start(i === 2 ? 'eventWaiterAsync' : 'eventWaiter', [ev, out, i]));
    await sleep(300);
    expect([...out]).toEqual([0, 0, 0]);
    ev.set();
    for (const p of procs) await p.join(20);
    expect([...out]).toEqual([1, 1, 1]);
  });

  it('1,000 pending async waits leave fs and zlib working, and one set() wakes them all', async () => {
    const ev = new mp.Event();
    const before = native.pendingWaits();
    const waits = Array.from({ length: 1000 }, () => ev.wait(60));
    await sleep(50);
    expect(native.pendingWaits() - before).toBe(1000);
    const t = performance.now();
    const text = await readFile(new URL(import.meta.url), 'utf8');
    const zipped = await promisify(gzip)(Buffer.from(text));
    expect(text).toContain('1,000 pending async waits');
    expect(zipped.length).toBeGreaterThan(0);
    expect(performance.now() - t).toBeLessThan(5000);
    const p = start('setLater', [ev, 0]);
    const results = await Promise.all(waits);
    expect(results.every((r) => r === true)).toBe(true);
    expect(native.pendingWaits()).toBe(before);
    await p.join(20);
  });

  it('is closed idempotently and refuses use after close', () => {
    const ev = new mp.Event();
    ev.close();
    ev.close();
    expectThrows(() => ev.set(), mp.ValueError, /closed/);
  });
});
