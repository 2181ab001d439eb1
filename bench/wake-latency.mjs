// Cross-process wake latency of the native addon: the time from one process calling
// wake() to the sleeping process returning from wait() (sync), and to its waitAsync
// promise settling (async: waiter thread -> ThreadSafeFunction -> promise).
//
//   node bench/wake-latency.mjs [--json] [--quick] [--repeats N]   (the harness's contract)
//
// --json prints one JSON line per mode and percentile, e.g.
//   {"bench":"wake-latency","impl":"mp:wait","stat":"p50","value":17.2,"unit":"us","n":3000}
// --quick runs 300 iterations per mode instead of 3000; --repeats is accepted and ignored
// (the percentiles are taken over all iterations of the one run).
//
// Both processes read CLOCK_MONOTONIC (process.hrtime), which is system-wide, so the
// waker's timestamp, written into the segment just before wake(), is comparable with
// the sleeper's. The waker waits until the sleeper has announced its sleep and then
// 1 ms more, so the sleeper is really parked in the kernel; iterations where it was not
// (wait returned 'not-equal') are counted apart and left out of the percentiles.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = require(process.env.MP_ADDON_PATH || require('node-gyp-build').path(root));

// Layout (Int32 words): 0 = sequence the sleeper waits on, 1 = "about to sleep" (seq),
// 2 = mode of the sleeper's next wait (0 sync, 1 async, 2 stop), 3 = scratch for the waker's 1 ms nap,
// 4..5 = the waker's hrtime in ns as a BigInt64.
const SEQ = 0;
const READY = 1;
const MODE = 2;
const NAP = 3;

function views(buffer) {
  return { w: new Int32Array(buffer, 0, 8), t: new BigInt64Array(buffer, 16, 1) };
}

async function sleeper(name) {
  const { buffer } = native.shmAttach(name);
  const { w, t } = views(buffer);
  const lat = { sync: [], async: [], notAsleep: 0 };
  for (;;) {
    const seq = Atomics.load(w, SEQ);
    const mode = Atomics.load(w, MODE);
    if (mode === 2) break;
    Atomics.store(w, READY, seq + 1);
    let result;
    if (mode === 0) {
      result = native.wait(w, SEQ, seq, -1);
    } else {
      result = await native.waitAsync(seq, w, SEQ, seq, -1);
    }
    const now = process.hrtime.bigint();
    if (result === 'ok') lat[mode === 0 ? 'sync' : 'async'].push(Number(now - Atomics.load(t, 0)) / 1000);
    else lat.notAsleep++;
  }
  process.send(lat, () => process.exit(0));
}

function stats(us) {
  const s = [...us].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1], mean };
}

async function waker(iterations) {
  const { name, buffer } = native.shmCreate(64);
  const { w, t } = views(buffer);
  const child = fork(fileURLToPath(import.meta.url), ['child', name], { stdio: 'inherit' });
  const result = new Promise((resolve) => child.once('message', resolve));
  child.once('exit', (code) => code && process.exit(code));
  while (Atomics.load(w, READY) !== 1) native.wait(w, NAP, 0, 1);
  native.shmUnlink(name); // the child is attached: nothing left to clean up later
  // Iteration k runs in modes[k]; the waker publishes the NEXT mode before each wake, so
  // the sleeper always reads the right one when it loops, and 2 ends it after the last.
  const modes = [...Array(iterations).fill(0), ...Array(iterations).fill(1), 2];
  for (let k = 0; k < 2 * iterations; k++) {
    const seq = Atomics.load(w, SEQ);
    while (Atomics.load(w, READY) !== seq + 1) native.wait(w, NAP, 0, 0.05);
    native.wait(w, NAP, 0, 1); // 1 ms: let it park
    Atomics.store(w, MODE, modes[k + 1]);
    Atomics.store(t, 0, process.hrtime.bigint());
    Atomics.store(w, SEQ, seq + 1);
    native.wake(w, SEQ, 1);
  }
  const lat = await result;
  const lines = [
    ['mp:wait', stats(lat.sync)],
    ['mp:waitAsync', stats(lat.async)],
  ];
  if (json) {
    for (const [impl, s] of lines) {
      for (const stat of ['p50', 'p99']) {
        const value = Number(s[stat].toPrecision(4));
        console.log(JSON.stringify({ bench: 'wake-latency', impl, stat, value, unit: 'us', n: s.n }));
      }
    }
  } else {
    const fmt = (s) =>
      `n=${s.n} p50=${s.p50.toFixed(1)}us p90=${s.p90.toFixed(1)}us p99=${s.p99.toFixed(1)}us ` +
      `max=${s.max.toFixed(1)}us mean=${s.mean.toFixed(1)}us`;
    console.log(`wake -> wait() returns      ${fmt(lines[0][1])}`);
    console.log(`wake -> waitAsync() settles ${fmt(lines[1][1])}`);
    console.log(`iterations where the sleeper was not yet parked: ${lat.notAsleep}`);
    console.log(`(async backend: ${native.waiterBackend()}, ${process.platform} ${process.arch}, node ${process.version})`);
  }
  if (lat.sync.length < iterations / 2 || lat.async.length < iterations / 2) {
    console.error(`ERROR wake-latency: only ${lat.sync.length}/${lat.async.length} of ${iterations} wakes found the sleeper parked`);
    process.exitCode = 1;
  }
  native.shmClose(buffer);
}

const json = process.argv.includes('--json');
if (process.argv[2] === 'child') {
  await sleeper(process.argv[3]);
} else {
  await waker(process.argv.includes('--quick') ? 300 : 3000);
}
