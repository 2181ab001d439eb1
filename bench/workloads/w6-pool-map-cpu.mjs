// W6 pool-map-cpu (s and speedup, 32 tasks): each task counts the primes below 300000 by
// trial division; 32 tasks on 2 workers. Reports the seconds of the pool run and its
// speed-up over running the 32 tasks serially in this process (same function, warm).
// Node peers: piscina and workerpool (threads), one task per count (bench/lib/peers.mjs).
import { check, emit, median, now, repeat } from '../lib/common.mjs';
import { mp } from '../lib/mp.mjs';
import { mapEach, openPeer, peerPackages } from '../lib/peers.mjs';
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

/**
 * The serial run in this process, then the pool from `open()` (created and warmed
 * untimed): `{ warm(tasks), map(tasks), close() }`, map resolving to the counts in order.
 */
async function measure(opts, open) {
  const { limit, primes } = sizes(opts.quick);
  const tasks = Array(TASKS).fill(limit);
  countPrimes(limit); // warm the serial path's JIT
  const serial = await seconds(opts, 'serial', (ts) => ts.map(countPrimes), tasks, primes);
  const pool = await open();
  try {
    await pool.warm([limit, limit, limit, limit]);
    const parallel = await seconds(opts, 'pool', pool.map, tasks, primes);
    emit(opts.bench, opts.impl, parallel, 's', TASKS);
    emit(opts.bench, opts.impl, serial / parallel, 'speedup', TASKS);
  } finally {
    await pool.close();
  }
}

/** A Node peer pool of `kind` (see bench/lib/peers.mjs), one task per count. */
function peerLine(kind) {
  return {
    packages: peerPackages(kind),
    run: (opts) =>
      measure(opts, async () => {
        const pool = await openPeer(kind);
        const map = (ts) => mapEach(ts, (limit) => pool.call('countPrimes', limit));
        return { warm: map, map, close: () => pool.close() };
      }),
  };
}

export const impls = {
  'mp:Pool.map': {
    needs: ['Pool'],
    run: (opts) =>
      measure(opts, () => {
        const pool = new (mp().Pool)({ processes: 2 });
        return {
          warm: (ts) => pool.map(countPrimes, ts, { chunksize: 1 }),
          map: (ts) => pool.map(countPrimes, ts),
          close: () => pool.terminate(),
        };
      }),
  },
  'node:piscina': peerLine('piscina'),
  'node:workerpool-thread': peerLine('workerpool-thread'),
};

runIfMain(import.meta, workload, impls);
