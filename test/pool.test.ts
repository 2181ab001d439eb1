// Pool (API.md "Pools"): real worker processes running the exported functions of
// fixtures/pool-targets.mjs, passed as imported functions or as { module, name }.
// Covers every method and option, result order, lazy (endless) inputs, remote errors,
// workers that die mid-task, initializers, maxtasksperchild, AbortSignal, progress,
// close/join/terminate/await using, state and argument errors, and a pool left open at
// the end of a script.
import { execFile } from 'node:child_process';
import * as mp from 'multiprocessing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as targets from './fixtures/pool-targets.mjs';
import { fixtureUrl, hasProc, isRunning, taggedProcessesAfter, waitGone } from './helpers/scripts.js';
import { asyncRange, collect, failure, range, settles, sleep, slowdown, until } from './helpers/async.js';

const TARGETS = fixtureUrl('pool-targets.mjs');
const T = (name: string) => ({ module: TARGETS, name });

interface ModuleRun {
  code: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  took: number;
  /** The `report(value)` values, in order. */
  reports: unknown[];
}

/**
 * Run `body` (ES module code with `mp`, `T(name)`, `report(value)` and `slowdown` in scope)
 * in its own node process, SIGKILLed after `ms` (times slowdown): for what may hang a
 * process or end it.
 */
function runModule(body: string, ms: number, env: Record<string, string> = {}): Promise<ModuleRun> {
  const script = `
    import * as mp from ${JSON.stringify(new URL('../dist/index.mjs', import.meta.url).href)};
    const T = (name) => ({ module: ${JSON.stringify(TARGETS)}, name });
    const report = (value) => console.log(JSON.stringify({ report: value }));
    const slowdown = ${slowdown};
    ${body}
  `;
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: ms * slowdown, killSignal: 'SIGKILL', env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
        const reports = stdout
          .split('\n')
          .filter((l) => l.startsWith('{"report"'))
          .map((l) => (JSON.parse(l) as { report: unknown }).report);
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          timedOut: e?.killed === true,
          stdout,
          stderr,
          took: performance.now() - t0,
          reports,
        });
      },
    );
  });
}

/** The pids recorded by initRecord in `pids` (an mp.Array('i', ...)). */
const recorded = (pids: Int32Array) => Array.from(pids.subarray(1, 1 + pids[0]!));

const pools: mp.Pool[] = [];
function newPool(options: mp.PoolOptions = {}): mp.Pool {
  const p = new mp.Pool({ processes: 2, ...options });
  pools.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(pools.map((p) => settles(p.terminate(), 'terminate in afterAll').catch(() => {})));
});

function expectRemote(err: unknown, message: RegExp): asserts err is mp.RemoteError {
  expect(err).toBeInstanceOf(mp.RemoteError);
  expect(err).toBeInstanceOf(mp.MultiprocessingError);
  expect((err as mp.RemoteError).code).toBe('ERR_MP_REMOTE');
  expect((err as Error).message).toMatch(message);
}

function expectLost(err: unknown, info: { signal: string | null; exitcode: number | null }): void {
  expect(err).toBeInstanceOf(mp.WorkerLostError);
  expect(err).toBeInstanceOf(mp.MultiprocessingError);
  expect((err as mp.WorkerLostError).code).toBe('ERR_MP_WORKER_LOST');
  expect((err as mp.WorkerLostError).signal).toBe(info.signal);
  expect((err as mp.WorkerLostError).exitcode).toBe(info.exitcode);
}

// ---------------------------------------------------------------------------------------

