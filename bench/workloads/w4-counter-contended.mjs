// W4 counter-contended (ops/s total, 2 x 100000): two processes each increment a shared
// int under its lock; time from "go" to both done, workers warm (started, attached, one
// untimed round of a tenth). Check: the counter ends at 2 x 100000.
import { fork } from 'node:child_process';
import { Worker, parentPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { check, emit, median, now, once, perSecond, repeat, stopChild } from '../lib/common.mjs';
import { handleOf, internal, mp } from '../lib/mp.mjs';
import { runIfMain, workerOptions } from '../lib/workload.mjs';

export const workload = { id: 'W4', name: 'counter-contended', python: 'w4_counter.py' };

const FILE = fileURLToPath(import.meta.url);
const sizeOf = (quick) => (quick ? 10_000 : 100_000);

/**
 * Rounds over two ready peers ({ send, next }): `reset()` zeroes the counter, `read()`
 * reads it. Each peer does `per` increments per round.
 */
async function measure(opts, peers, reset, read) {
  const per = sizeOf(opts.quick);
  const total = 2 * per;
  const round = async (count) => {
    reset();
    const t0 = now();
    const done = peers.map((p) => p.next());
    for (const p of peers) p.send({ n: count });
    await Promise.all(done);
    const t1 = now();
    check(read() === 2 * count, `${opts.impl}: counter is ${read()}, expected ${2 * count}`);
    return perSecond(2 * count, t1 - t0);
  };
  await round(Math.floor(per / 10));
  emit(opts.bench, opts.impl, median(await repeat(opts.repeats, () => round(per))), 'ops/s', total);
}

// A futex-style mutex (Drepper's "Futexes are tricky", mutex 2): 0 free, 1 locked,
// 2 locked with waiters. Atomics.wait/notify work between threads of one process.
function lock(w) {
  let c = Atomics.compareExchange(w, 0, 0, 1);
  if (c === 0) return;
  if (c !== 2) c = Atomics.exchange(w, 0, 2);
  while (c !== 0) {
    Atomics.wait(w, 0, 2);
    c = Atomics.exchange(w, 0, 2);
  }
}

function unlock(w) {
  if (Atomics.sub(w, 0, 1) !== 1) {
    Atomics.store(w, 0, 0);
    Atomics.notify(w, 0, 1);
  }
}

export const impls = {
  'node:worker_threads+Atomics': {
    run: async (opts) => {
      const sab = new SharedArrayBuffer(8); // [lock word, counter]
      const w = new Int32Array(sab);
      const workers = [0, 1].map(() => new Worker(new URL(import.meta.url), workerOptions(import.meta, 'thread-counter', { sab })));
      await Promise.all(workers.map((t) => once(t, 'message', (m) => m.ready)));
      const peers = workers.map((t) => ({ send: (m) => t.postMessage(m), next: () => once(t, 'message') }));
      try {
        await measure(
          opts,
          peers,
          () => Atomics.store(w, 1, 0),
          () => Atomics.load(w, 1),
        );
      } finally {
        await Promise.all(workers.map((t) => t.terminate()));
      }
    },
  },
  // Plain child_process.fork workers that revive the Value from its handle, so this line
  // runs as soon as mp.Value exists (mp.Process not needed).
  'mp:Value+getLock': {
    needs: ['Value'],
    run: async (opts) => {
      const v = mp().Value('i', 0);
      const children = [0, 1].map(() => fork(FILE, ['--role', 'mp-counter'], { serialization: 'advanced' }));
      try {
        const ready = children.map((c) => once(c, 'message', (m) => m.ready));
        for (const c of children) c.send({ handle: handleOf(v) }); // one handle per receiver
        await Promise.all(ready);
        const peers = children.map((c) => ({ send: (m) => c.send(m), next: () => once(c, 'message') }));
        await measure(
          opts,
          peers,
          () => {
            v.value = 0;
          },
          () => v.value,
        );
      } finally {
        await Promise.all(children.map(stopChild));
      }
    },
  },
};

const roles = {
  'thread-counter': ({ sab }) => {
    const w = new Int32Array(sab);
    parentPort.on('message', ({ n }) => {
      for (let i = 0; i < n; i++) {
        lock(w);
        w[1]++;
        unlock(w);
      }
      parentPort.postMessage({ done: true });
    });
    parentPort.postMessage({ ready: true });
  },
  'mp-counter': () => {
    let v = null;
    process.on('disconnect', () => process.exit(0));
    process.on('message', (m) => {
      if (m.handle !== undefined) {
        v = internal('reduction').revive(m.handle);
        process.send({ ready: true });
        return;
      }
      const lk = v.getLock();
      for (let i = 0; i < m.n; i++) {
        lk.acquireSync();
        v.value += 1;
        lk.release();
      }
      process.send({ done: true });
    });
  },
};

runIfMain(import.meta, workload, impls, roles);
