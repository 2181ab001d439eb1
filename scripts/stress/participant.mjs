// What every participant process shares: its slot, reporting violations, timeouts for
// calls that have none of their own, and counting MP_OWNER_DIED warnings.
import { readFileSync } from 'node:fs';
import { F, KINDS, OWNER_DIED, PID, READY, ROLE, VIOLATED, VIOLATIONS } from './layout.mjs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Thrown by within() when a call did not settle in time (a deadlock). */
export class StressTimeout extends Error {
  name = 'StressTimeout';
}

/** `promise`, or a StressTimeout after `seconds`. */
export function within(promise, seconds, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StressTimeout(`${what} did not settle in ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** True when `promise` has not settled after `seconds` (it may settle later); the timer is cleared. */
export function late(promise, seconds) {
  return within(promise, seconds, '').then(
    () => false,
    (err) => {
      if (err instanceof StressTimeout) return true;
      throw err;
    },
  );
}

/** Spin for about `us` microseconds (to widen a critical section). */
export function busy(us) {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) {
    // spin
  }
}

/** True when `pid` is gone or a zombie (a killed child its parent has not reaped yet). */
export function isDead(pid) {
  if (!(pid > 0)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/** Keeps a loop under `perSecond` iterations a second (so the message ledgers suffice). */
export class Pacer {
  constructor(perSecond) {
    this.rate = perSecond;
    this.t0 = performance.now();
    this.n = 0;
  }

  async tick() {
    if (++this.n % 64 !== 0) return;
    const ahead = (this.n / this.rate) * 1000 - (performance.now() - this.t0);
    if (ahead > 1) await sleep(ahead);
  }
}

/** One participant: its shared state, slot and role. */
export class Participant {
  constructor(S, slot, role) {
    this.S = S;
    this.slot = slot;
    this.base = slot * F;
    this.role = role;
    Atomics.store(S.slots, this.base + ROLE, role);
    Atomics.store(S.slots, this.base + PID, process.pid);
    process.on('warning', (w) => {
      if (w.code === 'MP_OWNER_DIED') this.add(OWNER_DIED);
    });
  }

  ready() {
    Atomics.store(this.S.slots, this.base + READY, 1);
  }

  add(field, n = 1) {
    return Atomics.add(this.S.slots, this.base + field, n);
  }

  set(field, value) {
    Atomics.store(this.S.slots, this.base + field, value);
  }

  get(field) {
    return Atomics.load(this.S.slots, this.base + field);
  }

  /** Field `field` of slot `slot` (another process's record). */
  of(slot, field) {
    return Atomics.load(this.S.slots, slot * F + field);
  }

  stopping() {
    return this.S.stop.isSet();
  }

  /** Count a violation of `kind` (a KINDS name) and say what happened. */
  violation(kind, detail) {
    Atomics.add(this.S.ctl, VIOLATIONS + KINDS.indexOf(kind), 1);
    this.add(VIOLATED);
    const line = `[slot ${this.slot} pid ${process.pid}] ${kind}: ${detail}`;
    process.stderr.write(`stress violation ${line}\n`);
    try {
      this.S.reports.putNowait(line);
    } catch {
      // the report queue is best effort; the count above is what counts
    }
  }

  /** Run the role's loop; an unexpected error is a violation and exit code 3. */
  async run(fn) {
    this.ready();
    try {
      await fn();
    } catch (err) {
      this.violation(err instanceof StressTimeout ? 'deadlock' : 'error', err?.stack ?? String(err));
      process.exitCode = 3;
    }
  }
}
