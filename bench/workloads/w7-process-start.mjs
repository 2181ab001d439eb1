// W7 process-start (ms/process, 20 processes): start and join, one after another,
// processes that do nothing. One untimed start first (a forkserver starts its server).
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { check, emit, median, now, once, repeat } from '../lib/common.mjs';
import { mp, root } from '../lib/mp.mjs';
import { runIfMain } from '../lib/workload.mjs';

export const workload = { id: 'W7', name: 'process-start', python: 'w7_process_start.py' };

const EMPTY = join(root, 'bench', 'lib', 'empty.cjs');
const countOf = (quick) => (quick ? 3 : 20);

/** `startJoin()` starts one process, waits for its end and resolves its exit code. */
async function measure(opts, startJoin) {
  const n = countOf(opts.quick);
  check((await startJoin()) === 0, `${opts.impl}: warm-up process failed`);
  const values = await repeat(opts.repeats, async () => {
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const code = await startJoin();
      check(code === 0, `${opts.impl}: process exited with ${code}`);
    }
    return (now() - t0) / n;
  });
  emit(opts.bench, opts.impl, median(values), 'ms/process', n);
}

function mpLine(method) {
  return {
    needs: ['Process', 'getContext'],
    run: (opts) => {
      const ctx = mp().getContext(method);
      return measure(opts, async () => {
        const p = new ctx.Process({ target: () => {} });
        p.start();
        await p.join();
        return p.exitcode;
      });
    },
  };
}

export const impls = {
  'node:child_process.fork': {
    run: (opts) =>
      measure(opts, () => once(fork(EMPTY), 'exit')),
  },
  'mp:spawn': mpLine('spawn'),
  'mp:forkserver': mpLine('forkserver'),
};

runIfMain(import.meta, workload, impls);
