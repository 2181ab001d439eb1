// The forked resource tracker: unlinks what is still registered once every process of
// the tree is gone, however it died.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv, cleanupShm, fixtures, isLinux, native, processGone, shmExists, sleep, track, until } from './native-helpers.js';

function statFields(pid: number): string[] {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' '); // [0] = state (field 3)
}

describe.skipIf(!isLinux)('native: resource tracker', () => {
  it('unlinks registered names after SIGKILL of the registering process, keeps the rest, then exits', async () => {
    const victim = `mp-tracker-victim-${process.pid}`;
    fs.writeFileSync(path.join('/tmp', victim), 'keep me');
    const owner = spawn(process.execPath, [path.join(fixtures, 'native-tracker-owner.cjs'), victim], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    owner.stdout.on('data', (d) => {
      out += d;
    });
    let info: { trackerPid: number; fd: number; flags: string; registered: string[]; kept: string } | undefined;
    try {
      expect(await until(() => out.includes('\n'))).toBe(true);
      info = JSON.parse(out);
      if (!info) throw new Error('no report');
      const { trackerPid, registered, kept } = info;
      expect(Number.parseInt(info.flags, 8) & 0o2000000).toBe(0o2000000); // write end is O_CLOEXEC
      for (const n of [...registered, kept]) expect(shmExists(n)).toBe(true);

      // Not our child nor the owner's (double fork), its own session, only fds 0-3.
      expect(native.pidAlive(trackerPid)).toBe(true);
      const f = statFields(trackerPid);
      expect(Number(f[1])).not.toBe(owner.pid);
      expect(Number(f[3])).toBe(trackerPid); // session id
      expect(fs.readdirSync(`/proc/${trackerPid}/fd`).sort()).toEqual(['0', '1', '2', '3']);

      // Signals a terminal or process manager sends are ignored.
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.kill(trackerPid, sig);
      await sleep(200);
      expect(processGone(trackerPid)).toBe(false);

      owner.kill('SIGKILL');
      expect(await until(() => registered.every((n) => !shmExists(n)), 30_000)).toBe(true);
      expect(shmExists(kept)).toBe(true);
      expect(fs.existsSync(path.join('/tmp', victim))).toBe(true);
      expect(await until(() => processGone(trackerPid), 30_000)).toBe(true);
    } finally {
      owner.kill('SIGKILL');
      fs.rmSync(path.join('/tmp', victim), { force: true });
      for (const n of [...(info?.registered ?? []), info?.kept ?? '']) {
        if (n) fs.rmSync(`/dev/shm/${n}`, { force: true });
      }
    }
  });

  it('a tracker started here lives while this process holds the write end', async () => {
    const { fd, pid } = native.trackerStart();
    expect(fd).toBeGreaterThan(2);
    expect(native.pidAlive(pid)).toBe(true);
    const name = track(native.shmCreate(64).name);
    fs.writeSync(fd, `R ${name}\n`);
    await sleep(100);
    expect(shmExists(name)).toBe(true);
    fs.closeSync(fd); // the only write end: the tracker sees EOF
    expect(await until(() => !shmExists(name), 30_000)).toBe(true);
    expect(await until(() => processGone(pid), 30_000)).toBe(true);
    cleanupShm();
  });
});
