// The forkserver start method: start() hands the job to a warm process kept by a server
// process (the child's OS parent is the server, or on Linux the server's zygote, never
// this process), with the same exit codes, signals, joins and daemon rules as spawn.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v8 from 'node:v8';
import * as mp from 'multiprocessing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fixturePath,
  fixtureUrl,
  hasProc,
  isRunning,
  isZygote,
  ppidOf,
  runScript,
  startScript,
  taggedProcessesAfter,
  waitGone,
} from './helpers/scripts.js';

const TARGETS = fixtureUrl('process-targets.mjs');
const T = (name: string) => ({ module: TARGETS, name });
const MAIN = fixturePath('process-main.mjs');
const FS_MAIN = fixturePath('forkserver-main.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'mp-forkserver-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const posix = process.platform !== 'win32';

const linux = process.platform === 'linux';

/** The server and its warm children end with the program that started them. */
async function expectNoneLeft(tag: string): Promise<void> {
  if (!hasProc) return;
  expect(await taggedProcessesAfter(tag)).toEqual([]);
}

describe.skipIf(!posix)('forkserver', () => {
  const ctx = mp.getContext('forkserver');

  it('runs targets in warm processes: exit codes 0, 1, n, -15, -9', async () => {
    const run = async (options: mp.ProcessOptions) => {
      const p = new ctx.Process(options);
      p.start();
      await p.join();
      return p.exitcode;
    };
    expect(await run({ target: T('ok') })).toBe(0);
    expect(await run({ target: T('fail') })).toBe(1);
    expect(await run({ target: T('exitWith'), args: [6] })).toBe(6);
    const a = new ctx.Process({ target: T('sleepFor') });
    const b = new ctx.Process({ target: T('sleepFor') });
    a.start();
    b.start();
    expect(a.isAlive()).toBe(true);
    a.terminate();
    b.kill();
    await Promise.all([a.join(), b.join()]);
    expect([a.exitcode, b.exitcode]).toEqual([-15, -9]);
  });

  it.skipIf(!hasProc)("the child's OS parent is the server's zygote (Linux) or the server, not this process; pid is set on return", async () => {
    const p = new ctx.Process({ target: T('sleepFor'), args: [30] });
    p.start();
    expect(typeof p.pid).toBe('number');
    expect(isRunning(p.pid!)).toBe(true);
    const parent = ppidOf(p.pid!);
    expect(parent).not.toBe(process.pid);
    // On Linux warm children are forked from the zygote, a child of the server.
    expect(isZygote(parent)).toBe(linux && process.env.MP_FORKSERVER_ZYGOTE !== '0');
    const server = isZygote(parent) ? ppidOf(parent) : parent;
    expect(ppidOf(server)).toBe(process.pid);
    await p.join(0.1); // times out, never rejects
    expect(p.exitcode).toBeNull();
    p.kill();
    await p.join();
    expect(p.exitcode).toBe(-9);
  });

  it('setForkserverPreload: later warm processes import the modules before their job', async () => {
    expect(() => mp.setForkserverPreload('x' as never)).toThrow(TypeError);
    expect(() => mp.setForkserverPreload(['./fixtures/no-such-module.mjs'])).toThrow(mp.ValueError);
    mp.setForkserverPreload(['./fixtures/forkserver-preload.mjs']);
    const flag = new mp.Value('i', 0);
    // Warm processes booted before the call may not have it; one booted after does.
    let seen = 0;
    for (let i = 0; i < 6 && seen === 0; i++) {
      const p = new ctx.Process({ target: T('reportPreloaded'), args: [flag] });
      p.start();
      await p.join();
      expect(p.exitcode).toBe(0);
      seen = flag.value;
      if (seen === 0) await new Promise((r) => setTimeout(r, 300));
    }
    expect(seen).toBe(1);
    mp.setForkserverPreload([]);
  });

  it('a shared Value changed by a forkserver child', async () => {
    const v = mp.Value('d', 0);
    const p = new ctx.Process({ target: T('setValue'), args: [v, 2.5] });
    p.start();
    await p.join();
    expect(p.exitcode).toBe(0);
    expect(v.value).toBe(2.5);
  });

  it('from a program: nesting, inherited start method, a burst beyond the warm pool, nothing left behind', async () => {
    const tag = `forkserver-${process.pid}-${Date.now()}`;
    const r = await runScript(MAIN, ['forkserver'], { env: { MP_TEST_TAG: tag } });
    expect(r.code, r.stderr).toBe(0);
    const reports = r.reports as Record<string, unknown>[];
    const nested = reports.filter((x) => typeof x.tag === 'string' && String(x.tag).startsWith('nested-'));
    expect(nested.map((x) => x.name).sort()).toEqual(['Process-1', 'Process-1:1', 'Process-1:2']);
    for (const x of nested) expect(x.startMethod).toBe('forkserver');
    expect(reports.find((x) => 'nested' in x)).toEqual({ nested: 0 });
    expect(reports.find((x) => 'codes' in x)).toEqual({ codes: [0, 1, 9], burst: [0, 0, 0, 0, 0, 0] });
    expect(r.stderr).toMatch(/^Process Process-\d+:\nError: failed on purpose/m);
    // The server and its warm children end with the program.
    await expectNoneLeft(tag);
  });

  it('args of every structured-clone type arrive, through the mailbox and (too big for it) through the server', async () => {
    const shared = { s: 'shared' };
    const args = [
      null,
      -0,
      2 ** 60,
      123n,
      'text ü 😀',
      [1, [2, [3]]],
      new Map<unknown, unknown>([[1, { v: 2 }]]),
      new Set([1, 'a', shared]),
      new Date(1700000000000),
      /ab+c/gi,
      new Uint8Array([1, 2, 3]),
      new Float64Array([1.5, -2]),
      Buffer.from('buf'),
      { shared, again: shared },
    ];
    for (const big of ['', 'x'.repeat(100_000)]) {
      const v = mp.Value('i', 0);
      const all = [...args, big];
      const expected = v8.serialize(all).toString('base64');
      // A self-contained function travels as source; `require` is in its scope.
      const target = (value: { value: number }, want: string, ...got: unknown[]) => {
        const sent = require('node:v8').deserialize(Buffer.from(want, 'base64'));
        value.value = require('node:util').isDeepStrictEqual(got, sent) ? 1 : -1;
      };
      const p = new ctx.Process({ target, args: [v, expected, ...all] });
      p.start();
      await p.join();
      expect(p.exitcode).toBe(0);
      expect(v.value).toBe(1);
    }
  });

  it('a start() whose args cannot be sent throws a TypeError and uses up no warm process', async () => {
    const bad = new ctx.Process({ target: T('ok'), args: [() => 1] });
    expect(() => bad.start()).toThrow(TypeError);
    const p = new ctx.Process({ target: T('exitWith'), args: [3] });
    p.start();
    await p.join();
    expect(p.exitcode).toBe(3);
  });

  it.skipIf(!hasProc)('warm children import the modules of earlier targets ahead of their jobs; isMainModule() stays false', async () => {
    const tag = `fs-preload-${process.pid}-${Date.now()}`;
    const log = join(tmp, 'preload.log');
    const r = await runScript(FS_MAIN, ['preload'], { env: { MP_TEST_LOG: log, MP_TEST_TAG: tag } });
    expect(r.code, r.stderr).toBe(0);
    const reports = r.reports as { tag: string; pid: number; ppid: number; loadedAs: string; name: string; isMain: boolean }[];
    expect(reports.map((x) => x.name)).toEqual(['Process-1', 'Process-2', 'Process-3', 'Process-4', 'Process-5']);
    for (const x of reports) expect(x.isMain).toBe(false);
    // The first child imported the module for its job; warm children booted after it had
    // imported it before they had one (as a child, not as the main program).
    expect(reports[0]!.loadedAs).toBe('Process-1');
    expect(reports.some((x) => x.loadedAs === 'ForkServerProcess')).toBe(true);
    // Evaluated once for each process, whether for its job (in the process) or ahead of
    // it: in the process itself, or (forked) in the zygote it was forked from.
    const evaluated = lines(log).map(Number);
    for (const x of reports) {
      const own = evaluated.filter((pid) => pid === x.pid).length;
      const inherited = evaluated.filter((pid) => pid === x.ppid).length;
      if (x.loadedAs === x.name) expect(own).toBe(1);
      else expect(own + inherited).toBe(1);
    }
    await expectNoneLeft(tag);
  });

  it('a missing guard: every start gets the guard ProcessError, also in warm children that imported the module first; nothing runs away', async () => {
    const tag = `fs-noguard-${process.pid}-${Date.now()}`;
    const log = join(tmp, 'noguard.log');
    const r = await runScript(fixturePath('process-noguard-forkserver.mjs'), [], { env: { MP_TEST_LOG: log, MP_TEST_TAG: tag } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ codes: [1, 1] }]);
    for (const name of ['Process-1', 'Process-2']) {
      expect(r.stderr).toMatch(new RegExp(`^Process ${name}:\nProcessError: An attempt has been made to start a new process`, 'm'));
    }
    expect(r.stderr).not.toContain('work ran');
    // The program, its two children, and at most the warm children the server keeps.
    const count = lines(log).length;
    expect(count).toBeGreaterThanOrEqual(3);
    expect(count).toBeLessThanOrEqual(3 + 8);
    await expectNoneLeft(tag);
    expect(lines(log)).toHaveLength(count);
  });

  it('a target module that ends every child importing it: no boot storm, later starts work', async () => {
    const tag = `fs-exit-${process.pid}-${Date.now()}`;
    const log = join(tmp, 'exit-at-import.log');
    const r = await runScript(FS_MAIN, ['exitAtImport'], { env: { MP_TEST_EXIT_LOG: log, MP_TEST_TAG: tag } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports.at(-1)).toEqual({ codes: [7, 0, 0, 0] });
    // The child that ran the target, and the few warm children that imported it before
    // the server stopped preloading it.
    expect(lines(log).length).toBeGreaterThanOrEqual(1);
    expect(lines(log).length).toBeLessThanOrEqual(4);
    await expectNoneLeft(tag);
  });

  // A non-daemon child's exit cell is watched from the start (and the server does not
  // report its exit over IPC too): nothing is lost without join().
  it('children never joined: exitcode and isAlive learn their ends, and the program ends after the last', async () => {
    const t0 = Date.now();
    const r = await runScript(FS_MAIN, ['unjoined']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports[0]).toEqual({ codes: [0, 3, 5], alive: [false, false, false] });
    const { started } = r.reports[1] as { started: number };
    expect(isRunning(started)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500); // it waited for the last one
  });

  it.skipIf(!hasProc)('the pool grows toward a burst, never beyond MP_FORKSERVER_POOL, and shrinks back when idle', async () => {
    const tag = `fs-pool-${process.pid}-${Date.now()}`;
    const r = await runScript(FS_MAIN, ['pool', '6'], {
      env: { MP_FORKSERVER_POOL: '4', MP_FORKSERVER_IDLE_MS: '1500', MP_TEST_TAG: tag },
    });
    expect(r.code, r.stderr).toBe(0);
    const result = r.reports.find((x) => typeof x === 'object' && x !== null && 'codes' in x) as {
      codes: number[];
      max: number;
      shrunk: number;
    };
    expect(result.codes).toEqual([0, 0, 0, 0, 0, 0]);
    // Beyond the base of 2 (to the cap of 4 unless the machine is so loaded that the pool
    // went idle before it was refilled), never beyond the cap, then back to the base.
    expect(result.max).toBeGreaterThan(2);
    expect(result.max).toBeLessThanOrEqual(4);
    expect(result.shrunk).toBe(2);
    // A start after the shrink still finds a warm child.
    expect(r.reports.at(-1)).toMatchObject({ tag: 'after', isMain: false });
    await expectNoneLeft(tag);
  });

  const daemonsOf = (x: unknown) =>
    typeof x === 'object' && x !== null && 'daemons' in x ? (x as { daemons: number[] }).daemons : undefined;

  it('daemons end when the program returns', async () => {
    const r = await runScript(MAIN, ['forkserverDaemon', 'exit']);
    expect(r.code, r.stderr).toBe(0);
    for (const pid of daemonsOf(r.reports[0])!) expect(await waitGone(pid)).toBe(true);
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it.skipIf(signal === 'SIGKILL' && process.platform !== 'linux')(`daemons end when the program gets ${signal}`, async () => {
      const s = startScript(MAIN, ['forkserverDaemon', 'wait']);
      const pids = await s.waitReport(daemonsOf);
      await new Promise((res) => setTimeout(res, 200));
      for (const pid of pids) expect(isRunning(pid)).toBe(true);
      s.proc.kill(signal);
      expect((await s.done).signal).toBe(signal);
      for (const pid of pids) expect(await waitGone(pid)).toBe(true);
    });
  }
});
