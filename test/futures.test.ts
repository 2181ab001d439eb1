// ProcessPoolExecutor (API.md "Pools", Python's concurrent.futures): real worker
// processes running the exported functions of fixtures/futures-targets.mjs, passed as
// imported functions, as { module, name }, or (self-contained) by source. Covers submit,
// map (zip of several iterables, async iterables, chunksize, timeout, errors, early exit),
// shutdown (wait, cancelFutures, idempotent, then no new tasks), await using, argument
// errors, and how a script that uses an executor ends.
import * as mp from 'multiprocessing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as targets from './fixtures/futures-targets.mjs';
import { fixturePath, fixtureUrl, isRunning, runScript, waitGone } from './helpers/scripts.js';
import { asyncRange, collect, failure, range, settles, sleep } from './helpers/async.js';

const T = (name: string) => ({ module: fixtureUrl('futures-targets.mjs'), name });

/** What an iteration yielded before it threw, and what it threw. */
async function collectUntilError<V>(it: AsyncIterable<V>): Promise<{ got: V[]; error: unknown }> {
  const got: V[] = [];
  try {
    for await (const v of it) got.push(v);
  } catch (error) {
    return { got, error };
  }
  throw new Error(`expected the iteration to fail; it yielded ${JSON.stringify(got)}`);
}

/** The pids initRecord wrote into `pids` (an mp.Array('i', ...)). */
const recorded = (pids: Int32Array) => Array.from(pids.subarray(1, 1 + pids[0]!));

const executors: mp.ProcessPoolExecutor[] = [];
function newExecutor(options: mp.ProcessPoolExecutorOptions = {}): mp.ProcessPoolExecutor {
  const ex = new mp.ProcessPoolExecutor({ maxWorkers: 2, ...options });
  executors.push(ex);
  return ex;
}
afterAll(async () => {
  await Promise.all(executors.map((ex) => settles(ex.shutdown({ cancelFutures: true }), 'shutdown in afterAll').catch(() => {})));
});

function expectRemote(err: unknown, message: RegExp, causeName: string): void {
  expect(err).toBeInstanceOf(mp.RemoteError);
  expect((err as mp.RemoteError).code).toBe('ERR_MP_REMOTE');
  expect((err as Error).message).toMatch(message);
  expect(((err as Error).cause as Error).name).toBe(causeName);
  expect((err as mp.RemoteError).remoteStack).toMatch(message);
}

function expectCancelled(err: unknown): void {
  expect(err).toBeInstanceOf(mp.MultiprocessingError);
  expect((err as Error).name).toBe('CancelledError');
  expect((err as mp.MultiprocessingError).code).toBe('ERR_MP_CANCELLED');
  expect((err as Error).message).toMatch(/cancel/);
}

// ---------------------------------------------------------------------------------------

