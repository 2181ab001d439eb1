// W9 manager-dict (issue 7's figures): a SyncManager dict proxy's `d.get(k)` over the
// manager's Unix socket. Two lines per implementation:
//   manager-dict-get       us/roundtrip, N = 10000 after 1000 untimed, one client
//   manager-dict-clients   calls/s, 2 client processes x N, from "go" to both done
//                          (clients started, connected and warmed before, untimed)
import { check, emit, median, now, perSecond, repeat } from '../lib/common.mjs';
import { mp } from '../lib/mp.mjs';
import { runIfMain } from '../lib/workload.mjs';

export const workload = { id: 'W9', name: 'manager-dict', python: 'w9_manager.py' };

const sizes = (quick) => (quick ? { n: 1_000, warm: 100 } : { n: 10_000, warm: 1_000 });

async function gets(d, count) {
  let bad = 0;
  for (let i = 0; i < count; i++) if ((await d.get('k')) !== 42) bad++;
  return bad;
}

/** A client process: warm up, say ready, wait for go, do `n` gets, report. */
export async function dictClient(d, go, results, n, warm) {
  await gets(d, warm);
  results.putSync('ready');
  await go.wait();
  const bad = await gets(d, n);
  results.putSync({ bad });
}

export const impls = {
  'mp:Manager.dict': {
    needs: ['Manager', 'Process', 'Event', 'Queue'],
    run: async (opts) => {
      const lib = mp();
      const { n, warm } = sizes(opts.quick);
      const manager = await lib.Manager();
      try {
        const d = await manager.dict({ k: 42 });
        check((await gets(d, warm)) === 0, `${opts.impl}: d.get returned a wrong value`);
        const rt = await repeat(opts.repeats, async () => {
          const t0 = now();
          const bad = await gets(d, n);
          const ms = now() - t0;
          check(bad === 0, `${opts.impl}: ${bad} wrong values`);
          return (ms * 1000) / n;
        });
        emit('manager-dict-get', opts.impl, median(rt), 'us/roundtrip', n);

        const rates = await repeat(opts.repeats, async () => {
          const go = new lib.Event();
          const results = new lib.Queue();
          const procs = [0, 1].map(() => new lib.Process({ target: dictClient, args: [d, go, results, n, warm] }));
          for (const p of procs) p.start();
          for (const _ of procs) check((await results.get({ timeout: 60 })) === 'ready', `${opts.impl}: client not ready`);
          const t0 = now();
          go.set();
          for (const _ of procs) check((await results.get({ timeout: 120 })).bad === 0, `${opts.impl}: a client read wrong values`);
          const ms = now() - t0;
          for (const p of procs) await p.join();
          results.close();
          return perSecond(2 * n, ms);
        });
        emit('manager-dict-clients', opts.impl, median(rates), 'calls/s', 2 * n);
      } finally {
        await manager.shutdown();
      }
    },
  },
};

runIfMain(import.meta, workload, impls);
