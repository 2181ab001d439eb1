// The forkserver's zygote (Linux): warm children are fork()s of a Node process that has
// the library and earlier targets' modules loaded (lib/zygote.ts). These tests check what
// a forked child must be: its own process (pid, randomness, execArgv), with every runtime
// feature working, and what happens when the zygote dies.
import { readFileSync } from 'node:fs';
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { fixturePath, fixtureUrl, isRunning, runScript, taggedProcessesAfter, waitGone } from './helpers/scripts.js';

const TARGETS = fixtureUrl('zygote-targets.mjs');
const T = (name: string) => ({ module: TARGETS, name });
const linux = process.platform === 'linux';

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

interface Probe {
  pid: number;
  ppid: number;
  osPid: number;
  osPpid: number;
  random: number[];
  bytes: string;
  fromWorker: number;
  timer: string;
  file: boolean;
  echoed: string;
  kept: number;
  execArgv: string[];
}

describe.skipIf(!linux)('forkserver zygote', () => {
  const ctx = mp.getContext('forkserver');

  it('forked children are their own processes: pid, ppid, randomness, execArgv; workers, timers, fs, child processes and GC work', async () => {
    const q = new mp.Queue<Probe>();
    const ps = Array.from({ length: 4 }, () => new ctx.Process({ target: T('probe'), args: [q] }));
    for (const p of ps) p.start();
    const probes: Probe[] = [];
    for (let i = 0; i < ps.length; i++) probes.push(await q.get({ timeout: 60 }));
    for (const p of ps) await p.join();
    expect(ps.map((p) => p.exitcode)).toEqual([0, 0, 0, 0]);
    const zygote = probes[0]!.osPpid;
    expect(cmdline(zygote)).toContain('--single-threaded');
    expect(ppidOf(ppidOf(zygote))).toBe(process.pid); // zygote -> server -> this process
    for (const x of probes) {
      expect(x.pid).toBe(x.osPid);
      expect(x.ppid).toBe(x.osPpid);
      expect(x.osPpid).toBe(zygote);
      expect(ps.map((p) => p.pid)).toContain(x.pid);
      expect(x.execArgv).not.toContain('--single-threaded');
      expect([x.fromWorker, x.timer, x.file, x.echoed, x.kept]).toEqual([2999997, 'fired', true, 'child ok', 200 * 50_000]);
    }
    // Each child draws its own random numbers (V8's generator state is copied by fork).
    const randoms = new Set(probes.flatMap((x) => x.random));
    expect(randoms.size).toBe(probes.length * 2);
    for (const r of randoms) expect(r >= 0 && r < 1).toBe(true);
    expect(new Set(probes.map((x) => x.bytes)).size).toBe(probes.length);
    q.close();
  });

  it("a killed zygote: a running child's exit code is still reported, later starts work", async () => {
    const started = new mp.Event();
    const p = new ctx.Process({ target: T('sleepFor'), args: [1, started] });
    p.start();
    // Killed before it took its job, the child would die with the zygote (as it should).
    expect(await started.wait(30)).toBe(true);
    const zygote = ppidOf(p.pid!);
    expect(cmdline(zygote)).toContain('--single-threaded');
    process.kill(zygote, 'SIGKILL');
    expect(await waitGone(zygote)).toBe(true);
    // The child outlives its zygote and is reparented to the server, which reaps it.
    expect(isRunning(p.pid!)).toBe(true);
    await p.join();
    expect(p.exitcode).toBe(0);
    const q = new ctx.Process({ target: T('exitWith'), args: [5] });
    q.start();
    await q.join();
    expect(q.exitcode).toBe(5);
  });

  it('MP_FORKSERVER_ZYGOTE=0 (warm children booted, as where there is no zygote): a program\'s starts, burst and nesting work the same', async () => {
    const r = await runScript(fixturePath('process-main.mjs'), ['forkserver'], { env: { MP_FORKSERVER_ZYGOTE: '0' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports.find((x) => typeof x === 'object' && x !== null && 'codes' in x)).toEqual({ codes: [0, 1, 9], burst: [0, 0, 0, 0, 0, 0] });
  });

  it('module hooks registered in the zygote (a preloaded module): no child is forked, warm children are booted', async () => {
    const r = await runScript(fixturePath('zygote-hooks-main.mjs'), []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ codes: [0, 0, 0, 0], forked: [false, false, false, false] }]);
  });

  it('programs that end while the zygote refills the pool leave no process behind', async () => {
    const tag = `zygote-churn-${process.pid}-${Date.now()}`;
    const run = () => runScript(fixturePath('zygote-churn-main.mjs'), ['30'], { env: { MP_TEST_TAG: tag } });
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([run(), run()]);
      for (const r of results) expect([r.code, r.reports], r.stderr).toEqual([0, [{ ok: true }]]);
    }
    expect(await taggedProcessesAfter(tag)).toEqual([]);
  });
});