describe('ProcessPoolExecutor with two workers', () => {
  let ex: mp.ProcessPoolExecutor;
  beforeAll(() => {
    ex = newExecutor();
  });

  describe('submit', () => {
    it('runs fn(...args) in a worker and resolves with the result; imported, { module, name } or by source', async () => {
      const p = ex.submit(targets.square, 7);
      expect(p).toBeInstanceOf(Promise);
      expect(await p).toBe(49);
      expect(await ex.submit(targets.add, 2, 3)).toBe(5);
      expect(await ex.submit(T('add'), 'a', 'b')).toBe('ab');
      expect(await ex.submit(targets.tuple)).toEqual([]);
      expect(await ex.submit((a: number, b: number) => a ** b, 2, 10)).toBe(1024);
      const pid = await ex.submit(targets.whoami);
      expect(typeof pid).toBe('number');
      expect(pid).not.toBe(process.pid);
    });

    it('awaits async functions in the worker; many submissions resolve in any order', async () => {
      expect(await ex.submit(targets.asyncMul, 6, 7)).toBe(42);
      const all = await Promise.all(range(40).map((x) => ex.submit(targets.jitterEcho, x)));
      expect(all).toEqual(range(40));
    });

    it('a task that throws rejects with a RemoteError (cause, worker stack); the executor keeps working', async () => {
      expectRemote(await failure(() => ex.submit(targets.failAt, 3, 3)), /bad item 3/, 'RangeError');
      expectRemote(await failure(() => ex.submit(targets.failAsync, 'async no')), /async no/, 'TypeError');
      // A failure nobody awaits is no unhandled rejection (vitest would report one).
      void ex.submit(targets.failAsync, 'nobody listens');
      await sleep(50);
      expect(await ex.submit(targets.square, 5)).toBe(25);
    });

    it('a worker that dies fails only its task, with WorkerLostError, and is replaced', async () => {
      const err = await failure(() => ex.submit(targets.exitNow, 3));
      expect(err).toBeInstanceOf(mp.WorkerLostError);
      expect((err as mp.WorkerLostError).exitcode).toBe(3);
      expect(await Promise.all(range(4).map((x) => ex.submit(targets.square, x)))).toEqual([0, 1, 4, 9]);
    });

    it('argument errors are TypeErrors that name the argument', () => {
      for (const fn of [5, 'square', null, { name: 'x' }]) {
        expect(() => ex.submit(fn as never)).toThrow(TypeError);
        expect(() => ex.submit(fn as never)).toThrow(/fn/);
      }
    });
  });

  describe('map', () => {
    it('one iterable: results in order, whatever order the tasks finish in', async () => {
      const it = ex.map(targets.jitterEcho, range(30));
      expect(typeof it[Symbol.asyncIterator]).toBe('function');
      expect(await collect(it)).toEqual(range(30));
      expect(await collect(ex.map(targets.square, new Set([1, 2, 3])))).toEqual([1, 4, 9]);
      expect(await collect(ex.map(targets.square, []))).toEqual([]);
      expect(await collect(ex.map(targets.tuple))).toEqual([]);
    });

    it('several iterables are zipped, stopping at the shortest (as Python zip); fn gets one argument from each', async () => {
      let closed = false;
      function* endless(): Generator<number> {
        try {
          for (let i = 0; ; i++) yield i * 100;
        } finally {
          closed = true;
        }
      }
      const it = ex.map(targets.tuple, [1, 2, 3, 4], 'abc', new Set([true, false, null, 1, 2]), endless());
      // Sync iterables are read by the call, as in Python; the longer ones are closed.
      expect(closed).toBe(true);
      expect(await collect(it)).toEqual([
        [1, 'a', true, 0],
        [2, 'b', false, 100],
        [3, 'c', null, 200],
      ]);
      expect(await collect(ex.map(targets.add, range(10), range(97, 3)))).toEqual([3, 5, 7, 9, 11, 13, 15, 17, 19, 21]);
      expect(await collect(ex.map(targets.add, range(5), []))).toEqual([]);
    });

    it('async iterables (alone, or mixed with sync ones) are read as they come', async () => {
      expect(await collect(ex.map(targets.square, asyncRange(10)))).toEqual(range(10).map((x) => x * x));
      expect(await collect(ex.map(targets.add, asyncRange(20), range(5)))).toEqual([0, 2, 4, 6, 8]);
      expect(await collect(ex.map(targets.asyncMul, range(7), asyncRange(100, 1), { chunksize: 3 }))).toEqual(range(7).map((x) => x * (x + 1)));
    });

    it("an async iterable's error comes after the results of the items before it", async () => {
      async function* failing(): AsyncGenerator<number> {
        yield 1;
        yield 2;
        await sleep(5);
        throw new SyntaxError('the source broke');
      }
      const { got, error } = await collectUntilError(ex.map(targets.square, failing()));
      expect(got).toEqual([1, 4]);
      expect(error).toBeInstanceOf(SyntaxError);
      // A sync iterable's error is thrown by the call itself (Python reads them in map()).
      function* broken(): Generator<number> {
        yield 1;
        throw new SyntaxError('read at the call');
      }
      expect(() => ex.map(targets.square, broken())).toThrow(/read at the call/);
    });

    it('chunksize: consecutive items go to a worker together; results still in order', async () => {
      const out = await collect(ex.map(targets.withPid, range(12), { chunksize: 4 }));
      expect(out.map(([x]) => x)).toEqual(range(12));
      for (let c = 0; c < 3; c++) {
        const pids = new Set(out.slice(c * 4, c * 4 + 4).map(([, pid]) => pid));
        expect(pids.size, `chunk ${c}`).toBe(1);
      }
      expect(await collect(ex.map(targets.add, range(10), range(10), { chunksize: 3 }))).toEqual(range(10).map((x) => 2 * x));
      expect(await collect(ex.map(targets.square, range(5), { chunksize: 100 }))).toEqual([0, 1, 4, 9, 16]);
    });

    it('a task error is thrown when the iteration reaches it, after the results before it', async () => {
      const bad = range(6).map(() => 3);
      const { got, error } = await collectUntilError(ex.map(targets.failAt, range(6), bad));
      expect(got).toEqual([0, 10, 20]);
      expectRemote(error, /bad item 3/, 'RangeError');
      // With chunks, the failing item's whole chunk is lost (Python's _process_chunk).
      const chunked = await collectUntilError(ex.map(targets.failAt, range(12), range(12).map(() => 5), { chunksize: 4 }));
      expect(chunked.got).toEqual([0, 10, 20, 30]);
      expectRemote(chunked.error, /bad item 5/, 'RangeError');
      expect(await collect(ex.map(targets.square, [6]))).toEqual([36]);
    });

    it('timeout (seconds from the call): TimeoutError while iterating; results ready in time still come', async () => {
      const t0 = performance.now();
      const { got, error } = await collectUntilError(ex.map(targets.sleepValue, [10, 1500], ['quick', 'slow'], { timeout: 0.3 }));
      const took = performance.now() - t0;
      expect(got).toEqual(['quick']);
      expect(error).toBeInstanceOf(mp.TimeoutError);
      expect((error as mp.TimeoutError).code).toBe('ERR_MP_TIMEOUT');
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(1200);
      // Counted from the call: results that are done are yielded even past the deadline.
      const late = ex.map(targets.square, [1, 2, 3], { timeout: 0.1 });
      await sleep(400);
      expect(await collect(late)).toEqual([1, 4, 9]);
    });

    it('a trailing plain object is the options; anything else must be iterable', () => {
      expect(() => ex.map(targets.square, [1], { chunksize: 0 })).toThrow(mp.ValueError);
      expect(() => ex.map(targets.square, [1], { chunksize: 1.5 })).toThrow(/options\.chunksize/);
      expect(() => ex.map(targets.square, [1], { timeout: 'soon' as never })).toThrow(TypeError);
      expect(() => ex.map(targets.square, 5 as never)).toThrow(/iterables\[0\]/);
      expect(() => ex.map(targets.add, [1], null as never, [2])).toThrow(TypeError);
      expect(() => ex.map(7 as never, [1])).toThrow(/fn/);
    });

    it('leaving the iteration early cancels the items not started yet', async () => {
      const one = newExecutor({ maxWorkers: 1 });
      const counter = mp.Value('i', 0);
      const n = 20;
      const t0 = performance.now();
      for await (const v of one.map(targets.countAndSleep, range(n).map(() => counter), range(n).map(() => 100), range(n))) {
        expect(v).toBe(0);
        break;
      }
      await settles(one.shutdown(), 'shutdown');
      // The first result, plus at most the window of items already handed to the pool.
      expect(counter.value).toBeLessThanOrEqual(4);
      expect(performance.now() - t0).toBeLessThan(n * 100);
    });
  });
});

