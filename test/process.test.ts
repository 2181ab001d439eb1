// Process from the test process itself: life cycle, exit codes, misuse, names, shared
// objects changed by a child, start methods. Targets are explicit references into
// fixtures/process-targets.mjs (the test file itself is TypeScript run by vitest, which a
// plain node child cannot import). Programs run as a user would run them are in
// process.scripts.test.ts.
import * as os from 'node:os';
import * as mp from 'multiprocessing';
import { afterAll, describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';
import { fixtureUrl, isRunning } from './helpers/scripts.js';

const TARGETS = fixtureUrl('process-targets.mjs');
const T = (name: string) => ({ module: TARGETS, name });

async function runTo(options: mp.ProcessOptions): Promise<number | null> {
  const p = new mp.Process(options);
  p.start();
  await p.join();
  return p.exitcode;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const started: mp.Process[] = [];
afterAll(async () => {
  for (const p of started) {
    try {
      p.kill();
    } catch {
      // closed or never started
    }
  }
});

describe('exit codes', () => {
  it('0 on return, 1 on throw or rejection, n on process.exit(n), the exit code set', async () => {
    const [okCode, failCode, asyncCode, exitCode, setCode] = await Promise.all([
      runTo({ target: T('ok') }),
      runTo({ target: T('fail') }),
      runTo({ target: T('failAsync') }),
      runTo({ target: T('exitWith'), args: [5] }),
      runTo({ target: T('exitCodeOnly'), args: [3] }),
    ]);
    expect([okCode, failCode, asyncCode, exitCode, setCode]).toEqual([0, 1, 1, 5, 3]);
  });

  it('1 for an error thrown later from a timer, an unhandled rejection, a promise nothing can settle', async () => {
    const codes = await Promise.all([
      runTo({ target: T('uncaughtLater') }),
      runTo({ target: T('unhandledRejection') }),
      runTo({ target: T('neverSettles') }),
    ]);
    expect(codes).toEqual([1, 1, 1]);
  });

  it('-15 after terminate(), -9 after kill()', async () => {
    const a = new mp.Process({ target: T('sleepFor') });
    const b = new mp.Process({ target: T('sleepFor') });
    a.start();
    b.start();
    started.push(a, b);
    a.terminate();
    b.kill();
    await Promise.all([a.join(), b.join()]);
    expect(a.exitcode).toBe(-15);
    expect(b.exitcode).toBe(-9);
    expect(String(a)).toMatch(/stopped exitcode=-SIGTERM/);
    // Once ended, terminate and kill do nothing.
    a.terminate();
    b.kill();
  });

  it('a Process without a target runs nothing and exits 0', async () => {
    expect(await runTo({})).toBe(0);
  });
});

describe('life cycle', () => {
  it('start() is synchronous: pid is set on return; exitcode null while running', async () => {
    const p = new mp.Process({ target: T('sleepFor'), args: [0.3] });
    expect(p.pid).toBeNull();
    expect(p.ident).toBeNull();
    expect(p.exitcode).toBeNull();
    expect(p.isAlive()).toBe(false);
    expect(String(p)).toMatch(/^<Process name="Process-\d+" parent=\d+ initial>$/);
    p.start();
    started.push(p);
    expect(typeof p.pid).toBe('number');
    expect(p.ident).toBe(p.pid);
    expect(isRunning(p.pid!)).toBe(true);
    expect(p.isAlive()).toBe(true);
    expect(p.exitcode).toBeNull();
    expect(mp.activeChildren()).toContain(p);
    await p.join();
    expect(p.isAlive()).toBe(false);
    expect(p.exitcode).toBe(0);
    expect(mp.activeChildren()).not.toContain(p);
  });

  it('join(timeout) resolves after the timeout while the child still runs, never rejecting', async () => {
    const p = new mp.Process({ target: T('sleepFor'), args: [30] });
    p.start();
    started.push(p);
    const t0 = Date.now();
    await p.join(0.2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(p.exitcode).toBeNull();
    expect(p.isAlive()).toBe(true);
    await p.join(0); // a zero (or negative) timeout just looks
    await p.join(-1);
    expect(p.isAlive()).toBe(true);
    p.terminate();
    await p.join(30);
    expect(p.exitcode).toBe(-15);
  });

  it('misuse is a ProcessError: start twice, join before start, start or join of the current process', async () => {
    const p = new mp.Process({ target: T('ok') });
    expect(await rejection(p.join())).toBeInstanceOf(mp.ProcessError);
    expectThrows(() => p.terminate(), mp.ProcessError, /not started/);
    p.start();
    expectThrows(() => p.start(), mp.ProcessError, /twice/);
    await p.join();
    expectThrows(() => p.start(), mp.ProcessError, /twice/);
    const me = mp.currentProcess();
    const err = await rejection(me.join());
    expect(err).toBeInstanceOf(mp.ProcessError);
    expect((err as Error).message).toMatch(/can only join a child process/);
    expectThrows(() => me.start(), mp.ProcessError, /created by the current process/);
  });

  it('daemon is settable before start only', async () => {
    const p = new mp.Process({ target: T('ok') });
    expect(p.daemon).toBe(false);
    p.daemon = true;
    expect(p.daemon).toBe(true);
    p.daemon = false;
    p.start();
    expectThrows(() => {
      p.daemon = true;
    }, mp.ProcessError, /already started/);
    await p.join();
    expect(new mp.Process({ daemon: true }).daemon).toBe(true);
  });

  it('close(): ValueError while running; afterwards most methods throw ValueError', async () => {
    const p = new mp.Process({ target: T('sleepFor'), args: [30] });
    p.start();
    started.push(p);
    expectThrows(() => p.close(), mp.ValueError, /still running/);
    p.kill();
    await p.join();
    p.close();
    p.close(); // idempotent
    expectThrows(() => p.start(), mp.ValueError, /closed/);
    expectThrows(() => p.isAlive(), mp.ValueError, /closed/);
    expectThrows(() => p.exitcode, mp.ValueError, /closed/);
    expectThrows(() => p.pid, mp.ValueError, /closed/);
    expectThrows(() => p.terminate(), mp.ValueError, /closed/);
    expect(await rejection(p.join())).toBeInstanceOf(mp.ValueError);
    expect(p.name).toMatch(/^Process-/); // still readable, as in Python
    const q = new mp.Process();
    q.close(); // never started: fine
    expect(String(q)).toMatch(/closed/);
  });

  it('await using: waits for the child, then closes', async () => {
    let p: mp.Process | undefined;
    {
      await using q = new mp.Process({ target: T('sleepFor'), args: [0.1] });
      q.start();
      p = q;
    }
    expectThrows(() => p!.exitcode, mp.ValueError, /closed/);
  });
});

describe('names and the current process', () => {
  it('Process-N from a counter; explicit and assigned names', () => {
    const a = new mp.Process();
    const b = new mp.Process();
    const na = Number(a.name.split('-')[1]);
    expect(a.name).toMatch(/^Process-\d+$/);
    expect(b.name).toBe(`Process-${na + 1}`);
    expect(new mp.Process({ name: 'w1' }).name).toBe('w1');
    a.name = 'renamed';
    expect(a.name).toBe('renamed');
    expectThrows(() => {
      a.name = 5 as unknown as string;
    }, TypeError, /name must be a string/);
  });

  it('a subclass is named after its class, as in Python', () => {
    class Custom extends mp.Process {}
    expect(new Custom().name).toMatch(/^Custom-\d+$/);
  });

  it('currentProcess() is MainProcess with a 32-byte authkey; parentProcess() is null', () => {
    const me = mp.currentProcess();
    expect(me).toBeInstanceOf(mp.Process);
    expect(me.name).toBe('MainProcess');
    expect(me.pid).toBe(process.pid);
    expect(me.ident).toBe(process.pid);
    expect(me.daemon).toBe(false);
    expect(me.isAlive()).toBe(true);
    expect(Buffer.isBuffer(me.authkey)).toBe(true);
    expect(me.authkey.length).toBe(32);
    expect(mp.currentProcess()).toBe(me);
    expect(mp.parentProcess()).toBeNull();
    // A new Process inherits the authkey (a copy).
    const p = new mp.Process();
    expect(p.authkey.equals(me.authkey)).toBe(true);
    p.authkey = Buffer.from('other');
    expect(me.authkey.length).toBe(32);
  });

  it('cpuCount() is the available parallelism', () => {
    expect(mp.cpuCount()).toBe(os.availableParallelism());
  });

  it('activeChildren() lists live children only', async () => {
    const a = new mp.Process({ target: T('sleepFor'), args: [30] });
    const b = new mp.Process({ target: T('ok') });
    a.start();
    b.start();
    started.push(a);
    await b.join();
    const live = mp.activeChildren();
    expect(live).toContain(a);
    expect(live).not.toContain(b);
    a.kill();
    await a.join();
    expect(mp.activeChildren()).not.toContain(a);
  });
});

describe('arguments and targets', () => {
  it('a child changes a shared Value and a shared Array passed in args', async () => {
    const v = mp.Value('i', 0);
    const arr = mp.Array('d', [1, 2, 3]);
    expect(await runTo({ target: T('setValue'), args: [v, 42] })).toBe(0);
    expect(await runTo({ target: T('addToArray'), args: [arr, 10] })).toBe(0);
    expect(v.value).toBe(42);
    expect(Array.from(arr)).toEqual([11, 12, 13]);
  });

  it('refuses bound and native functions at start() with a TypeError, starting nothing', () => {
    const before = mp.activeChildren().length;
    function f() {}
    const bound = new mp.Process({ target: f.bind(null) });
    expectThrows(() => bound.start(), TypeError, /bound function/);
    expect(bound.pid).toBeNull();
    expectThrows(() => new mp.Process({ target: Math.max }).start(), TypeError, /native/);
    expect(mp.activeChildren().length).toBe(before);
  });

  it('args that cannot be cloned fail at start() with a TypeError', () => {
    const p = new mp.Process({ target: T('ok'), args: [{ fn: () => 1 }] });
    expectThrows(() => p.start(), TypeError, /could not be cloned/);
    expect(p.pid).toBeNull();
    expect(p.isAlive()).toBe(false);
  });

  it('checks its options', () => {
    expectThrows(() => new mp.Process(5 as never), TypeError, /options/);
    expectThrows(() => new mp.Process({ target: 'work' as never }), TypeError, /options.target/);
    expectThrows(() => new mp.Process({ args: 'abc' as never }), TypeError, /options.args/);
    expectThrows(() => new mp.Process({ name: 1 as never }), TypeError, /options.name/);
    expectThrows(() => new mp.Process({ daemon: 'yes' as never }), TypeError, /options.daemon/);
    const p = new mp.Process({ args: new Set([1, 2]) as never });
    expect(p).toBeInstanceOf(mp.Process);
  });
});

describe('start methods and contexts', () => {
  it('spawn is the default; forkserver exists on POSIX; fork is refused with a ValueError', () => {
    expect(mp.getAllStartMethods()).toEqual(process.platform === 'win32' ? ['spawn'] : ['spawn', 'forkserver']);
    expect(mp.getStartMethod()).toBe('spawn');
    expectThrows(() => mp.getContext('fork' as never), mp.ValueError, /cannot run JavaScript.*'spawn'.*'forkserver'/s);
    expectThrows(() => mp.setStartMethod('fork' as never, { force: true }), mp.ValueError, /fork/);
    expectThrows(() => mp.getContext('threads' as never), mp.ValueError, /cannot find context/);
  });

  it('setStartMethod needs force once the method is fixed', () => {
    mp.getStartMethod(); // fixes the default
    expectThrows(() => mp.setStartMethod('spawn'), mp.ProcessError, /already been set/);
    mp.setStartMethod(null, { force: true });
    expect(mp.getStartMethod({ allowNone: true })).toBeNull();
    mp.setStartMethod('spawn');
    expect(mp.getStartMethod({ allowNone: true })).toBe('spawn');
    mp.setStartMethod('spawn', { force: true });
  });

  it('getContext(m) is the whole API with Process bound to m', async () => {
    const ctx = mp.getContext('spawn');
    expect(mp.getContext('spawn')).toBe(ctx);
    expect(mp.getContext()).toBe(ctx);
    expect(ctx.getStartMethod()).toBe('spawn');
    expectThrows(() => ctx.setStartMethod('spawn'), mp.ValueError, /concrete context/);
    expect(ctx.Value).toBe(mp.Value);
    expect(ctx.Lock).toBe(mp.Lock);
    expect(ctx.currentProcess).toBe(mp.currentProcess);
    const p = new ctx.Process({ target: T('ok') });
    expect(p).toBeInstanceOf(mp.Process);
    expect(p.name).toMatch(/^Process-\d+$/);
    p.start();
    await p.join();
    expect(p.exitcode).toBe(0);
  });
});
