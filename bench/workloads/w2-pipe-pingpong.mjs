// W2 pipe-pingpong (us/roundtrip, N = 20000 after 1000 untimed): the parent sends [i],
// the child echoes it, the parent waits for the echo before sending the next.
import { fork } from 'node:child_process';
import { Worker, parentPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { check, emit, median, now, once, repeat, stopChild } from '../lib/common.mjs';
import { mp } from '../lib/mp.mjs';
import { runIfMain, workerOptions } from '../lib/workload.mjs';

export const workload = { id: 'W2', name: 'pipe-pingpong', python: 'w2_pipe.py' };

const FILE = fileURLToPath(import.meta.url);
const sizes = (quick) => (quick ? { n: 2_000, warm: 100 } : { n: 20_000, warm: 1_000 });

/**
 * `pingpong(count)` resolves `{ ms, bad }` after `count` round trips (bad: echoes that
 * did not match). Warm-up, then the repeats; emits the median in us per round trip.
 */
async function measure(opts, pingpong) {
  const { n, warm } = sizes(opts.quick);
  const one = async (count) => {
    const { ms, bad } = await pingpong(count);
    check(bad === 0, `${opts.impl}: ${bad} of ${count} echoes did not match`);
    return (ms * 1000) / count;
  };
  await one(warm);
  emit(opts.bench, opts.impl, median(await repeat(opts.repeats, () => one(n))), 'us/roundtrip', n);
}

/** Ping-pong over an event-emitting channel: each echo's handler sends the next ping. */
function channelPingpong(target, send) {
  return (count) =>
    new Promise((resolve) => {
      let i = 0;
      let bad = 0;
      let t0 = 0;
      const onMessage = (m) => {
        if (m[0] !== i) bad++;
        if (++i === count) {
          const ms = now() - t0;
          target.off('message', onMessage);
          resolve({ ms, bad });
        } else send([i]);
      };
      target.on('message', onMessage);
      t0 = now();
      send([0]);
    });
}

/** Echo loop of the mp: lines (runs in an mp.Process; exported so the child finds it). */
export function pipeEcho(conn) {
  for (;;) {
    const m = conn.recvSync();
    if (m === null) break;
    conn.sendSync(m);
  }
  conn.close();
}

function mpPipeLine(sync) {
  return {
    needs: ['Pipe', 'Process'],
    run: async (opts) => {
      const lib = mp();
      const [mine, theirs] = lib.Pipe();
      const p = new lib.Process({ target: pipeEcho, args: [theirs] });
      p.start();
      try {
        await measure(opts, async (count) => {
          let bad = 0;
          const t0 = now();
          for (let i = 0; i < count; i++) {
            mine.sendSync([i]);
            const m = sync ? mine.recvSync() : await mine.recv();
            if (m[0] !== i) bad++;
          }
          return { ms: now() - t0, bad };
        });
      } finally {
        mine.sendSync(null);
        await p.join();
        check(p.exitcode === 0, `${opts.impl}: echo process exited with ${p.exitcode}`);
        mine.close();
      }
    },
  };
}

export const impls = {
  'node:child_process': {
    run: async (opts) => {
      const child = fork(FILE, ['--role', 'cp-echo']);
      await once(child, 'message', (m) => m.ready);
      try {
        await measure(
          opts,
          channelPingpong(child, (m) => child.send(m)),
        );
      } finally {
        await stopChild(child);
      }
    },
  },
  'node:MessagePort': {
    run: async (opts) => {
      const worker = new Worker(new URL(import.meta.url), workerOptions(import.meta, 'port-echo'));
      await once(worker, 'message', (m) => m.ready);
      try {
        await measure(
          opts,
          channelPingpong(worker, (m) => worker.postMessage(m)),
        );
      } finally {
        await worker.terminate();
      }
    },
  },
  'mp:Pipe': mpPipeLine(true),
  'mp:Pipe-async': mpPipeLine(false),
};

const roles = {
  'cp-echo': () => {
    process.on('disconnect', () => process.exit(0));
    process.on('message', (m) => process.send(m));
    process.send({ ready: true });
  },
  'port-echo': () => {
    parentPort.on('message', (m) => parentPort.postMessage(m));
    parentPort.postMessage({ ready: true });
  },
};

runIfMain(import.meta, workload, impls, roles);
