// Starts the participant processes in units (a producer, a consumer, a pipe pair, a
// manager producer, a manager consumer), replaces a unit once all its members are gone,
// and checks how each member ended: killed by the chaos loop (exit code -signal), or
// exited 0 when it should (end of run; a pipe member whose peer died), nothing else.
import * as mp from 'multiprocessing';
import { DEAD, F, KILLED, NEXT_SLOT, OP_TIMEOUT, PEER, PIPE_END, R, ROLE, ROLES, VIOLATED } from './layout.mjs';
import { late, sleep } from './participant.mjs';

const target = (file, name) => ({ module: new URL(file, import.meta.url).href, name });

/** How long a pipe member may outlive its peer (it must see EOFError first). */
const PEER_GRACE_S = OP_TIMEOUT + 15;

export class Supervisor {
  constructor(S, M, findings) {
    this.S = S;
    this.M = M;
    this.findings = findings;
    this.stopping = false;
    this.members = new Set();
    this.units = new Map();
    this.started = Object.fromEntries(ROLES.filter(Boolean).map((r) => [r, 0]));
  }

  field(slot, f) {
    return Atomics.load(this.S.slots, slot * F + f);
  }

  alloc(role) {
    const slot = Atomics.add(this.S.ctl, NEXT_SLOT, 1);
    Atomics.store(this.S.slots, slot * F + ROLE, role);
    return slot;
  }

  start(role, file, extra = [], slot = this.alloc(role)) {
    const proc = new mp.Process({ target: target(file, ROLES[role]), args: [this.S, slot, ...extra], name: `${ROLES[role]}-${slot}` });
    const m = { slot, role, proc, ended: false };
    proc.start();
    this.members.add(m);
    this.started[ROLES[role]]++;
    return m;
  }

  startPair() {
    const [a, b] = mp.Pipe();
    const sa = this.alloc(R.pinger);
    const sb = this.alloc(R.ponger);
    Atomics.store(this.S.slots, sa * F + PEER, sb + 1);
    Atomics.store(this.S.slots, sb * F + PEER, sa + 1);
    try {
      return [this.start(R.pinger, './pipe_roles.mjs', [sb, a], sa), this.start(R.ponger, './pipe_roles.mjs', [sa, b], sb)];
    } finally {
      a.close();
      b.close();
    }
  }

  /** Start every unit; each replaces itself until stop. */
  startAll() {
    const M = this.M;
    const specs = {
      producer: () => [this.start(R.producer, './queue_roles.mjs')],
      consumer: () => [this.start(R.consumer, './queue_roles.mjs')],
      pipePair: () => this.startPair(),
      mgrProducer: () => [this.start(R.mgrProducer, './manager_roles.mjs', [M])],
      mgrConsumer: () => [this.start(R.mgrConsumer, './manager_roles.mjs', [M])],
    };
    for (const [name, spec] of Object.entries(specs)) {
      const unit = { name, members: [], running: false };
      unit.done = this.runUnit(unit, spec);
      this.units.set(name, unit);
    }
  }

  async runUnit(unit, spec) {
    while (!this.stopping) {
      try {
        unit.members = spec();
      } catch (err) {
        this.findings.add('error', `starting ${unit.name}: ${err?.stack ?? err}`);
        await sleep(1000);
        continue;
      }
      unit.running = true;
      await this.waitUnit(unit);
      unit.running = false;
    }
  }

  async waitUnit(unit) {
    const exits = unit.members.map((m) => m.proc.join().then(() => this.exited(m)));
    await Promise.race(exits);
    const all = Promise.all(exits);
    if (unit.members.length > 1) {
      if (await late(all, PEER_GRACE_S)) {
        for (const m of unit.members) {
          if (m.ended) continue;
          this.findings.add('deadlock', `${m.proc.name} still runs ${PEER_GRACE_S} s after its pipe peer ended`);
          m.proc.kill();
        }
      }
    }
    await all;
  }

  exited(m) {
    this.members.delete(m);
    m.ended = true;
    Atomics.store(this.S.slots, m.slot * F + DEAD, 1);
    const code = m.proc.exitcode;
    const name = m.proc.name;
    m.proc.close();
    if (this.field(m.slot, VIOLATED) > 0) return; // it said what went wrong
    const killed = this.field(m.slot, KILLED);
    if (killed !== 0) {
      if (code !== -killed && code !== 0) this.findings.add('exit', `${name} got signal ${killed} but exited with ${code}`);
    } else if (code !== 0) {
      this.findings.add('exit', `${name} exited with ${code}`);
    } else if (!this.stopping) {
      const why = this.field(m.slot, PIPE_END);
      const pipe = m.role === R.pinger || m.role === R.ponger;
      if (!pipe || why < 1 || why > 3) this.findings.add('exit', `${name} exited 0 while the run goes on`);
    }
  }

  /** End every member now (after a failure of the run itself). */
  killAll() {
    this.stopping = true;
    for (const m of this.members) if (!m.ended) m.proc.kill();
  }

  /** Members the chaos loop may kill: running, not already signalled. */
  victims() {
    return [...this.members].filter((m) => !m.ended && m.proc.exitcode === null && m.proc.pid !== null && this.field(m.slot, KILLED) === 0);
  }

  /** After the chaos loop stopped: wait until every unit is up again. */
  async settle(seconds) {
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      if ([...this.units.values()].every((u) => u.running && u.members.every((m) => !m.ended && m.proc.exitcode === null))) return true;
      await sleep(100);
    }
    return false;
  }

  /** Wait for the named units to end by themselves; a unit that does not is a deadlock. */
  async finish(names, seconds) {
    const units = names.map((n) => this.units.get(n));
    const done = Promise.all(units.map((u) => u.done));
    if (!(await late(done, seconds))) return;
    for (const u of units) {
      for (const m of u.members) {
        if (m.ended) continue;
        this.findings.add('deadlock', `${m.proc.name} did not finish within ${seconds} s of the end of the run`);
        m.proc.kill();
      }
    }
    await done;
  }
}
