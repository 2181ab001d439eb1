// W8 shared-array-sum (elem/s, 10,000,000 doubles = i * 0.5): two processes each sum one
// half; time from "go" to both sums received, with warm processes (started, array
// attached, one untimed round done). mp:Array(cold) instead times from process start.
// Every side runs the same plain loop (sumRange), and the sums are checked exactly (all
// partial sums are multiples of 0.5 below 2^52, so float addition is exact here).
import { fork } from 'node:child_process';
import { Worker, parentPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { serialize, deserialize } from 'node:v8';
import { check, emit, median, now, once, perSecond, repeat, stopChild } from '../lib/common.mjs';
import { handleOf, internal, mp } from '../lib/mp.mjs';
import { runIfMain, workerOptions } from '../lib/workload.mjs';

export const workload = { id: 'W8', name: 'shared-array-sum', python: 'w8_array_sum.py' };

const FILE = fileURLToPath(import.meta.url);
const sizeOf = (quick) => (quick ? 1_000_000 : 10_000_000);

function sumRange(a, lo, hi) {
  let s = 0;
  for (let i = lo; i < hi; i++) s += a[i];
  return s;
}

function fill(a) {
  for (let i = 0; i < a.length; i++) a[i] = i * 0.5;
}

/** The two halves and their exact sums: sum of i/2 over [lo, hi). */
function halves(n) {
  const mid = Math.floor(n / 2);
  return [
    [0, mid],
    [mid, n],
  ].map(([lo, hi]) => ({ lo, hi, expected: ((hi - lo) * (lo + hi - 1)) / 4 }));
}

function checkSums(impl, parts, sums) {
  parts.forEach((p, i) => {
    check(sums[i] === p.expected, `${impl}: sum of [${p.lo}, ${p.hi}) = ${sums[i]}, expected ${p.expected}`);
  });
}

/**
 * Warm measurement over two ready peers (child processes or worker threads), each with
 * `send(msg)` and `next()` -> the next message. One untimed round, then the repeats.
 */
async function measureWarm(opts, n, peers) {
  const parts = halves(n);
  const round = async () => {
    const t0 = now();
    const pending = peers.map((p) => p.next());
    peers.forEach((p, i) => {
      p.send({ lo: parts[i].lo, hi: parts[i].hi });
    });
    const sums = (await Promise.all(pending)).map((m) => m.sum);
    const t1 = now();
    checkSums(opts.impl, parts, sums);
    return perSecond(n, t1 - t0);
  };
  await round();
  emit(opts.bench, opts.impl, median(await repeat(opts.repeats, round)), 'elem/s', n);
}

function childPeer(child) {
  return { send: (m) => child.send(m), next: () => once(child, 'message') };
}

function threadPeer(worker) {
  return { send: (m) => worker.postMessage(m), next: () => once(worker, 'message') };
}

export const impls = {
  'node:worker_threads': {
    run: async (opts) => {
      const n = sizeOf(opts.quick);
      const a = new Float64Array(new SharedArrayBuffer(n * 8));
      fill(a);
      const workers = [0, 1].map(() => new Worker(new URL(import.meta.url), workerOptions(import.meta, 'sab-sum', { sab: a.buffer })));
      await Promise.all(workers.map((w) => once(w, 'message', (m) => m.ready)));
      try {
        await measureWarm(opts, n, workers.map(threadPeer));
      } finally {
        await Promise.all(workers.map((w) => w.terminate()));
      }
    },
  },
  // Handles carry one reference each (see lib/heap.ts): one handleOf() per receiving
  // process, and the parent keeps `arr` alive until the workers are done with it.
  'mp:Array': {
    needs: ['Array'],
    run: async (opts) => {
      const n = sizeOf(opts.quick);
      const arr = mp().Array('d', n);
      fill(arr);
      const children = [0, 1].map(() => fork(FILE, ['--role', 'mp-array-sum'], { serialization: 'advanced' }));
      try {
        const ready = children.map((c) => once(c, 'message', (m) => m.ready));
        for (const c of children) c.send({ handle: handleOf(arr) });
        for (const m of await Promise.all(ready)) check(m.length === n, `mp:Array: revived array has length ${m.length}, expected ${n}`);
        await measureWarm(opts, n, children.map(childPeer));
      } finally {
        await Promise.all(children.map(stopChild));
      }
      check(arr[n - 1] === (n - 1) * 0.5, 'mp:Array: the array changed under the workers');
    },
  },
  'mp:Array(cold)': {
    needs: ['Array'],
    run: async (opts) => {
      const n = sizeOf(opts.quick);
      const arr = mp().Array('d', n);
      fill(arr);
      const parts = halves(n);
      const values = await repeat(opts.repeats, async () => {
        // The handles are made before the clock starts: making one is the parent's
        // bookkeeping, not part of starting a process.
        const jobs = parts.map(({ lo, hi }) => serialize({ handle: handleOf(arr), lo, hi }).toString('base64'));
        const t0 = now();
        const children = jobs.map((job) => fork(FILE, ['--role', 'mp-array-cold', `--job=${job}`], { serialization: 'advanced' }));
        const sums = (await Promise.all(children.map((c) => once(c, 'message')))).map((m) => m.sum);
        const t1 = now();
        await Promise.all(children.map(stopChild));
        checkSums(opts.impl, parts, sums);
        return perSecond(n, t1 - t0);
      });
      check(arr[n - 1] === (n - 1) * 0.5, 'mp:Array(cold): the array changed under the workers');
      emit(opts.bench, opts.impl, median(values), 'elem/s', n);
    },
  },
};

const roles = {
  'sab-sum': ({ sab }) => {
    const a = new Float64Array(sab);
    parentPort.on('message', ({ lo, hi }) => parentPort.postMessage({ sum: sumRange(a, lo, hi) }));
    parentPort.postMessage({ ready: true });
  },
  'mp-array-sum': () => {
    let a = null;
    process.on('disconnect', () => process.exit(0));
    process.on('message', (m) => {
      if (m.handle !== undefined) {
        a = internal('reduction').revive(m.handle);
        process.send({ ready: true, length: a.length });
      } else process.send({ sum: sumRange(a, m.lo, m.hi) });
    });
  },
  'mp-array-cold': (args) => {
    const { handle, lo, hi } = deserialize(Buffer.from(args.job, 'base64'));
    const a = internal('reduction').revive(handle);
    process.on('disconnect', () => process.exit(0));
    process.send({ sum: sumRange(a, lo, hi) });
  },
};

runIfMain(import.meta, workload, impls, roles);
