// W6 pool-map-cpu (s and speedup, 32 tasks): each task counts the primes below 300000 by
// trial division; 32 tasks on 2 workers. Reports the seconds of the pool run and its
// speed-up over running the 32 tasks serially in this process (same function, warm).
import { check, emit, median, now, repeat } from '../lib/common.mjs';
import { mp } from '../lib/mp.mjs';
import { runIfMain } from '../lib/workload.mjs';

export const workload = { id: 'W6', name: 'pool-map-cpu', python: 'w6_pool_cpu.py' };

const TASKS = 32;
/** The limit and pi(limit), the count every task must return. */
const sizes = (quick) => (quick ? { limit: 30_000, primes: 3245 } : { limit: 300_000, primes: 25997 });

/** The task (exported so pool workers can import it by reference). */
export function countPrimes(limit) {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (n % 2 === 0) {
      if (n === 2) count++;
      continue;
    }
    let prime = 1;
    for (let d = 3; d * d <= n; d += 2) {
      if (n % d === 0) {
        prime = 0;
        break;
      }
    }
    count += prime;
  }
  return count;
}

/** Time `runAll(tasks)` (resolving to the 32 counts) `repeats` times; median seconds. */
async function seconds(opts, label, runAll, tasks, expected) {
  const values = await repeat(opts.repeats, async () => {
    const t0 = now();
    const out = await runAll(tasks);
    const t1 = now();
    check(out.length === TASKS && out.every((c) => c === expected), `${opts.impl} (${label}): wrong counts ${out}`);
    return (t1 - t0) / 1000;
  });
  return median(values);
}

export const impls = {
  'mp:Pool.map': {
    needs: ['Pool'],
    run: async (opts) => {
      const { limit, primes } = sizes(opts.quick);
      const tasks = Array(TASKS).fill(limit);
      countPrimes(limit); // warm the serial path's JIT
      const serial = await seconds(opts, 'serial', (ts) => ts.map(countPrimes), tasks, primes);
      const pool = new (mp().Pool)({ processes: 2 });
      try {
        await pool.map(countPrimes, [limit, limit, limit, limit], { chunksize: 1 }); // warm
        const parallel = await seconds(opts, 'pool', (ts) => pool.map(countPrimes, ts), tasks, primes);
        emit(opts.bench, opts.impl, parallel, 's', TASKS);
        emit(opts.bench, opts.impl, serial / parallel, 'speedup', TASKS);
      } finally {
        await pool.terminate();
      }
    },
  },
};

runIfMain(import.meta, workload, impls);
