// W5 pool-map-trivial (items/s, N = 100000): a pool of 2 maps x => x * 2 over 0..N-1.
// Pool creation and the input array are not timed; one small untimed map warms the pool.
// Node peers (piscina, tinypool and workerpool, devDependencies; bench/lib/peers.mjs): one
// task per item, and 1000 items per task (the slicing and joining are timed, as a Pool.map
// chunks inside the timed call).
import { check, emit, median, now, perSecond, repeat } from '../lib/common.mjs';
import { mp } from '../lib/mp.mjs';
import { mapChunked, mapEach, openPeer, peerPackages } from '../lib/peers.mjs';
import { runIfMain } from '../lib/workload.mjs';

export const workload = { id: 'W5', name: 'pool-map-trivial', python: 'w5_pool_map.py' };

const sizeOf = (quick) => (quick ? 2_000 : 100_000);

/** The task (exported so pool workers can import it by reference). */
export function double(x) {
  return x * 2;
}

/** `mapAll(input)` resolves to the results array. */
async function measure(opts, mapAll) {
  const n = sizeOf(opts.quick);
  const input = Array.from({ length: n }, (_, i) => i);
  const warm = await mapAll(input.slice(0, 100));
  check(warm.length === 100 && warm[99] === 198, `${opts.impl}: warm-up map gave a wrong result`);
  const values = await repeat(opts.repeats, async () => {
    const t0 = now();
    const out = await mapAll(input);
    const t1 = now();
    const ok = out.length === n && out[n - 1] === 2 * (n - 1) && out.every((v, i) => v === 2 * i);
    check(ok, `${opts.impl}: wrong results (length ${out.length}, last ${out[out.length - 1]})`);
    return perSecond(n, t1 - t0);
  });
  emit(opts.bench, opts.impl, median(values), 'items/s', n);
}

function poolLine(mapOptions) {
  return {
    needs: ['Pool'],
    run: async (opts) => {
      const pool = new (mp().Pool)({ processes: 2 });
      try {
        await measure(opts, (input) => pool.map(double, input, mapOptions));
      } finally {
        await pool.terminate();
      }
    },
  };
}

/** A Node peer pool of `kind` (see bench/lib/peers.mjs), `perTask` items in each task. */
function peerLine(kind, perTask) {
  return {
    packages: peerPackages(kind),
    run: async (opts) => {
      const pool = await openPeer(kind);
      try {
        await measure(opts, (input) =>
          perTask === 1
            ? mapEach(input, (x) => pool.call('double', x))
            : mapChunked(input, perTask, (xs) => pool.call('doubleChunk', xs)),
        );
      } finally {
        await pool.close();
      }
    },
  };
}

export const impls = {
  'mp:Pool.map': poolLine({}),
  'mp:Pool.map(chunksize=1)': poolLine({ chunksize: 1 }),
  'mp:ProcessPoolExecutor.map': {
    needs: ['ProcessPoolExecutor'],
    run: async (opts) => {
      const ex = new (mp().ProcessPoolExecutor)({ maxWorkers: 2 });
      try {
        await measure(opts, async (input) => {
          const out = [];
          for await (const r of ex.map(double, input)) out.push(r);
          return out;
        });
      } finally {
        await ex.shutdown();
      }
    },
  },
  'node:piscina': peerLine('piscina', 1),
  'node:piscina(1000/task)': peerLine('piscina', 1000),
  'node:tinypool-thread': peerLine('tinypool-thread', 1),
  'node:tinypool-thread(1000/task)': peerLine('tinypool-thread', 1000),
  'node:tinypool-process': peerLine('tinypool-process', 1),
  'node:tinypool-process(1000/task)': peerLine('tinypool-process', 1000),
  'node:workerpool-thread': peerLine('workerpool-thread', 1),
  'node:workerpool-thread(1000/task)': peerLine('workerpool-thread', 1000),
  'node:workerpool-process': peerLine('workerpool-process', 1),
  'node:workerpool-process(1000/task)': peerLine('workerpool-process', 1000),
};

runIfMain(import.meta, workload, impls);
