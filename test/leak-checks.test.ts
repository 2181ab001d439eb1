// The leak checks themselves: they fail the files that leak and pass the ones that do not;
// and no SIGKILL, wherever it lands while segments are being made, leaves one behind.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from './helpers/async.js';

const root = path.join(__dirname, '..');
const linux = process.platform === 'linux';

/** The environment of a process that is the root of its own tree (no inherited tracker). */
function ownTreeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const k of ['MP_TRACKER_FD', 'MP_TRACKER_INO', 'MP_TRACKER_ROOT', 'MP_LEAK_REGISTRY']) delete env[k];
  return env;
}

/** Whether this machine lets a test give a child a private /dev/shm (root, mount namespaces). */
function privateShmWorks(): boolean {
  if (!linux) return false;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', PRIVATE_SHM + 'true'], { encoding: 'utf8' });
  return r.status === 0;
}
const PRIVATE_SHM = 'mount -t tmpfs -o size=256m tmpfs /dev/shm && ';

describe.skipIf(!privateShmWorks())('SIGKILL while segments are being created (in a private /dev/shm: needs root)', () => {
  it('leaves nothing in /dev/shm once the tree is gone, wherever the kill lands (25 kills)', { timeout: 120_000 }, () => {
    const driver = path.join(__dirname, 'fixtures', 'leak-kill-driver.mjs');
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', `${PRIVATE_SHM}exec "$0" "$1" 25`, process.execPath, driver],
      { env: ownTreeEnv(), encoding: 'utf8', timeout: 100_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { rounds: number; busy: number; left: string[] };
    expect(report.busy, 'the loops were killed before they made anything').toBeGreaterThan(20);
    expect(report.left, 'segments left by killed creators').toEqual([]);
  });
});

/** Run vitest on one fixture of test/fixtures/leak-check under the suite's leak checks. */
function runFixture(fixture: string): { status: number | null; out: string } {
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'test/fixtures/leak-check/vitest.config.mjs'],
    { cwd: root, env: ownTreeEnv({ LEAK_FIXTURE: fixture, MP_LEAK_GRACE_MS: '1000', MP_LEAK_CHECK: '' }), encoding: 'utf8', timeout: 90_000 },
  );
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe.skipIf(!linux)('the leak checks of this suite', () => {
  it('fail the run when a file leaves a segment nobody will clean, and name the file', { timeout: 120_000 }, () => {
    const { status, out } = runFixture('leaves-segment');
    const name = /LEAKED (mp_\S+)/.exec(out)?.[1];
    if (name !== undefined) rmSync(`/dev/shm/${name}`, { force: true });
    expect(name, out).toBeDefined();
    expect(status, out).not.toBe(0);
    expect(out).toContain('the test run left 1 shared memory segment(s) behind');
    expect(out).toMatch(new RegExp(`/dev/shm/${name}\\s+<- test/fixtures/leak-check/leaves-segment\\.fixture\\.ts`));
  });

  it('fail a file that leaves a process running (and end that process)', { timeout: 120_000 }, async () => {
    const { status, out } = runFixture('leaves-process');
    const pid = Number(/LEFT (\d+)/.exec(out)?.[1]);
    expect(Number.isInteger(pid), out).toBe(true);
    expect(status, out).not.toBe(0);
    expect(out).toMatch(/this test file left 1 process\(es\) running/);
    expect(out).toContain(`${pid}: `);
    const gone = await until(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5_000);
    expect(gone, `process ${pid} still runs`).toBe(true);
  });

  it('pass a file that cleans up after itself', { timeout: 120_000 }, () => {
    const { status, out } = runFixture('clean');
    expect(status, out).toBe(0);
    expect(out).not.toContain('LEAK CHECK');
  });
});
