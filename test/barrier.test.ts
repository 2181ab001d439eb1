// Barrier, in this process and across real processes (targets in fixtures/sync-targets.mjs,
// actions in fixtures/sync-actions.cjs, a whole program in fixtures/sync-barrier-main.mjs).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as mp from 'multiprocessing';
import { afterAll, describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';
import { fixturePath, fixtureUrl, runScript } from './helpers/scripts.js';

const require = createRequire(import.meta.url);
const actions = require('./fixtures/sync-actions.cjs') as { logAction(): void; failingAction(): void };
const T = (name: string) => ({ module: fixtureUrl('sync-targets.mjs'), name });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(path.join(tmpdir(), 'mp-barrier-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let logs = 0;
function actionLog(): () => string[] {
  const file = path.join(dir, `log${logs++}`);
  process.env.MP_TEST_ACTION_LOG = file; // children inherit it
  return () => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
}

function start(name: string, args: unknown[]): mp.Process {
  const p = new mp.Process({ target: T(name), args });
  p.start();
  return p;
}

async function joinAll(procs: mp.Process[]): Promise<(number | null)[]> {
  for (const p of procs) await p.join(30);
  return procs.map((p) => p.exitcode);
}

async function until(check: () => boolean, seconds = 20): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not reached within ${seconds} s: ${String(check)}`);
    await sleep(10);
  }
}

async function brokenOrValue(p: Promise<number>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    return err instanceof mp.BrokenBarrierError ? 'broken' : err;
  }
}

describe('Barrier', () => {
  it('checks its arguments and reports parties, nWaiting, broken', async () => {
    expectThrows(() => new mp.Barrier(0), mp.ValueError, /parties must be > 0/);
    expectThrows(() => new mp.Barrier('3' as never), TypeError, /parties/);
    expectThrows(() => new mp.Barrier(2, { action: 5 as never }), TypeError, /action/);
    expectThrows(() => new mp.Barrier(2, { action: actions.logAction.bind(null) }), TypeError, /bound function/);
    expectThrows(() => new mp.Barrier(2, { timeout: 'x' as never }), TypeError, /timeout/);
    const b = new mp.Barrier(2);
    expect([b.parties, b.nWaiting, b.broken]).toEqual([2, 0, false]);
    expect(String(b)).toBe('<Barrier waiters=0/2>');
    const first = b.wait();
    await until(() => b.nWaiting === 1);
    expect(String(b)).toBe('<Barrier waiters=1/2>');
    const second = b.wait();
    expect((await Promise.all([first, second])).sort()).toEqual([0, 1]);
    expect(b.nWaiting).toBe(0);
  });

  it('gives each party an index 0..parties-1 and runs the action once per generation (async, one process)', async () => {
    let runs = 0;
    const b = new mp.Barrier(3, { action: () => void runs++ });
    for (let g = 1; g <= 3; g++) {
      const indices = await Promise.all([b.wait(), b.wait(), b.wait()]);
      expect(indices.sort()).toEqual([0, 1, 2]);
      expect(runs).toBe(g);
    }
    // An async action is awaited before anyone passes.
    let done = false;
    const slow = new mp.Barrier(2, {
      action: async () => {
        await sleep(100);
        done = true;
      },
    });
    const seen = await Promise.all([slow.wait().then(() => done), slow.wait().then(() => done)]);
    expect(seen).toEqual([true, true]);
  });

  it('works across processes: indices per generation, the action once per generation in some process', async () => {
    const log = actionLog();
    const gens = 4;
    const b = new mp.Barrier(3, { action: actions.logAction });
    const idx = mp.RawArray('i', 3 * gens).fill(-1);
    const procs = [start('barrierParty', [b, idx, 0, gens]), start('barrierParty', [b, idx, 1, gens, true])];
    for (let g = 0; g < gens; g++) idx[2 * gens + g] = await b.wait(30);
    expect(await joinAll(procs)).toEqual([0, 0]);
    for (let g = 0; g < gens; g++) {
      expect([idx[g], idx[gens + g], idx[2 * gens + g]].sort()).toEqual([0, 1, 2]);
    }
    expect(log()).toHaveLength(gens);
  });

  it('an async wait leaves the event loop running until a party in another process arrives', async () => {
    const b = new mp.Barrier(2);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const waiting = b.wait(30);
    await sleep(300);
    const p = start('barrierParty', [b, mp.RawArray('i', 1), 0, 1]);
    expect(await waiting).toBeGreaterThanOrEqual(0);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(20);
    expect(await joinAll([p])).toEqual([0]);
  });

  it('an action given as { module, name } runs too; the program-level case with an ES module action', async () => {
    const log = actionLog();
    const b = new mp.Barrier(2, { action: { module: fixturePath('sync-actions.cjs'), name: 'logAction' } });
    const idx = mp.RawArray('i', 4);
    const p = start('barrierParty', [b, idx, 0, 2]);
    idx[2] = await b.wait(30);
    idx[3] = await b.wait(30);
    expect(await joinAll([p])).toEqual([0]);
    expect(log()).toHaveLength(2);

    // Every party is a child calling waitSync() first thing: the action comes from an ES
    // module that is still being imported when the generation completes.
    const r = await runScript(fixturePath('sync-barrier-main.mjs'));
    expect(r.code, r.stderr).toBe(0);
    const final = r.reports.find((x) => (x as { exitcodes?: unknown }).exitcodes) as { exitcodes: number[]; idx: number[]; gens: number };
    expect(final.exitcodes).toEqual([0, 0, 0]);
    expect(r.reports.filter((x) => (x as { action?: unknown }).action !== undefined)).toHaveLength(final.gens);
    for (let g = 0; g < final.gens; g++) {
      expect([0, 1, 2].map((i) => final.idx[i * final.gens + g]).sort()).toEqual([0, 1, 2]);
    }
  });

  it('abort() breaks every waiter (other processes too) until reset()', async () => {
    const b = new mp.Barrier(3);
    const out = mp.RawArray('i', 2);
    const procs = [start('barrierExpectBroken', [b, out, 0]), start('barrierExpectBroken', [b, out, 1])];
    await until(() => b.nWaiting === 2);
    b.abort();
    expect(await joinAll(procs)).toEqual([0, 0]);
    expect([...out]).toEqual([1, 1]);
    expect(b.broken).toBe(true);
    expect(String(b)).toBe('<Barrier broken>');
    await expect(b.wait()).rejects.toBeInstanceOf(mp.BrokenBarrierError);
    expectThrows(() => b.waitSync(), mp.BrokenBarrierError, /broken/);
    b.reset();
    expect(b.broken).toBe(false);
    expect((await Promise.all([b.wait(), b.wait(), b.wait()])).sort()).toEqual([0, 1, 2]);
  });

  it('reset() breaks the parties waiting now, then the barrier works again', async () => {
    const b = new mp.Barrier(3);
    const out = mp.RawArray('i', 2);
    const procs = [start('barrierExpectBroken', [b, out, 0]), start('barrierExpectBroken', [b, out, 1])];
    await until(() => b.nWaiting === 2);
    b.reset();
    expect(await joinAll(procs)).toEqual([0, 0]);
    expect([...out]).toEqual([1, 1]);
    expect(b.broken).toBe(false);
    expect((await Promise.all([b.wait(5), b.wait(5), b.wait(5)])).sort()).toEqual([0, 1, 2]);
  });

  it('a wait that times out breaks the barrier for every waiter (default and explicit timeouts)', async () => {
    const b = new mp.Barrier(3, { timeout: 0.3 });
    const out = mp.RawArray('i', 1);
    const p = start('barrierExpectBroken', [b, out, 0]); // waits with the default 0.3 s
    const t = performance.now();
    expect(await brokenOrValue(b.wait(30))).toBe('broken');
    expect(performance.now() - t).toBeLessThan(20_000);
    expect(await joinAll([p])).toEqual([0]);
    expect(out[0]).toBe(1);
    expect(b.broken).toBe(true);

    const c = new mp.Barrier(2);
    const t0 = performance.now();
    expect(await brokenOrValue(c.wait(0.2))).toBe('broken');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(c.broken).toBe(true);
    c.reset();
    expectThrows(() => c.waitSync(-1), mp.BrokenBarrierError, /broken/); // negative = 0: times out at once
  });

  it('an action that throws: its error for the party that ran it, BrokenBarrierError for the others', async () => {
    const b = new mp.Barrier(2, { action: actions.failingAction });
    const results = await Promise.all([brokenOrValue(b.wait(10)), brokenOrValue(b.wait(10))]);
    expect(results).toContain('broken');
    expect(results.find((r) => r !== 'broken')).toMatchObject({ message: 'the action failed on purpose' });
    expect(b.broken).toBe(true);

    const c = new mp.Barrier(2, { action: actions.failingAction });
    const out = mp.RawArray('i', 1);
    const p = start('barrierExpectBroken', [c, out, 0]);
    await until(() => c.nWaiting === 1);
    expect(() => c.waitSync(10)).toThrow('the action failed on purpose');
    expect(await joinAll([p])).toEqual([0]);
    expect(out[0]).toBe(1);
  });

  it('abort() while an async action runs does not deadlock, and breaks everyone', async () => {
    const b = new mp.Barrier(2, { action: () => sleep(200) });
    const waits = [brokenOrValue(b.wait(10)), brokenOrValue(b.wait(10))];
    await sleep(50);
    b.abort();
    expect(await Promise.all(waits)).toEqual(['broken', 'broken']);
  });
});
