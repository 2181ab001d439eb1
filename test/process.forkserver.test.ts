// The forkserver start method: start() hands the job to a warm process kept by a server
// process (the child's OS parent is the server, not this process), with the same exit
// codes, signals, joins and daemon rules as spawn.
import { readFileSync } from 'node:fs';
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { fixturePath, fixtureUrl, hasProc, isRunning, runScript, startScript, taggedProcesses, waitGone } from './helpers/scripts.js';

const TARGETS = fixtureUrl('process-targets.mjs');
const T = (name: string) => ({ module: TARGETS, name });
const MAIN = fixturePath('process-main.mjs');
const posix = process.platform !== 'win32';

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
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

  it.skipIf(!hasProc)("the child's OS parent is the server, not this process; pid is set on return", async () => {
    const p = new ctx.Process({ target: T('sleepFor'), args: [30] });
    p.start();
    expect(typeof p.pid).toBe('number');
    expect(isRunning(p.pid!)).toBe(true);
    const server = ppidOf(p.pid!);
    expect(server).not.toBe(process.pid);
    expect(ppidOf(server)).toBe(process.pid);
    await p.join(0.1); // times out, never rejects
    expect(p.exitcode).toBeNull();
    p.kill();
    await p.join();
    expect(p.exitcode).toBe(-9);
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
    if (hasProc) {
      // The server and its warm children end with the program.
      const end = Date.now() + 5000;
      while (taggedProcesses(tag).length > 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
      expect(taggedProcesses(tag)).toEqual([]);
    }
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