describe('options', () => {
  it('maxWorkers < 1 -> ValueError; wrong types -> TypeError naming the option', () => {
    for (const maxWorkers of [0, -1]) {
      expect(() => new mp.ProcessPoolExecutor({ maxWorkers })).toThrow(mp.ValueError);
      expect(() => new mp.ProcessPoolExecutor({ maxWorkers })).toThrow(/maxWorkers/);
    }
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ maxWorkers: '2' }, /options\.maxWorkers/],
      [{ maxWorkers: 1.5 }, /options\.maxWorkers/],
      [{ initializer: 5 }, /options\.initializer/],
      [{ initargs: 'x' }, /options\.initargs/],
      [{ maxTasksPerChild: 'many' }, /options\.maxTasksPerChild/],
      [{ mpContext: 'spawn' }, /options\.mpContext/],
    ];
    for (const [options, re] of bad) {
      expect(() => new mp.ProcessPoolExecutor(options as mp.ProcessPoolExecutorOptions)).toThrow(TypeError);
      expect(() => new mp.ProcessPoolExecutor(options as mp.ProcessPoolExecutorOptions)).toThrow(re);
    }
    expect(() => new mp.ProcessPoolExecutor({ maxTasksPerChild: 0 })).toThrow(mp.ValueError);
    expect(() => new mp.ProcessPoolExecutor('x' as never)).toThrow(TypeError);
  });

  it('an executor starts its workers at the first task, not before', async () => {
    const before = mp.activeChildren().length;
    const ex = newExecutor();
    expect(mp.activeChildren().length).toBe(before);
    const t0 = performance.now();
    await ex.shutdown();
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('initializer and initargs run in each worker before its tasks', async () => {
    const pids = mp.Array('i', 8);
    const ex = newExecutor({ initializer: targets.initRecord, initargs: [pids, 'hello'] });
    const got = await Promise.all(range(4).map(() => ex.submit(targets.initialized)));
    for (const [value] of got) expect(value).toBe('hello');
    await ex.shutdown();
    expect(pids[0]).toBe(2);
    for (const pid of recorded(pids)) expect(isRunning(pid), `worker ${pid}`).toBe(false);
  });

  it('an initializer that throws fails every task with a RemoteError naming it', async () => {
    const ex = newExecutor({ initializer: T('initFails') });
    const errors = await Promise.all([ex.submit(targets.square, 1), ex.submit(targets.square, 2)].map((p) => failure(() => p)));
    for (const err of errors) {
      expectRemote(err, /initializer says no/, 'Error');
      expect((err as Error).message).toMatch(/initializer failed/);
    }
    await settles(ex.shutdown(), 'shutdown of a broken executor');
  });

  it('maxTasksPerChild: a worker is replaced after that many tasks', async () => {
    const ex = newExecutor({ maxWorkers: 1, maxTasksPerChild: 2 });
    const pids: number[] = [];
    for (let i = 0; i < 4; i++) pids.push(await ex.submit(targets.whoami));
    expect(pids[0]).toBe(pids[1]);
    expect(pids[2]).toBe(pids[3]);
    expect(pids[2]).not.toBe(pids[0]);
    await ex.shutdown();
  });
});

