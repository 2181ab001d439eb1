// What the pool's workers run: an initializer that gives each worker a participant slot,
// and the task: increments of the guarded counters (so workers killed mid-task can die
// holding a lock) and a checkable result.
import { CA, CB, NEXT_SLOT, POOL_TASKS, R, poolResult } from './layout.mjs';
import { incrementSync } from './locks.mjs';
import { Participant, busy } from './participant.mjs';

let self = null;

export function poolInit(S) {
  self = new Participant(S, Atomics.add(S.ctl, NEXT_SLOT, 1), R.poolWorker);
  self.ready();
}

export function poolTask(n) {
  incrementSync(self, n % 2 === 0 ? CA : CB, (n % 4) * 500);
  busy((n % 5) * 300);
  if (n % 4 === 0) incrementSync(self, n % 3 === 0 ? CA : CB);
  self.add(POOL_TASKS);
  return { n, r: poolResult(n), pid: process.pid };
}
