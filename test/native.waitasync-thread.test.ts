// The same async-wait cases on the portable backend (one thread per pending wait), which
// is what macOS and Windows use: forced here with MP_NATIVE_WAITER=thread, read when this
// process's waiter makes its backend (on first use, after this line).
process.env.MP_NATIVE_WAITER = 'thread';

import { describe, expect, it } from 'vitest';
import { asyncCases } from './native-async-cases.js';
import { runFixture } from './native-helpers.js';

describe('native: waitAsync on the portable thread backend', () => {
  asyncCases('thread', 300);

  it('process.exit() with waits pending does not hang', async () => {
    const r = await runFixture('native-exit-pending.cjs', [], { MP_NATIVE_WAITER: 'thread' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('pending 310\n');
  });

  it('terminating worker_threads with pending waits is clean', async () => {
    const r = await runFixture('native-worker-terminate.cjs', [], { MP_NATIVE_WAITER: 'thread' }, 60_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    for (const round of out.report) {
      expect(round.code).toBe(1);
      expect(round.msgs).toContainEqual({ pending: 351, backend: 'thread' });
    }
    expect(out.natural).toEqual({ result: 'ok', exit: 0 });
  });
});