describe('shutdown', () => {
  it('wait (default): resolves after the queued tasks are done and the workers have exited', async () => {
    const pids = mp.Array('i', 8);
    const counter = mp.Value('i', 0);
    const ex = newExecutor({ initializer: targets.initRecord, initargs: [pids, null] });
    const done: number[] = [];
    const tasks = range(6).map((i) => ex.submit(targets.countAndSleep, counter, 100, i).then((v) => done.push(v)));
    const mapped = ex.map(targets.square, range(5));
    await settles(ex.shutdown(), 'shutdown');
    expect(done.sort()).toEqual(range(6));
    expect(counter.value).toBe(6);
    await Promise.all(tasks);
    expect(await collect(mapped)).toEqual([0, 1, 4, 9, 16]);
    expect(pids[0]).toBe(2);
    for (const pid of recorded(pids)) expect(isRunning(pid), `worker ${pid}`).toBe(false);
  });

  it('is idempotent, and no new tasks are taken after it', async () => {
    const ex = newExecutor();
    expect(await ex.submit(targets.square, 3)).toBe(9);
    await ex.shutdown();
    await settles(ex.shutdown(), 'a second shutdown');
    await settles(ex.shutdown({ wait: false, cancelFutures: true }), 'a third shutdown');
    for (const call of [() => ex.submit(targets.square, 1), () => ex.map(targets.square, [1])]) {
      expect(call).toThrow(mp.ValueError);
      expect(call).toThrow('cannot schedule new futures after shutdown');
    }
    expect(await failure(() => ex.shutdown({ wait: 'yes' as never }))).toBeInstanceOf(TypeError);
  });

  it('wait: false returns at once; the queued tasks still run, and a later wait sees them done', async () => {
    const ex = newExecutor();
    const slow = ex.submit(targets.sleepValue, 300, 'slow');
    const t0 = performance.now();
    await ex.shutdown({ wait: false });
    expect(performance.now() - t0).toBeLessThan(100);
    expect(() => ex.submit(targets.square, 1)).toThrow(mp.ValueError);
    expect(await settles(slow, 'the queued task')).toBe('slow');
    await settles(ex.shutdown(), 'shutdown with wait');
  });

  it('cancelFutures: tasks not started reject with CancelledError; started ones finish', async () => {
    const ex = newExecutor({ maxWorkers: 1 });
    const counter = mp.Value('i', 0);
    const tasks = range(10).map((i) => ex.submit(targets.countAndSleep, counter, 100, i));
    const mapped = ex.map(targets.square, range(5));
    await sleep(30);
    await settles(ex.shutdown({ cancelFutures: true }), 'shutdown');
    const outcomes = await Promise.allSettled(tasks);
    const finished = outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<number>).value);
    // The first ones were handed to the pool (2 x maxWorkers at most): they count as started.
    expect(finished.length).toBeGreaterThanOrEqual(1);
    expect(finished.length).toBeLessThanOrEqual(2);
    expect(finished).toEqual(range(finished.length));
    expect(counter.value).toBe(finished.length);
    for (const o of outcomes.slice(finished.length)) {
      expect(o.status).toBe('rejected');
      expectCancelled((o as PromiseRejectedResult).reason);
    }
    const { got, error } = await collectUntilError(mapped);
    expect(got).toEqual([]);
    expectCancelled(error);
  });

  it('cancelFutures also stops a map still reading an async iterable', async () => {
    const ex = newExecutor();
    async function* slowly(): AsyncGenerator<number> {
      for (let i = 0; ; i++) {
        await sleep(20);
        yield i;
      }
    }
    const mapped = ex.map(targets.square, slowly());
    await sleep(150);
    await settles(ex.shutdown({ cancelFutures: true }), 'shutdown');
    const { got, error } = await collectUntilError(mapped);
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual(range(got.length).map((x) => x * x));
    expectCancelled(error);
  });

  it('await using shuts down with wait at scope exit', async () => {
    const pids = mp.Array('i', 8);
    let outstanding: Promise<string> | undefined;
    let resolvedAt = Infinity;
    let exitedAt = 0;
    {
      await using ex = new mp.ProcessPoolExecutor({ maxWorkers: 2, initializer: targets.initRecord, initargs: [pids, null] });
      expect(await ex.submit(targets.square, 4)).toBe(16);
      outstanding = ex.submit(targets.sleepValue, 200, 'finished');
      void outstanding.then(() => {
        resolvedAt = performance.now();
      });
      executors.push(ex);
    }
    exitedAt = performance.now();
    expect(resolvedAt).toBeLessThanOrEqual(exitedAt);
    expect(await outstanding).toBe('finished');
    for (const pid of recorded(pids)) expect(isRunning(pid), `worker ${pid}`).toBe(false);
    expect(() => executors.at(-1)!.submit(targets.square, 1)).toThrow(/after shutdown/);
  });
});

describe('a script using an executor', () => {
  it('ends by itself, after shutdown(), after shutdown({ wait: false }), or with no shutdown at all', async () => {
    const scenarios = ['shutdown', 'shutdown-nowait', 'no-shutdown', 'unsendable'];
    const results = await Promise.all(scenarios.map((s) => settles(runScript(fixturePath('futures-targets.mjs'), [s]), `script ${s}`, 20_000)));
    for (const [i, r] of results.entries()) {
      const what = `${scenarios[i]}: ${r.stderr}`;
      expect(r.code, what).toBe(0);
      expect(r.signal, what).toBeNull();
      const report = r.reports[0] as { squares: number[]; pids: number[]; slow?: string };
      expect(report.squares, what).toEqual([1, 4, 9, 16]);
      if (scenarios[i] === 'shutdown-nowait') expect(r.reports[1], what).toEqual({ slow: 'slow' });
      else expect(report.slow, what).toBe('slow');
      if (scenarios[i] === 'unsendable') expect((report as { error?: string }).error, what).toBe('TypeError');
      for (const pid of report.pids) expect(await waitGone(pid, 5_000), `${what}: worker ${pid}`).toBe(true);
    }
  });
});
