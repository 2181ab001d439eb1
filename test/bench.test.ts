// Smoke test of the benchmark harness (bench/run.mjs): it runs, prints only well-formed
// JSON lines with --json, and rejects unknown workloads. Speed is never asserted here.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as mp from 'multiprocessing';

const root = join(__dirname, '..');
const run = (args: string[], timeout = 30_000) =>
  spawnSync(process.execPath, [join(root, 'bench', 'run.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout });

interface BenchLine {
  bench: string;
  impl: string;
  value: number;
  unit: string;
  n: number;
}

describe('bench harness', () => {
  it('--json --quick W8 prints only valid JSON lines, and the checks pass', () => {
    const res = run(['--json', '--quick', 'W8']);
    expect(res.error).toBeUndefined();
    expect(res.stderr).not.toMatch(/^ERROR/m);
    expect(res.status).toBe(0);
    const lines = res.stdout.split('\n').filter((l) => l !== '');
    const parsed = lines.map((l) => JSON.parse(l) as BenchLine);
    for (const line of parsed) {
      expect(Object.keys(line).sort()).toEqual(['bench', 'impl', 'n', 'unit', 'value']);
      expect(line.bench).toBe('shared-array-sum');
      expect(line.impl).toMatch(/^(mp|py|node):/);
      expect(Number.isFinite(line.value) && line.value > 0).toBe(true);
      expect(line.unit).toBe('elem/s');
      expect(line.n).toBe(1_000_000);
    }
    const impls = parsed.map((l) => l.impl);
    expect(impls).toEqual(expect.arrayContaining(['py:Array', 'py:numpy', 'node:worker_threads']));
    if ((mp as Record<string, unknown>).Array !== undefined) {
      expect(impls).toEqual(expect.arrayContaining(['mp:Array', 'mp:Array(cold)']));
    }
  }, 60_000);

  it('selects by W-number or name and lists every workload', () => {
    const res = run(['--list']);
    expect(res.status).toBe(0);
    for (const w of ['W1 queue-throughput', 'W3 lock-uncontended', 'W8 shared-array-sum', 'element-access', 'wake-latency']) {
      expect(res.stdout).toContain(w);
    }
  });

  it('fails on an unknown workload', () => {
    const res = run(['--json', 'W99']);
    expect(res.status).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/unknown workload 'W99'/);
  });
});
