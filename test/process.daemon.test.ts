// Daemon children end with their parent, however the parent ends: it returns, throws, is
// interrupted or terminated (handlers the library installs only while daemons live, and
// that re-raise the signal so the parent's exit status stays right), or, on Linux, is
// SIGKILLed (parent-death signal armed in the child, start-up race closed).
import { describe, expect, it } from 'vitest';
import { fixturePath, isRunning, runScript, startScript, waitGone } from './helpers/scripts.js';

const MAIN = fixturePath('process-main.mjs');
const daemonsOf = (r: unknown) =>
  typeof r === 'object' && r !== null && 'daemons' in r ? (r as { daemons: number[] }).daemons : undefined;

async function expectAllGone(pids: number[]): Promise<void> {
  for (const pid of pids) expect(await waitGone(pid, 10_000), `daemon ${pid} still runs`).toBe(true);
}

describe('daemon children', () => {
  it('end when the parent returns normally', async () => {
    const r = await runScript(MAIN, ['daemon', 'exit', '2']);
    expect(r.code, r.stderr).toBe(0);
    const pids = daemonsOf(r.reports[0])!;
    expect(pids).toHaveLength(2);
    await expectAllGone(pids);
  });

  it('end when the parent throws', async () => {
    const r = await runScript(MAIN, ['daemon', 'throw']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('main program throws');
    await expectAllGone(daemonsOf(r.reports[0])!);
  });

  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const signal of signals) {
    it(`end when the parent gets ${signal}, and the parent still dies of ${signal}`, async () => {
      const s = startScript(MAIN, ['daemon', 'wait', '2']);
      const pids = await s.waitReport(daemonsOf);
      for (const pid of pids) expect(isRunning(pid)).toBe(true);
      s.proc.kill(signal);
      const r = await s.done;
      expect(r.signal).toBe(signal);
      await expectAllGone(pids);
    });
  }

  it.skipIf(process.platform !== 'linux')('end when the parent is SIGKILLed (Linux parent-death signal)', async () => {
    const s = startScript(MAIN, ['daemon', 'wait', '2']);
    const pids = await s.waitReport(daemonsOf);
    // Let the daemons get past their start-up (the death signal is armed on the job).
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of pids) expect(isRunning(pid)).toBe(true);
    s.proc.kill('SIGKILL');
    const r = await s.done;
    expect(r.signal).toBe('SIGKILL');
    await expectAllGone(pids);
  });

  it.skipIf(process.platform !== 'linux')('end even when the parent is SIGKILLed right after start()', async () => {
    // The race at start-up: the parent dies before the child armed its death signal. The
    // child notices (getppid() is no longer the parent) and exits.
    for (let i = 0; i < 3; i++) {
      const s = startScript(MAIN, ['daemon', 'wait', '1']);
      const pids = await s.waitReport(daemonsOf);
      s.proc.kill('SIGKILL');
      await s.done;
      await expectAllGone(pids);
    }
  });
});
