// The chaos loop: at random moments, SIGKILL or SIGTERM a random participant (a unit
// member or a pool worker; never the parent, the manager's server or the resource
// tracker), some of the time one caught inside a critical section or a get. The
// supervisor and the pool start replacements.
import { constants } from 'node:os';
import * as mp from 'multiprocessing';
import { COUNTERS, F, HOLDER, KILLED, MQ_TAKING, NEXT_SLOT, PID, Q_TAKING, R, ROLE, ROLES } from './layout.mjs';
import { sleep } from './participant.mjs';

/** A small seeded PRNG (mulberry32), so that a run's chaos can be replayed by its seed. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) };
}

export class Chaos {
  constructor(S, supervisor, random, { minGapMs = 150, maxGapMs = 900, killShare = 0.6, busyShare = 0.3 } = {}) {
    this.S = S;
    this.supervisor = supervisor;
    this.random = random;
    this.gap = [minGapMs, maxGapMs];
    this.killShare = killShare;
    this.busyShare = busyShare;
    this.stopped = false;
    /** pid -> signal name, for every process signalled (the pool's lost tasks are checked against it). */
    this.signalled = new Map();
    this.kills = { SIGKILL: 0, SIGTERM: 0 };
    this.byRole = {};
  }

  start() {
    this.done = this.loop();
  }

  async stop() {
    this.stopped = true;
    await this.done;
  }

  async loop() {
    while (!this.stopped) {
      await sleep(this.random.int(...this.gap));
      if (!this.stopped) this.strike();
    }
  }

  busy(slot) {
    const { ctl, slots } = this.S;
    for (let c = 0; c < COUNTERS.length; c++) if (Atomics.load(ctl, HOLDER + c) === slot + 1) return true;
    return Atomics.load(slots, slot * F + Q_TAKING) === 1 || Atomics.load(slots, slot * F + MQ_TAKING) === 1;
  }

  poolWorkerSlot(pid) {
    const { ctl, slots } = this.S;
    for (let s = Atomics.load(ctl, NEXT_SLOT) - 1; s >= 0; s--) {
      if (slots[s * F + ROLE] === R.poolWorker && slots[s * F + PID] === pid) return s;
    }
    return -1;
  }

  strike() {
    const members = this.supervisor.victims().map((m) => ({ pid: m.proc.pid, slot: m.slot, role: m.role, proc: m.proc }));
    const workers = mp
      .activeChildren()
      .filter((p) => p.name.startsWith('PoolWorker') && !this.signalled.has(p.pid))
      .map((p) => ({ pid: p.pid, slot: this.poolWorkerSlot(p.pid), role: R.poolWorker, proc: null }));
    let all = [...members, ...workers];
    if (all.length === 0) return;
    // A share of the strikes go to a process caught inside a critical section or a get,
    // where dying is the hardest on the others (a dead lock holder, a message in flight).
    if (this.random.next() < this.busyShare) {
      const busy = all.filter((v) => v.slot >= 0 && this.busy(v.slot));
      if (busy.length > 0) all = busy;
    }
    const v = all[this.random.int(0, all.length - 1)];
    const signal = this.random.next() < this.killShare ? 'SIGKILL' : 'SIGTERM';
    if (v.slot >= 0) Atomics.store(this.S.slots, v.slot * F + KILLED, constants.signals[signal]);
    this.signalled.set(v.pid, signal);
    try {
      if (v.proc !== null) signal === 'SIGKILL' ? v.proc.kill() : v.proc.terminate();
      else process.kill(v.pid, signal);
    } catch (err) {
      if (err?.code !== 'ESRCH') throw err; // it ended by itself just now
      return;
    }
    this.kills[signal]++;
    const role = ROLES[v.role];
    this.byRole[role] = (this.byRole[role] ?? 0) + 1;
  }
}
