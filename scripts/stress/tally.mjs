// Operation counts summed over every participant's slot, and a watchdog that calls an
// activity stalled when its count has not moved for STALL_SECONDS.
import {
  CA,
  CB,
  CC,
  CM,
  F,
  MQ_GETS,
  MQ_PUTS,
  N,
  NEXT_SLOT,
  OWNER_DIED,
  PINGS,
  PIPE_END,
  PIPE_ENDS,
  POOL_TASKS,
  Q_GETS,
  Q_PUTS,
  STALL_SECONDS,
} from './layout.mjs';

import { MANAGER_QUEUE, QUEUE, exhausted } from './ledger.mjs';

const FIELDS = {
  queuePut: Q_PUTS,
  queueGet: Q_GETS,
  pipeRoundTrip: PINGS,
  conditionHandshake: N + CC,
  counterA: N + CA,
  counterB: N + CB,
  managerDictIncrement: N + CM,
  managerQueuePut: MQ_PUTS,
  managerQueueGet: MQ_GETS,
  poolTaskRun: POOL_TASKS,
};

/** Operations by kind so far, and the MP_OWNER_DIED warnings seen. */
export function tally(S) {
  const out = Object.fromEntries(Object.keys(FIELDS).map((k) => [k, 0]));
  let ownerDied = 0;
  const n = Math.min(Atomics.load(S.ctl, NEXT_SLOT), S.slots.length / F);
  for (let s = 0; s < n; s++) {
    for (const [k, f] of Object.entries(FIELDS)) out[k] += Atomics.load(S.slots, s * F + f);
    ownerDied += Atomics.load(S.slots, s * F + OWNER_DIED);
  }
  return { ops: out, ownerDied };
}

/** How the pipe pairs' members ended: PIPE_ENDS name -> count. */
export function pipeEnds(S) {
  const out = {};
  const n = Math.min(Atomics.load(S.ctl, NEXT_SLOT), S.slots.length / F);
  for (let s = 0; s < n; s++) {
    const why = Atomics.load(S.slots, s * F + PIPE_END);
    if (why !== 0) out[PIPE_ENDS[why]] = (out[PIPE_ENDS[why]] ?? 0) + 1;
  }
  return out;
}

export class Watchdog {
  constructor(S, findings) {
    this.S = S;
    this.findings = findings;
    this.last = {};
    this.stalled = new Set();
  }

  start() {
    this.timer = setInterval(() => this.check(), 1000);
  }

  stop() {
    clearInterval(this.timer);
  }

  check() {
    const now = Date.now();
    const idle = new Set();
    if (exhausted(this.S, QUEUE)) idle.add('queuePut').add('queueGet');
    if (exhausted(this.S, MANAGER_QUEUE)) idle.add('managerQueuePut').add('managerQueueGet');
    for (const [k, v] of Object.entries(tally(this.S).ops)) {
      if (idle.has(k)) continue;
      const seen = this.last[k];
      if (seen === undefined || seen.value !== v) {
        this.last[k] = { value: v, at: now };
        this.stalled.delete(k);
      } else if (now - seen.at > STALL_SECONDS * 1000 && !this.stalled.has(k)) {
        this.stalled.add(k);
        this.findings.add('stall', `${k} made no progress for ${STALL_SECONDS} s (stuck at ${v})`);
      }
    }
  }
}
