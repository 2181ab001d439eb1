// W1 queue-throughput (msg/s, N = 200000): a producer puts [i, "abc"] for i = 0..N-1 as
// fast as it can; the parent gets all N. The producer reads CLOCK_MONOTONIC just before
// its first put and sends it after the data; the parent reads it after the N-th get.
// The producer is started (untimed) and waits for "go". One untimed warm-up round of N/10.
import { fork } from 'node:child_process';
import { Worker, parentPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { check, emit, median, monoNs, once, perSecond, repeat, stopChild } from '../lib/common.mjs';
import { make, mp } from '../lib/mp.mjs';
import { runIfMain, workerOptions } from '../lib/workload.mjs';

export const workload = { id: 'W1', name: 'queue-throughput', python: 'w1_queue.py' };

const FILE = fileURLToPath(import.meta.url);
const sizeOf = (quick) => (quick ? 20_000 : 200_000);

/**
 * Run rounds: `round(n)` resolves `{ last, t0, tEnd }` (BigInt ns) for one round of n
 * messages. Checks the last message, emits the median rate.
 */
async function measure(opts, round) {
  const n = sizeOf(opts.quick);
  const one = async (count) => {
    const { last, t0, tEnd } = await round(count);
    check(Array.isArray(last) && last[0] === count - 1 && last[1] === 'abc', `${opts.impl}: last message ${JSON.stringify(last)}, expected [${count - 1},"abc"]`);
    const ms = Number(tEnd - BigInt(t0)) / 1e6;
    check(ms > 0, `${opts.impl}: elapsed ${ms} ms`);
    return perSecond(count, ms);
  };
  await one(Math.floor(n / 10));
  emit(opts.bench, opts.impl, median(await repeat(opts.repeats, () => one(n))), 'msg/s', n);
}

/** A round over an event-emitting channel (child process or worker thread). */
function channelRound(target, send) {
  return (n) =>
    new Promise((resolve) => {
      let count = 0;
      let last;
      let tEnd;
      const onMessage = (m) => {
        if (Array.isArray(m)) {
          if (++count === n) {
            tEnd = monoNs();
            last = m;
          }
          return;
        }
        target.off('message', onMessage);
        resolve({ last, t0: m.t0, tEnd });
      };
      target.on('message', onMessage);
      send({ n });
    });
}

function childProcessLine(serialization) {
  return {
    run: async (opts) => {
      const child = fork(FILE, ['--role', 'cp-producer'], { serialization });
      await once(child, 'message', (m) => m.ready);
      try {
        await measure(
          opts,
          channelRound(child, (m) => child.send(m)),
        );
      } finally {
        await stopChild(child);
      }
    },
  };
}

/** Producer of the mp: lines (runs in an mp.Process; exported so the child can find it). */
export async function queueProducer(q, ready, go, n) {
  ready.set();
  go.waitSync();
  const t0 = monoNs();
  if (typeof q.putSync === 'function') {
    for (let i = 0; i < n; i++) q.putSync([i, 'abc']);
    q.putSync({ t0: String(t0) });
  } else {
    for (let i = 0; i < n; i++) await q.put([i, 'abc']);
    await q.put({ t0: String(t0) });
  }
}

/** `sync`: the parent loops on getSync() (no await per message), else on `await get()`. */
function mpQueueLine(kind, sync) {
  return {
    needs: [kind, 'Process', 'Event'],
    run: (opts) => {
      const lib = mp();
      return measure(opts, async (n) => {
        const q = make(lib[kind]);
        const ready = make(lib.Event);
        const go = make(lib.Event);
        const p = new lib.Process({ target: queueProducer, args: [q, ready, go, n] });
        p.start();
        await ready.wait();
        go.set();
        let last;
        if (sync) for (let i = 0; i < n; i++) last = q.getSync();
        else for (let i = 0; i < n; i++) last = await q.get();
        const tEnd = monoNs();
        const { t0 } = sync ? q.getSync() : await q.get();
        await p.join();
        check(p.exitcode === 0, `${opts.impl}: producer exited with ${p.exitcode}`);
        q.close();
        return { last, t0, tEnd };
      });
    },
  };
}

export const impls = {
  'node:child_process(json)': childProcessLine('json'),
  'node:child_process(advanced)': childProcessLine('advanced'),
  'node:MessagePort': {
    run: async (opts) => {
      const worker = new Worker(new URL(import.meta.url), workerOptions(import.meta, 'port-producer'));
      await once(worker, 'message', (m) => m.ready);
      try {
        await measure(
          opts,
          channelRound(worker, (m) => worker.postMessage(m)),
        );
      } finally {
        await worker.terminate();
      }
    },
  },
  'mp:Queue': mpQueueLine('Queue', true),
  'mp:Queue-async': mpQueueLine('Queue', false),
  'mp:SimpleQueue': mpQueueLine('SimpleQueue', true),
};

const roles = {
  'cp-producer': () => {
    process.on('disconnect', () => process.exit(0));
    process.on('message', ({ n }) => {
      const t0 = monoNs();
      for (let i = 0; i < n; i++) process.send([i, 'abc']);
      process.send({ t0: String(t0) });
    });
    process.send({ ready: true });
  },
  'port-producer': () => {
    parentPort.on('message', ({ n }) => {
      const t0 = monoNs();
      for (let i = 0; i < n; i++) parentPort.postMessage([i, 'abc']);
      parentPort.postMessage({ t0: String(t0) });
    });
    parentPort.postMessage({ ready: true });
  },
};

runIfMain(import.meta, workload, impls, roles);
