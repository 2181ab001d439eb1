// Violations found by the parent (participants count theirs in shared memory, see
// Participant.violation), and the run's tallies.
import { KINDS } from './layout.mjs';

const KEEP = 100;

export class Findings {
  counts = Object.fromEntries(KINDS.map((k) => [k, 0]));
  details = [];

  add(kind, detail) {
    if (!(kind in this.counts)) throw new Error(`unknown violation kind ${kind}`);
    this.counts[kind]++;
    const line = `[parent] ${kind}: ${detail}`;
    process.stderr.write(`stress violation ${line}\n`);
    if (this.details.length < KEEP) this.details.push(line);
  }

  /** Add what the participants reported: counts from shared memory, details from their queue. */
  merge(ctl, base, reports) {
    KINDS.forEach((k, i) => {
      this.counts[k] += Atomics.load(ctl, base + i);
    });
    for (;;) {
      let line;
      try {
        line = reports.getNowait();
      } catch {
        break;
      }
      if (this.details.length < KEEP) this.details.push(line);
    }
  }

  get total() {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}
