// Async waits on the platform's own backend (futex_waitv on Linux), and what async waits
// mean for a process's lifetime: exit when idle, stay while pending, clean worker exit.
import { describe, expect, it } from 'vitest';
import { asyncCases } from './native-async-cases.js';
import { cleanupShm, create, isLinux, native, runFixture, sleep } from './native-helpers.js';

describe('native: waitAsync', () => {
  asyncCases(isLinux ? 'futex_waitv' : 'thread', 1000);
});

describe('native: async waits and process lifetime', () => {
  it('a process that used waits and has none pending exits on its own', async () => {
    for (const arg of ['', 'close']) {
      const r = await runFixture('native-exit-idle.cjs', [arg]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ timedOut: 'timed-out', ok: 'ok', cancelled: 'cancelled', pending: 0 });
    }
  });

  it('a pending wait keeps the process alive until a wake from another process resolves it', async () => {
    const { name, buffer } = create(64);
    const v = new Int32Array(buffer);
    let exited = false;
    const run = runFixture('native-ref-pending.cjs', [name]).then((r) => {
      exited = true;
      return r;
    });
    await sleep(1000);
    expect(exited).toBe(false);
    Atomics.store(v, 0, 1);
    for (let i = 0; i < 200 && !exited; i++) {
      native.wake(v, 0, 1);
      await sleep(25);
    }
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('waiting\nresolved ok pending 0\n');
    cleanupShm();
  });

  it('process.exit() with waits pending does not hang', async () => {
    const r = await runFixture('native-exit-pending.cjs');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('pending 310\n');
  });

  it('terminating worker_threads with pending waits is clean; workers have their own waiter', async () => {
    const r = await runFixture('native-worker-terminate.cjs', [], {}, 60_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.report).toHaveLength(3);
    for (const round of out.report) {
      expect(round.code).toBe(1);
      expect(round.msgs).toContainEqual({ pending: 351, backend: isLinux ? 'futex_waitv' : 'thread' });
      expect(round.msgs).toContainEqual({ timedOut: 'timed-out' });
    }
    expect(out.natural).toEqual({ result: 'ok', exit: 0 });
    expect(out.main).toBe('timed-out');
  });
});
