// W3 lock-uncontended (ns/op, N = 1,000,000): one process, acquire(); release() N times,
// loop included. The floor is an Atomics.compareExchange spin lock on a SharedArrayBuffer.
import { check, emit, median, now, repeat } from '../lib/common.mjs';
import { make, mp } from '../lib/mp.mjs';
import { runIfMain } from '../lib/workload.mjs';

export const workload = { id: 'W3', name: 'lock-uncontended', python: 'w3_lock.py' };

const sizeOf = (quick) => (quick ? 100_000 : 1_000_000);

/**
 * Time `loop(n)` (which must do n acquire/release pairs and return how many it did) once
 * untimed to warm the JIT, then `repeats` times; emit the median in ns per pair.
 */
async function measure(opts, loop, isReleased) {
  const n = sizeOf(opts.quick);
  check(loop(n) === n, `${opts.impl}: warm-up loop miscounted`);
  const values = await repeat(opts.repeats, () => {
    const t0 = now();
    const done = loop(n);
    const t1 = now();
    check(done === n, `${opts.impl}: loop counted ${done}, expected ${n}`);
    return ((t1 - t0) * 1e6) / n;
  });
  check(isReleased(), `${opts.impl}: lock still held after the loop`);
  emit(opts.bench, opts.impl, median(values), 'ns/op', n);
}

function lockLoop(lock) {
  return (n) => {
    let count = 0;
    for (let i = 0; i < n; i++) {
      lock.acquireSync();
      count++;
      lock.release();
    }
    return count;
  };
}

function releasedLock(lock) {
  return () => {
    if (!lock.acquireSync({ block: false })) return false;
    lock.release();
    return true;
  };
}

export const impls = {
  'node:Atomics-spinlock': {
    run: (opts) => {
      const word = new Int32Array(new SharedArrayBuffer(4));
      const loop = (n) => {
        let count = 0;
        for (let i = 0; i < n; i++) {
          while (Atomics.compareExchange(word, 0, 0, 1) !== 0);
          count++;
          Atomics.store(word, 0, 0);
        }
        return count;
      };
      return measure(opts, loop, () => Atomics.load(word, 0) === 0);
    },
  },
  'mp:Lock': {
    needs: ['Lock'],
    run: (opts) => {
      const lock = make(mp().Lock);
      return measure(opts, lockLoop(lock), releasedLock(lock));
    },
  },
  'mp:RLock': {
    needs: ['RLock'],
    run: (opts) => {
      const lock = make(mp().RLock);
      return measure(opts, lockLoop(lock), releasedLock(lock));
    },
  },
};

runIfMain(import.meta, workload, impls);
