// Process helpers: pid liveness, start times, parent-death signal, ppid, FD_CLOEXEC.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';
import { childEnv, fixtures, isLinux, native, processGone, until } from './native-helpers.js';


describe('native: process helpers', () => {
  it('pidAlive: this process, pid 1 (EPERM counts as alive), a reaped child', () => {
    expect(native.pidAlive(process.pid)).toBe(true);
    expect(native.pidAlive(1)).toBe(true);
    const r = spawnSync(process.execPath, ['-e', '0']);
    expect(native.pidAlive(r.pid as number)).toBe(false);
    expectThrows(() => native.pidAlive(0), RangeError, /pid/);
    expectThrows(() => native.pidAlive(-1), RangeError, /pid/);
    expectThrows(() => native.pidAlive(2 ** 40), RangeError, /pid/);
    expectThrows(() => native.pidAlive('1' as unknown as number), TypeError, /pid/);
    expectThrows(() => native.pidAlive(1.5), TypeError, /pid/);
  });

  it('processStartTime: ms since the epoch, later for a younger process, null when gone', async () => {
    const mine = native.processStartTime(process.pid) as number;
    expect(typeof mine).toBe('number');
    expect(mine).toBeLessThanOrEqual(Date.now() + 1000);
    expect(mine).toBeGreaterThan(Date.now() - 1000 * 60 * 60 * 24);
    const before = Date.now();
    const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 5000)']);
    await new Promise((resolve) => c.once('spawn', resolve));
    const theirs = native.processStartTime(c.pid as number) as number;
    expect(theirs).toBeGreaterThanOrEqual(mine);
    // btime has whole seconds and ticks are 10 ms: allow the rounding, not the clock.
    expect(Math.abs(theirs - before)).toBeLessThan(5000);
    expect(native.processStartTime(c.pid as number)).toBe(theirs); // stable: identifies the process
    c.kill('SIGKILL');
    await new Promise((resolve) => c.once('exit', resolve));
    expect(native.processStartTime(c.pid as number)).toBeNull();
    expect(native.processStartTime(0x7ffffffe)).toBeNull();
    expectThrows(() => native.processStartTime(0), RangeError, /pid/);
  });

  it('getppid is the parent pid', () => {
    expect(native.getppid()).toBe(process.ppid);
  });

  it('fdSetCloexec sets FD_CLOEXEC; a closed fd is EBADF', () => {
    const fd = fs.openSync(path.join(fixtures, 'native-rpc.cjs'), 'r');
    try {
      native.fdSetCloexec(fd);
      if (isLinux) {
        const flags = /flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] as string;
        expect(Number.parseInt(flags, 8) & 0o2000000).toBe(0o2000000);
      }
    } finally {
      fs.closeSync(fd);
    }
    expect(() => native.fdSetCloexec(fd)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
    expectThrows(() => native.fdSetCloexec(-1), RangeError, /fd/);
    expectThrows(() => native.fdSetCloexec(Number.NaN), TypeError, /fd/);
  });

  it('setParentDeathSignal: the child is killed when its parent dies', async () => {
    expectThrows(() => native.setParentDeathSignal(99), RangeError, /signal/);
    expectThrows(() => native.setParentDeathSignal('KILL' as unknown as number), TypeError, /signal/);
    if (!isLinux) {
      expect(native.setParentDeathSignal(9)).toBe(false);
      return;
    }
    expect(native.setParentDeathSignal(0)).toBe(true); // 0 clears it: harmless here
    const middle = spawn(process.execPath, [path.join(fixtures, 'native-pdeathsig.cjs'), 'middle'], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    middle.stdout.on('data', (d) => {
      out += d;
    });
    try {
      expect(await until(() => out.includes('\n'))).toBe(true);
      const child = JSON.parse(out);
      expect(child.ok).toBe(true);
      expect(child.ppid).toBe(middle.pid);
      expect(native.pidAlive(child.pid)).toBe(true);
      middle.kill('SIGKILL');
      expect(await until(() => processGone(child.pid))).toBe(true);
    } finally {
      middle.kill('SIGKILL');
    }
  });
});
