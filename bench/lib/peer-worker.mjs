// The tasks of the Node peer pools (bench/lib/peers.mjs): piscina and tinypool workers
// load this module and call its named exports; workerpool's workers register them
// (bench/lib/workerpool-worker.mjs). The task functions are the workloads' own.
import { threadId } from 'node:worker_threads';
import { double } from '../workloads/w5-pool-map-trivial.mjs';
import { countPrimes } from '../workloads/w6-pool-map-cpu.mjs';

export { countPrimes, double };

/** W5 with 1000 items per task: one task maps a whole slice. */
export function doubleChunk(xs) {
  return xs.map(double);
}

/** Hold this worker for `ms`, then say which one it is: the pools' warm-up. */
export function whoAmI(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return `${process.pid}/${threadId}`;
}