describe('Pool with two workers', () => {
  let pool: mp.Pool;
  beforeAll(() => {
    pool = newPool();
  });

  describe('apply and applyAsync', () => {
    it('apply runs fn(...args) in a worker; functions or { module, name }; args default to []', async () => {
      expect(await pool.apply(targets.square, [7])).toBe(49);
      expect(await pool.apply(targets.add, [2, 3])).toBe(5);
      expect(await pool.apply(T('add'), ['a', 'b'])).toBe('ab');
      const pid = await pool.apply<number>(T('whoami'));
      expect(typeof pid).toBe('number');
      expect(pid).not.toBe(process.pid);
      expect(await pool.apply(targets.whoami)).not.toBe(process.pid);
    });

    it('async task functions are awaited in the worker', async () => {
      expect(await pool.apply(targets.asyncAdd, [20, 22])).toBe(42);
      expect(await pool.apply(targets.asyncSquare, [9])).toBe(81);
      expect(await pool.map(targets.asyncSquare, range(10))).toEqual(range(10).map((x) => x * x));
    });

    it('applyAsync returns an AsyncResult; callback gets the value once', async () => {
      const got: unknown[] = [];
      const r = pool.applyAsync(targets.square, [6], {
        callback: (v) => got.push(v),
        errorCallback: (e) => got.push(['error', e]),
      });
      expect(r).toBeInstanceOf(mp.AsyncResult);
      expect(await r.get()).toBe(36);
      await until(() => got.length > 0, 2000);
      await sleep(20);
      expect(got).toEqual([36]);
      expect(r.ready()).toBe(true);
      expect(r.successful()).toBe(true);
      expect(await r.get(0)).toBe(36);
    });

    it('callback: null and errorCallback: null mean no callback (Python\'s None), after a result and after a failure; apply calls none', async () => {
      // A null callback used to be called when the task ended: an uncaught TypeError (found by npm run fuzz).
      const none = { callback: null, errorCallback: null } as never;
      expect(await pool.starmapAsync(targets.square, [[3]], none).get(10)).toEqual([9]);
      const failed = pool.applyAsync(targets.fail, ['with null callbacks'], none);
      await failed.wait(10);
      expect(failed.successful()).toBe(false);
      // apply takes no callbacks (Python's neither): one given is never called.
      const thrower = { callback: () => { throw new Error('apply called its callback'); } } as never;
      expect(await pool.apply(targets.square, [4], thrower)).toBe(16);
      await sleep(50); // the callbacks would run in a microtask after settling
    });

    it('applyAsync errorCallback gets the RemoteError; callback is not called', async () => {
      const ok: unknown[] = [];
      const errors: unknown[] = [];
      const r = pool.applyAsync(targets.fail, ['from errorCallback'], {
        callback: (v) => ok.push(v),
        errorCallback: (e) => errors.push(e),
      });
      await r.wait(10);
      await until(() => errors.length > 0, 2000);
      await sleep(20);
      expect(ok).toEqual([]);
      expect(errors).toHaveLength(1);
      expectRemote(errors[0], /from errorCallback/);
      expect(r.ready()).toBe(true);
      expect(r.successful()).toBe(false);
      expect(await failure(() => r.get())).toBe(errors[0]);
    });

    it('AsyncResult: get(timeout) -> TimeoutError, wait(timeout), ready(), successful() ValueError before ready', async () => {
      const r = pool.applyAsync<string>(targets.sleepValue, [700, 'late']);
      expect(r.ready()).toBe(false);
      const notReady = await failure(() => r.successful());
      expect(notReady).toBeInstanceOf(mp.ValueError);
      const t0 = performance.now();
      const timedOut = await failure(() => r.get(0.1));
      const took = performance.now() - t0;
      expect(timedOut).toBeInstanceOf(mp.TimeoutError);
      expect((timedOut as mp.TimeoutError).code).toBe('ERR_MP_TIMEOUT');
      expect(took).toBeGreaterThanOrEqual(80);
      expect(took).toBeLessThan(600);
      expect(await failure(() => r.get(0))).toBeInstanceOf(mp.TimeoutError);
      const t1 = performance.now();
      expect(await r.wait(0.05)).toBeUndefined();
      expect(performance.now() - t1).toBeLessThan(500);
      expect(r.ready()).toBe(false);
      await settles(r.wait(), 'wait()');
      expect(r.ready()).toBe(true);
      expect(r.successful()).toBe(true);
      expect(await r.get(0.01)).toBe('late');
      expect(await r.get()).toBe('late');
    });
  });

  describe('map and starmap', () => {
    it('map returns results in input order (items finish out of order)', async () => {
      expect(await pool.map(targets.jitterEcho, range(40), { chunksize: 1 })).toEqual(range(40));
      expect(await pool.map(targets.square, range(2000))).toEqual(range(2000).map((x) => x * x));
      expect(await pool.map(T('square'), [])).toEqual([]);
    });

    it('results of every kind, changing within a chunk, come back exactly and as a plain array', async () => {
      // A worker keeps a chunk's results (8 or more) in an Int32Array, then a Float64Array,
      // then an array (pool_chunk.ts): each switch, and a thenable after each, in a chunk.
      const chunks = [
        ['i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8'],
        ['i1', 'i2', 'i3', 'f', 'z', 'n', 'big', 'i-7', 'i9'],
        ['f', 'i1', 'i2', 'i3', 'i4', 's', 'i2', 'z'],
        ['i1', 'i2', 'i3', 'i4', 'o', 'p5', 'i4', 'f', 'i9'],
        ['i1', 'i2', 'i3', 'i4', 'f', 'f', 'p6', 's'],
        ['p1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8'],
        ['z', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7'],
        ['n', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8', 's'],
        ['i1', 's', 'f', 'z'],
      ];
      const expected = (spec: string) => targets.fromSpec(spec) as unknown;
      for (const chunk of chunks) {
        const out = await pool.map(targets.fromSpec, chunk, { chunksize: chunk.length });
        expect(Array.isArray(out), chunk.join()).toBe(true);
        const want = await Promise.all(chunk.map(expected));
        expect(out, chunk.join()).toEqual(want);
        for (const [k, v] of out.entries()) if (typeof v === 'number') expect(Object.is(v, want[k]), `${chunk.join()} [${k}]`).toBe(true);
      }
      const all = chunks.flat();
      const want = await Promise.all(all.map(expected));
      expect(await pool.map(targets.fromSpec, all, { chunksize: 4 })).toEqual(want);
      expect(await collect(pool.imap(targets.fromSpec, all, { chunksize: 5 }))).toEqual(want);
    });

    it("a map's numbers reach fn as numbers, -0, NaN and non-int32s exactly (they travel as a typed array)", async () => {
      const ints = range(50).map((i) => (i % 2 === 0 ? i : -i * 1000));
      const mixed = [1.5, -0, Number.NaN, 2 ** 31, -(2 ** 31), 0, 7, Number.POSITIVE_INFINITY, 1e-300, 3];
      const intsAndMinusZero = [...range(9), -0]; // -0 is no int32: not an Int32Array's
      for (const items of [ints, mixed, intsAndMinusZero, [...ints, ...mixed]]) {
        for (const chunksize of [1, 8, 10, 1000]) {
          const out = await pool.map(targets.identity, items, { chunksize });
          expect(Array.isArray(out)).toBe(true);
          expect(out).toHaveLength(items.length);
          for (const [k, v] of out.entries()) expect(Object.is(v, items[k]), `chunksize ${chunksize} [${k}] ${v}`).toBe(true);
        }
        const streamed = await collect(pool.imap(targets.identity, items, { chunksize: 10 }));
        for (const [k, v] of streamed.entries()) expect(Object.is(v, items[k]), `imap [${k}] ${v}`).toBe(true);
      }
      expect(await pool.map(targets.square, [0.5, 1.5, 2, 3, 4, 5, 6, 7, 8])).toEqual([0.25, 2.25, 4, 9, 16, 25, 36, 49, 64]);
    });

    it("map's default chunksize is Python's: ceil(len / (4 * processes))", async () => {
      for (const [n, chunk] of [
        [40, 5],
        [41, 6],
        [3, 1],
      ] as const) {
        const calls: [number, number | undefined][] = [];
        const out = await pool.map(targets.tagged, range(n), { progress: (done, total) => calls.push([done, total]) });
        expect(out.map((t) => (t as number[])[0])).toEqual(range(n));
        const steps = calls.map(([done], i) => done - (i === 0 ? 0 : calls[i - 1]![0])).sort((a, b) => a - b);
        const want = range(Math.ceil(n / chunk)).map((i) => Math.min(chunk, n - i * chunk)).sort((a, b) => a - b);
        expect(steps, `n=${n}`).toEqual(want);
        expect(calls.at(-1)).toEqual([n, n]);
      }
    });

    it('map with an explicit chunksize: items of one chunk run together in one worker', async () => {
      const calls: number[] = [];
      const out = (await pool.map(targets.tagged, range(20), { chunksize: 3, progress: (done) => calls.push(done) })) as [number, number, number][];
      expect(out.map((t) => t[0])).toEqual(range(20));
      for (let start = 0; start < 20; start += 3) {
        const chunk = out.slice(start, start + 3);
        for (const [k, t] of chunk.entries()) {
          expect(t[1], `item ${start + k}`).toBe(chunk[0]![1]);
          expect(t[2], `item ${start + k}`).toBe(chunk[0]![2] + k);
        }
      }
      expect(calls).toHaveLength(7);
      expect(calls.at(-1)).toBe(20);
    });

    it('map takes any iterable and async iterables', async () => {
      function* gen() {
        yield* [3, 1, 2];
      }
      expect(await pool.map(targets.square, gen())).toEqual([9, 1, 4]);
      expect(await pool.map(targets.square, new Set([4, 5]))).toEqual([16, 25]);
      expect(await pool.map(targets.square, asyncRange(25), { chunksize: 4 })).toEqual(range(25).map((x) => x * x));
    });

    it('mapAsync resolves to an AsyncResult of the list; callback gets it', async () => {
      const got: unknown[] = [];
      const r = await pool.mapAsync(targets.square, range(10), { callback: (v) => got.push(v) });
      expect(r).toBeInstanceOf(mp.AsyncResult);
      expect(await r.get(10)).toEqual(range(10).map((x) => x * x));
      await until(() => got.length > 0, 2000);
      expect(got).toEqual([range(10).map((x) => x * x)]);
      expect(r.successful()).toBe(true);

      const errors: unknown[] = [];
      const bad = await pool.mapAsync(targets.failIfNegative, [1, -1, 2], { errorCallback: (e) => errors.push(e) });
      await bad.wait(10);
      expect(bad.successful()).toBe(false);
      await until(() => errors.length > 0, 2000);
      expectRemote(errors[0], /negative item -1/);
    });

    it('starmap calls fn(...args) for each args array, in order', async () => {
      const pairs = range(30).map((i) => [i, 100 * i]);
      expect(await pool.starmap(targets.add, pairs)).toEqual(range(30).map((i) => 101 * i));
      expect(await pool.starmap(targets.add, pairs, { chunksize: 7 })).toEqual(range(30).map((i) => 101 * i));
      expect(await pool.starmap(targets.asyncAdd, [[1, 2], ['x', 'y']])).toEqual([3, 'xy']);
      async function* args() {
        yield [1, 1];
        await sleep(1);
        yield [2, 2];
      }
      expect(await pool.starmap(T('add'), args())).toEqual([2, 4]);
      expect(await pool.starmap(targets.add, [])).toEqual([]);
    });

    it('starmapAsync resolves to an AsyncResult; callback gets the list', async () => {
      const got: unknown[] = [];
      const r = await pool.starmapAsync(targets.add, [
        [1, 2],
        [3, 4],
      ], { callback: (v) => got.push(v) });
      expect(r).toBeInstanceOf(mp.AsyncResult);
      expect(await r.get()).toEqual([3, 7]);
      await until(() => got.length > 0, 2000);
      expect(got).toEqual([[3, 7]]);
    });

    it('progress: a callback gets (done, total) ending at total; true works without a TTY', async () => {
      const calls: [number, number | undefined][] = [];
      await pool.map(targets.square, range(12), { chunksize: 2, progress: (d, t) => calls.push([d, t]) });
      expect(calls).toHaveLength(6);
      expect(calls.every(([, t]) => t === 12)).toBe(true);
      expect(calls.map(([d]) => d)).toEqual([2, 4, 6, 8, 10, 12]);

      const imapCalls: [number, number | undefined][] = [];
      expect(await collect(pool.imap(targets.square, range(9), { chunksize: 2, progress: (d, t) => imapCalls.push([d, t]) }))).toEqual(
        range(9).map((x) => x * x),
      );
      expect(imapCalls.at(-1)).toEqual([9, 9]);
      expect(imapCalls.map(([d]) => d)).toEqual([...imapCalls.map(([d]) => d)].sort((a, b) => a - b));

      const genCalls: [number, number | undefined][] = [];
      expect(await collect(pool.imapUnordered(targets.square, asyncRange(7), { progress: (d, t) => genCalls.push([d, t]) }))).toHaveLength(7);
      expect(genCalls.at(-1)![0]).toBe(7);

      expect(await pool.map(targets.square, range(5), { progress: true })).toEqual([0, 1, 4, 9, 16]);
      expect(await collect(pool.imap(targets.square, range(3), { progress: true }))).toEqual([0, 1, 4]);
    });
  });

  describe('imap and imapUnordered', () => {
    it('imap yields results in input order, over arrays, generators and async iterables', async () => {
      expect(await collect(pool.imap(targets.jitterEcho, range(30)))).toEqual(range(30));
      expect(await collect(pool.imap(targets.jitterEcho, range(30), { chunksize: 4 }))).toEqual(range(30));
      expect(await collect(pool.imap(targets.jitterEcho, asyncRange(20)))).toEqual(range(20));
      function* gen() {
        yield* range(11);
      }
      expect(await collect(pool.imap(T('square'), gen(), { chunksize: 3 }))).toEqual(range(11).map((x) => x * x));
      expect(await collect(pool.imap(targets.square, []))).toEqual([]);
    });

    it('imapUnordered yields every result exactly once', async () => {
      for (const [input, chunksize] of [
        [range(40), 1],
        [asyncRange(33), 3],
      ] as const) {
        const out = await collect(pool.imapUnordered<number>(targets.jitterEcho, input, { chunksize }));
        expect(out).toHaveLength(Array.isArray(input) ? 40 : 33);
        expect(new Set(out).size).toBe(out.length);
        expect([...out].sort((a, b) => a - b)).toEqual(range(out.length));
      }
      expect(await collect(pool.imapUnordered(targets.square, asyncRange(0)))).toEqual([]);
    });

    it('imap pulls an endless generator lazily; break after N items works; bounded read-ahead', async () => {
      let pulled = 0;
      function* naturals() {
        for (let i = 0; ; i++) {
          pulled++;
          yield i;
        }
      }
      const out: number[] = [];
      for await (const v of pool.imap<number>(targets.square, naturals())) {
        out.push(v);
        if (out.length <= 5) {
          // a slow consumer: the generator must not run far ahead meanwhile
          await sleep(40);
          expect(pulled, `after ${out.length} items`).toBeLessThanOrEqual(out.length + 64);
        }
        if (out.length === 50) break;
      }
      expect(out).toEqual(range(50).map((x) => x * x));
      expect(pulled).toBeLessThanOrEqual(50 + 64);
      await sleep(50);
      const after = pulled;
      await sleep(100);
      expect(pulled).toBe(after); // nothing pulls it after the break
      expect(await pool.apply(targets.square, [12])).toBe(144);
    });

    it('imapUnordered over an endless async generator with chunks, and break', async () => {
      let pulled = 0;
      async function* naturals() {
        for (let i = 0; ; i++) {
          pulled++;
          if (i % 10 === 0) await sleep(0);
          yield i;
        }
      }
      const seen = new Set<number>();
      for await (const v of pool.imapUnordered<number>(targets.square, naturals(), { chunksize: 4 })) {
        seen.add(v);
        if (seen.size === 40) break;
      }
      expect(seen.size).toBe(40);
      expect(pulled).toBeLessThanOrEqual(40 + 4 * 64);
      expect(await pool.map(targets.square, [1, 2])).toEqual([1, 4]);
    });
  });

  describe('task errors', () => {
    it('a throwing task rejects with RemoteError: remoteStack is the worker stack, cause the original', async () => {
      const err = await failure(() => pool.apply(targets.fail, ['boom']));
      expectRemote(err, /boom/);
      expect(err.message).toMatch(/RangeError/);
      expect(err.remoteStack).toContain('pool-targets.mjs');
      expect(err.remoteStack).toMatch(/\bfail\b/);
      expect(err.cause).toBeInstanceOf(Error);
      expect((err.cause as Error).name).toBe('RangeError');
      expect((err.cause as Error).message).toBe('boom');
      expect(String((err.cause as Error).stack)).toContain('pool-targets.mjs');

      const asyncErr = await failure(() => pool.apply(targets.failAsync, ['async boom']));
      expectRemote(asyncErr, /async boom/);
      expect((asyncErr.cause as Error).name).toBe('TypeError');
      expect(asyncErr.remoteStack).toMatch(/failAsync/);

      const thrown = await failure(() => pool.apply(targets.throwString));
      expectRemote(thrown, /a plain string/);
      expect(thrown.cause).toBe('a plain string');

      expect(await pool.apply(targets.square, [3])).toBe(9);
    });

    it('a result that cannot be cloned fails that task only', async () => {
      const err = await failure(() => settles(pool.apply(targets.returnsFunction), 'apply(returnsFunction)'));
      expectRemote(err, /clone|serializ/i);
      expect(await pool.apply(targets.square, [4])).toBe(16);
    });

    it('map rejects with the first error; the pool keeps working', async () => {
      const items = [...range(10), -3, ...range(9, 11)];
      for (const chunksize of [1, 4, undefined]) {
        const err = await failure(() => pool.map(targets.failIfNegative, items, { chunksize }));
        expectRemote(err, /negative item -3/);
      }
      const two = await failure(() => pool.map(targets.failIfNegative, [1, -1, 2, -2, 3], { chunksize: 1 }));
      expectRemote(two, /negative item -[12]/);
      expect(await pool.map(targets.failIfNegative, range(20))).toEqual(range(20));
    });

    it('imap throws the RemoteError when it reaches it; the pool keeps working', async () => {
      const out: number[] = [];
      const err = await failure(async () => {
        for await (const v of pool.imap<number>(targets.failIfNegative, [0, 1, 2, -7, 4, 5])) out.push(v);
      });
      expectRemote(err, /negative item -7/);
      expect(out).toEqual(range(out.length)); // whatever came first came in order
      const unordered = await failure(() => collect(pool.imapUnordered(targets.failIfNegative, [0, -1, 2])));
      expectRemote(unordered, /negative item -1/);
      expect(await collect(pool.imap(targets.square, range(4)))).toEqual([0, 1, 4, 9]);
    });
  });

  describe('workers that die', () => {
    it('a task that SIGKILLs its worker fails with WorkerLostError (signal SIGKILL); later tasks work', async () => {
      const err = await failure(() => settles(pool.apply(targets.killSelf), 'apply(killSelf)'));
      expectLost(err, { signal: 'SIGKILL', exitcode: null });
      expect(await settles(pool.map(targets.square, range(20), { chunksize: 1 }), 'map after the kill')).toEqual(range(20).map((x) => x * x));
    });

    it('process.exit(3) inside a task fails it with WorkerLostError (exitcode 3)', async () => {
      const err = await failure(() => settles(pool.apply(targets.exitWith, [3]), 'apply(exitWith)'));
      expectLost(err, { signal: null, exitcode: 3 });
      expect((err as Error).message).toMatch(/3/);
      expect(await settles(pool.apply(targets.square, [5]), 'apply after exit')).toBe(25);
    });

    it('the test SIGKILLs a worker mid-task: exactly that task fails, the others finish, a new worker replaces it', async () => {
      const cell = mp.Value('i', 0);
      const victim = pool.applyAsync(targets.reportPidAndSleep, [cell, 30_000]);
      const others = pool.map(targets.jitterEcho, range(30), { chunksize: 1 });
      expect(await until(() => cell.value !== 0)).toBe(true);
      const pid = cell.value;
      expect(isRunning(pid)).toBe(true);
      process.kill(pid, 'SIGKILL');
      const err = await failure(() => victim.get(10));
      expectLost(err, { signal: 'SIGKILL', exitcode: null });
      expect(await settles(others, 'the other tasks')).toEqual(range(30));
      expect(await waitGone(pid)).toBe(true);
      // two live workers again, neither of them the dead one
      const counter = mp.Value('i', 0);
      const pids = new Set(await pool.starmap<number>(targets.countAndSleep, range(6).map(() => [counter, 60]), { chunksize: 1 }));
      expect(counter.value).toBe(6);
      expect(pids.has(pid)).toBe(false);
      for (const p of pids) expect(isRunning(p)).toBe(true);
    });

    it('a worker killed while idle is replaced; no task fails', async () => {
      const pids = mp.Array('i', 16);
      const own = newPool({ initializer: targets.initRecord, initargs: [pids, 'idle'] });
      expect(await until(() => pids[0] === 2)).toBe(true);
      const [victim] = recorded(pids);
      process.kill(victim!, 'SIGKILL');
      expect(await waitGone(victim!)).toBe(true);
      expect(await until(() => pids[0] === 3)).toBe(true); // a replacement ran the initializer
      const out = await settles(own.map<[string, number]>(targets.readInit, range(10), { chunksize: 1 }), 'map after an idle worker died');
      expect(out.map(([v]) => v)).toEqual(Array(10).fill('idle'));
      expect(out.some(([, pid]) => pid === victim)).toBe(false);
      await own.terminate();
    });
  });

  describe('user callbacks and functions', () => {
    it('a progress callback that throws does not hang map or cause an unhandled rejection', async () => {
      const run = await runModule(
        `
        let unhandled = null;
        process.on('unhandledRejection', (e) => { unhandled = String(e && e.message); });
        const pool = new mp.Pool({ processes: 2 });
        const outcome = await Promise.race([
          pool.map(T('square'), [1, 2, 3, 4, 5, 6], { chunksize: 1, progress: () => { throw new Error('progress threw'); } })
            .then((v) => ({ resolved: v }), (e) => ({ rejected: String(e && e.message) })),
          new Promise((r) => setTimeout(() => r('never settled'), 1500 * slowdown)),
        ]);
        const after = await Promise.race([pool.apply(T('square'), [7]), new Promise((r) => setTimeout(() => r('apply never settled'), 1500 * slowdown))]);
        report({ outcome, after, unhandled });
        await pool.terminate();
        `,
        10_000,
      );
      expect(run.timedOut, run.stderr).toBe(false);
      const got = run.reports[0] as { outcome: unknown; after: unknown; unhandled: string | null };
      expect(got, run.stdout + run.stderr).toBeDefined();
      expect(got.outcome).not.toBe('never settled');
      expect(got.unhandled).toBeNull();
      expect(got.after).toBe(49);
    });

    it('many distinct inline arrow functions (sent as source) while one worker is busy do not deadlock', async () => {
      // Each arrow below is a new function object: every call defines a new function for
      // every worker. The busy worker must not make the parent block (a blocked parent
      // never sends the task the busy worker would then wait for).
      const run = await runModule(
        `
        const pool = new mp.Pool({ processes: 2 });
        await pool.map(T('square'), [1, 2, 3, 4], { chunksize: 1 });
        const busy = pool.apply(T('sleepValue'), [1500, 'busy done']);
        await new Promise((r) => setTimeout(r, 100));
        let sum = 0;
        for (let i = 0; i < 1500; i++) sum += await pool.apply((x) => x * 2, [i]);
        report({ sum, busy: await busy });
        await pool.terminate();
        `,
        6_000,
      );
      expect(run.timedOut, 'the script hung (killed after 6 s)').toBe(false);
      expect(run.code, run.stderr).toBe(0);
      expect(run.reports[0]).toEqual({ sum: 1499 * 1500, busy: 'busy done' });
    });

    it('an argument that cannot be sent fails that call only; the open pool still lets the script exit', async () => {
      const run = await runModule(
        `
        const pool = new mp.Pool({ processes: 2 });
        const failed = [];
        for (const call of [() => pool.apply(T('square'), [() => 1]), () => pool.map(T('square'), [1, 2, () => 3])]) {
          try {
            await call();
            failed.push('no error');
          } catch (e) {
            failed.push(e instanceof TypeError ? 'TypeError' : String(e));
          }
        }
        report({ failed, after: await pool.map(T('square'), [1, 2, 3]) });
        // the pool is left open: the script must still end
        `,
        6_000,
      );
      expect(run.reports[0], run.stdout + run.stderr).toEqual({ failed: ['TypeError', 'TypeError'], after: [1, 4, 9] });
      expect(run.timedOut, 'the script did not exit by itself (killed after 6 s)').toBe(false);
      expect(run.code, run.stderr).toBe(0);
    });
  });

  describe('state and argument errors', () => {
    it('join() while running -> ValueError', async () => {
      const err = await failure(() => pool.join());
      expect(err).toBeInstanceOf(mp.ValueError);
      expect((err as mp.ValueError).code).toBe('ERR_MP_VALUE');
      expect(await pool.apply(targets.square, [2])).toBe(4); // still running
    });

    it('bad argument types -> TypeError naming the argument', async () => {
      const cases: [string, () => unknown, RegExp][] = [
        ['apply fn', () => pool.apply(42 as never), /\bfn\b/],
        ['apply args', () => pool.apply(targets.square, 'x' as never), /\bargs\b/],
        ['applyAsync options', () => pool.applyAsync(targets.square, [1], 'x' as never), /options/],
        ['applyAsync signal', () => pool.applyAsync(targets.square, [1], { signal: {} as never }), /signal/],
        ['map fn', () => pool.map(null as never, [1]), /\bfn\b/],
        ['map iterable', () => pool.map(targets.square, 5 as never), /iterable/],
        ['map chunksize', () => pool.map(targets.square, [1], { chunksize: 'big' as never }), /chunksize/],
        ['map signal', () => pool.map(targets.square, [1], { signal: 'x' as never }), /signal/],
        ['map progress', () => pool.map(targets.square, [1], { progress: 'yes' as never }), /progress/],
        ['mapAsync iterable', () => pool.mapAsync(targets.square, {} as never), /iterable/],
        ['starmap item', () => pool.starmap(targets.add, [1, 2] as never), /iterable\[0\]/],
        ['starmapAsync iterable', () => pool.starmapAsync(targets.add, 3 as never), /iterable/],
        ['imap iterable', () => pool.imap(targets.square, 5 as never), /iterable/],
        ['imap chunksize', () => pool.imap(targets.square, [1], { chunksize: '2' as never }), /chunksize/],
        ['imapUnordered fn', () => pool.imapUnordered('square' as never, [1]), /\bfn\b/],
        ['Pool options', () => new mp.Pool('x' as never), /options/],
        ['Pool processes', () => new mp.Pool({ processes: 'two' as never }), /processes/],
        ['Pool initializer', () => new mp.Pool({ processes: 1, initializer: 5 as never }), /initializer/],
        ['Pool initargs', () => new mp.Pool({ processes: 1, initializer: targets.initRecord, initargs: 'x' as never }), /initargs/],
        ['Pool maxtasksperchild', () => new mp.Pool({ processes: 1, maxtasksperchild: 'x' as never }), /maxtasksperchild/],
      ];
      for (const [what, fn, re] of cases) {
        const err = await failure(fn);
        expect(err, what).toBeInstanceOf(TypeError);
        expect((err as Error).message, what).toMatch(re);
      }
      const r = pool.applyAsync(targets.square, [2]);
      for (const fn of [() => r.get('soon' as never), () => r.wait('soon' as never)]) {
        const err = await failure(fn);
        expect(err).toBeInstanceOf(TypeError);
        expect((err as Error).message).toMatch(/timeout/);
      }
      expect(await r.get()).toBe(4);
      expect(await pool.map(targets.square, [3])).toEqual([9]); // none of that hurt the pool
    });
  });
});

// ---------------------------------------------------------------------------------------

describe('Pool options', () => {
  it('initializer/initargs run once per worker before its tasks', async () => {
    const pids = mp.Array('i', 16);
    const pool = newPool({ initializer: targets.initRecord, initargs: [pids, 'hello'] });
    expect(await until(() => pids[0] === 2)).toBe(true);
    const out = await pool.map<[string, number]>(targets.readInit, range(30), { chunksize: 1 });
    const workers = recorded(pids);
    expect(new Set(workers).size).toBe(2);
    for (const [value, pid] of out) {
      expect(value).toBe('hello');
      expect(workers).toContain(pid);
    }
    await sleep(50);
    expect(pids[0]).toBe(2); // not once per task
    await pool.terminate();
  });

  it('a throwing initializer fails pending and later tasks fast with a RemoteError naming the initializer', async () => {
    const pool = newPool({ initializer: targets.throwingInit });
    const pending = [pool.apply(targets.square, [2]), pool.map(targets.square, range(10)), collect(pool.imap(targets.square, range(5)))];
    for (const p of pending) {
      const err = await failure(() => settles(p, 'a task of a pool whose initializer throws', 5_000));
      expectRemote(err, /initializer/);
      expect(err.message).toMatch(/init boom/);
      expect(err.remoteStack).toMatch(/throwingInit/);
      expect((err.cause as Error).message).toBe('init boom');
    }
    const t0 = performance.now();
    const later = await failure(() => settles(pool.apply(targets.square, [3]), 'a later task', 5_000));
    expectRemote(later, /initializer/);
    const laterMap = await failure(() => settles(pool.map(targets.square, [1, 2]), 'a later map', 5_000));
    expectRemote(laterMap, /initializer/);
    expect(performance.now() - t0).toBeLessThan(1000);
    await settles(pool.terminate(), 'terminate of a broken pool');
  });

  it('an async initializer that rejects ({ module, name }) breaks the pool too', async () => {
    const pool = newPool({ initializer: T('asyncThrowingInit') });
    const err = await failure(() => settles(pool.apply(targets.square, [2]), 'a task', 5_000));
    expectRemote(err, /initializer/);
    expect(err.message).toMatch(/async init boom/);
    await settles(pool.terminate(), 'terminate');
  });

  it('maxtasksperchild: 1 gives a new worker (pid) for every task; old workers exit', async () => {
    const pids = mp.Array('i', 64);
    const pool = newPool({ maxtasksperchild: 1, initializer: T('initRecord'), initargs: [pids, 'again'] });
    const seq: number[] = [];
    for (let i = 0; i < 4; i++) seq.push(await pool.apply<number>(targets.whoami));
    expect(new Set(seq).size).toBe(4);
    const mapped = await pool.map<[string, number]>(targets.readInit, range(6), { chunksize: 1 });
    expect(mapped.every(([v]) => v === 'again')).toBe(true); // replacements run the initializer
    const mappedPids = mapped.map(([, pid]) => pid);
    expect(new Set([...seq, ...mappedPids]).size).toBe(10);
    for (const pid of seq) expect(await waitGone(pid, 5000), `pid ${pid}`).toBe(true);
    await pool.terminate();
  });

  it('maxtasksperchild: 2 runs at most two tasks per worker', async () => {
    const pool = newPool({ maxtasksperchild: 2 });
    const pids = await pool.map<number>(targets.whoami, range(8), { chunksize: 1 });
    const counts = new Map<number, number>();
    for (const p of pids) counts.set(p, (counts.get(p) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
    expect(counts.size).toBeGreaterThanOrEqual(4);
    await pool.terminate();
  });

  it.skipIf(process.platform === 'win32')("context: workers use that context's start method (forkserver)", async () => {
    const pool = newPool({ processes: 1, context: mp.getContext('forkserver') });
    const pid = await settles(pool.apply<number>(targets.whoami), 'apply on a forkserver pool', 15_000);
    expect(pid).not.toBe(process.pid);
    expect(await pool.map(targets.square, range(5))).toEqual([0, 1, 4, 9, 16]);
    pool.close();
    await settles(pool.join(), 'join of a forkserver pool');
    expect(await waitGone(pid, 5000)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------

describe('AbortSignal', () => {
  let pool: mp.Pool;
  beforeAll(() => {
    pool = newPool();
  });

  it('an already aborted signal rejects with its reason', async () => {
    const reason = new Error('aborted before');
    const signal = AbortSignal.abort(reason);
    expect(await failure(() => pool.apply(targets.square, [1], { signal }))).toBe(reason);
    expect(await failure(() => pool.map(targets.square, [1, 2], { signal }))).toBe(reason);
    expect(await failure(() => pool.starmap(targets.add, [[1, 2]], { signal }))).toBe(reason);
    expect(await failure(() => collect(pool.imap(targets.square, [1, 2], { signal })))).toBe(reason);
    expect(await pool.apply(targets.square, [3])).toBe(9);
  });

  it('abort mid-map rejects with the reason at once', async () => {
    const ac = new AbortController();
    const reason = new Error('stop the map');
    const mapping = pool.starmap(
      targets.sleepValue,
      range(20).map((i) => [100, i]),
      { chunksize: 1, signal: ac.signal },
    );
    await sleep(150);
    const t0 = performance.now();
    ac.abort(reason);
    expect(await failure(() => settles(mapping, 'an aborted map'))).toBe(reason);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('abort of an applyAsync: get() rejects with the reason, errorCallback gets it', async () => {
    const ac = new AbortController();
    const errors: unknown[] = [];
    const r = pool.applyAsync(targets.sleepValue, [3000, 'never'], { signal: ac.signal, errorCallback: (e) => errors.push(e) });
    await sleep(50);
    ac.abort('the reason need not be an Error');
    expect(await failure(() => settles(r.get(), 'aborted applyAsync'))).toBe('the reason need not be an Error');
    await until(() => errors.length > 0, 1000);
    expect(errors).toEqual(['the reason need not be an Error']);
  });

  it('abort during imap over an endless input ends the iteration with the reason', async () => {
    const ac = new AbortController();
    const reason = new Error('stop the imap');
    function* naturals() {
      for (let i = 0; ; i++) yield i;
    }
    const out: number[] = [];
    const err = await failure(async () => {
      for await (const v of pool.imap<number>(targets.square, naturals(), { signal: ac.signal })) {
        out.push(v);
        if (out.length === 10) ac.abort(reason);
        if (out.length > 10_000) break;
      }
    });
    expect(err).toBe(reason);
    expect(out.length).toBeLessThan(200);
    expect(out).toEqual(range(out.length).map((x) => x * x));
  });

  it('pending tasks of an aborted map are dropped: they do not run, later tasks do not wait for them', async () => {
    const own = newPool();
    await own.map(targets.square, range(4), { chunksize: 1 }); // both workers up
    const counter = mp.Value('i', 0);
    const ac = new AbortController();
    const reason = new Error('drop them');
    const mapping = own.starmap(
      targets.countAndSleep,
      range(40).map(() => [counter, 150]),
      { chunksize: 1, signal: ac.signal },
    );
    expect(await until(() => counter.value >= 2)).toBe(true);
    ac.abort(reason);
    const startedAtAbort = counter.value;
    expect(await failure(() => mapping)).toBe(reason);
    const t0 = performance.now();
    expect(await settles(own.apply(targets.square, [11]), 'a task after the abort', 10_000)).toBe(121);
    const waited = performance.now() - t0;
    await sleep(400);
    // At most the tasks the two workers were already running, and one more each at the edge.
    expect(counter.value, `tasks started after the abort (were ${startedAtAbort})`).toBeLessThanOrEqual(startedAtAbort + 2);
    expect(waited, 'a task submitted after the abort waited for the dropped ones').toBeLessThan(1000);
    await own.terminate();
  });
});

// ---------------------------------------------------------------------------------------

describe('lifecycle', () => {
  it('close() then join(): queued tasks finish, workers exit, their pids are gone', async () => {
    const pids = mp.Array('i', 8);
    const pool = newPool({ initializer: targets.initRecord, initargs: [pids, null] });
    expect(await pool.map(targets.square, range(10))).toEqual(range(10).map((x) => x * x));
    expect(await until(() => pids[0] === 2)).toBe(true);
    const queued = pool.applyAsync(targets.sleepValue, [200, 'finished after close']);
    pool.close();
    pool.close(); // idempotent
    await settles(pool.join(), 'join after close');
    expect(await queued.get(0)).toBe('finished after close');
    const workers = recorded(pids);
    expect(workers).toHaveLength(2);
    for (const pid of workers) expect(isRunning(pid), `worker ${pid}`).toBe(false);
    const alive = mp.activeChildren().map((p) => p.pid);
    for (const pid of workers) expect(alive).not.toContain(pid);
    await settles(pool.join(), 'a second join');
  });

  it('methods after close() -> ValueError', async () => {
    const pool = newPool();
    pool.close();
    const calls: [string, () => unknown][] = [
      ['apply', () => pool.apply(targets.square, [1])],
      ['applyAsync', () => pool.applyAsync(targets.square, [1])],
      ['map', () => pool.map(targets.square, [1])],
      ['mapAsync', () => pool.mapAsync(targets.square, [1])],
      ['starmap', () => pool.starmap(targets.add, [[1, 2]])],
      ['starmapAsync', () => pool.starmapAsync(targets.add, [[1, 2]])],
      ['imap', () => collect(pool.imap(targets.square, [1]))],
      ['imapUnordered', () => collect(pool.imapUnordered(targets.square, [1]))],
    ];
    for (const [what, fn] of calls) {
      const err = await failure(fn);
      expect(err, what).toBeInstanceOf(mp.ValueError);
      expect((err as Error).message, what).toMatch(/not running/i);
    }
    await settles(pool.join(), 'join');
  });

  it('processes: 0 -> ValueError', async () => {
    const err = await failure(() => new mp.Pool({ processes: 0 }));
    expect(err).toBeInstanceOf(mp.ValueError);
    expect((err as Error).message).toMatch(/processes/);
  });

  it("processes: -1 -> ValueError, as Python's 'Number of processes must be at least 1'", async () => {
    const err = await failure(() => new mp.Pool({ processes: -1 }));
    expect(err).toBeInstanceOf(mp.ValueError);
    expect((err as Error).message).toMatch(/processes/);
  });

  it('terminate() never hangs, even with a task spinning forever; outstanding tasks reject', async () => {
    const pids = mp.Array('i', 8);
    const flag = mp.Value('i', 0);
    const pool = newPool({ initializer: targets.initRecord, initargs: [pids, null] });
    const outstanding = [pool.apply(targets.spinForever, [flag]), pool.apply(targets.sleepForever), pool.map(targets.square, range(5))];
    const outcomes = Promise.allSettled(outstanding); // handled now: they reject during terminate()
    expect(await until(() => flag.value === 1 && pids[0] === 2)).toBe(true);
    const t0 = performance.now();
    await settles(pool.terminate(), 'terminate', 5_000);
    expect(performance.now() - t0).toBeLessThan(3000);
    for (const outcome of await settles(outcomes, 'the outstanding tasks', 2_000)) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(mp.MultiprocessingError);
    }
    for (const pid of recorded(pids)) expect(isRunning(pid), `worker ${pid}`).toBe(false);
    await settles(pool.terminate(), 'a second terminate');
    await settles(pool.join(), 'join after terminate');
    expect(await failure(() => pool.apply(targets.square, [1]))).toBeInstanceOf(mp.ValueError);
  });

  it('await using terminates the pool at scope exit, even with a task still running', async () => {
    const pids = mp.Array('i', 8);
    let outstanding: mp.AsyncResult<unknown> | undefined;
    const t0 = performance.now();
    {
      await using pool = new mp.Pool({ processes: 2, initializer: targets.initRecord, initargs: [pids, null] });
      expect(await pool.map(targets.square, [1, 2, 3])).toEqual([1, 4, 9]);
      expect(await until(() => pids[0] === 2)).toBe(true);
      outstanding = pool.applyAsync(targets.sleepForever);
      await sleep(50);
    }
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(outstanding!.ready()).toBe(true);
    expect(outstanding!.successful()).toBe(false);
    for (const pid of recorded(pids)) expect(isRunning(pid), `worker ${pid}`).toBe(false);
  });

  it('a pool left open does not keep a script from exiting, and leaves no workers', async () => {
    const tag = `pool-open-${process.pid}-${Date.now()}`;
    const run = await runModule(
      `
      const pool = new mp.Pool({ processes: 2 });
      const squares = await pool.map(T('square'), [1, 2, 3, 4]);
      const counter = mp.Value('i', 0);
      const pids = await pool.starmap(T('countAndSleep'), [0, 1, 2, 3].map(() => [counter, 100]), { chunksize: 1 });
      report({ squares, pids });
      // no close(), no terminate(): the script just ends here
      `,
      15_000,
      { MP_TEST_TAG: tag },
    );
    expect(run.timedOut, `the script did not exit by itself; stderr:\n${run.stderr}`).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    expect(run.took).toBeLessThan(8_000);
    const report = run.reports[0] as { squares: number[]; pids: number[] };
    expect(report, run.stdout + run.stderr).toBeDefined();
    expect(report.squares).toEqual([1, 4, 9, 16]);
    for (const pid of new Set(report.pids)) expect(await waitGone(pid, 5_000), `worker ${pid}`).toBe(true);
    if (hasProc) expect(await taggedProcessesAfter(tag, 5_000)).toEqual([]);
  });

  it('a map still sending its chunks when close() is called finishes (Python: map_async, close, join)', async () => {
    const pool = newPool();
    const n = 300; // more chunks than are sent ahead at once
    const r = pool.mapAsync<number>(targets.square, range(n), { chunksize: 1 });
    pool.close();
    expect(await settles(r.get(), 'a map pending at close()', 3_000)).toEqual(range(n).map((x) => x * x));
    await settles(pool.join(), 'join after the map', 3_000);
  });

  it('an imap begun before close() yields all its results after close()', async () => {
    const pool = newPool();
    const it = pool.imap<number>(targets.square, range(100));
    const first = await it.next();
    expect(first).toEqual({ done: false, value: 0 });
    pool.close();
    const rest = await settles(collect(it), 'the rest of an imap after close()', 3_000);
    expect([first.value, ...rest]).toEqual(range(100).map((x) => x * x));
    await settles(pool.join(), 'join after the imap', 3_000);
  });
});
