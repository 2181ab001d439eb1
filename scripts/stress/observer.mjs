// Watches the run from outside (in scripts/stress.mjs): which processes belong to it
// (the run process and everything below it), and which /dev/shm segments they map, so
// that segments left behind afterwards can be told apart from those of other programs
// using the library on the same machine at the same time.
import { watch } from 'node:fs';
import { listShm, mappedShm, pids, procStat, shmSize, tree } from './procfs.mjs';

export class Observer {
  constructor(root) {
    this.root = root;
    /** pid -> start time of every process seen in the run's tree. */
    this.processes = new Map();
    /** Segment names seen mapped by the run's processes. */
    this.ours = new Set();
    /** Segment names seen mapped by other processes. */
    this.foreign = new Set();
    this.peakShm = { entries: 0, bytes: 0 };
    this.current = new Map();
    this.ticks = 0;
    this.soon = null;
  }

  start() {
    this.timer = setInterval(() => this.sample(), 100);
    try {
      // A segment created and soon abandoned (its creator killed) may live less than a
      // sampling period in anyone's mappings: look at once when one appears.
      this.watcher = watch('/dev/shm', () => {
        if (this.soon) return; // other programs may create hundreds a second: one scan for a burst
        this.soon = setTimeout(() => {
          this.soon = null;
          this.scanOurs();
        }, 2);
      });
    } catch {
      this.watcher = null;
    }
  }

  stop() {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.watcher?.close();
  }

  scanOurs() {
    for (const pid of this.current.keys()) for (const name of mappedShm(pid)) this.ours.add(name);
  }

  sample() {
    this.current = tree(this.root);
    for (const [pid, start] of this.current) this.processes.set(pid, start);
    this.scanOurs();
    if (++this.ticks % 10 !== 0) return;
    for (const pid of pids()) {
      if (this.current.has(pid) || pid === process.pid) continue;
      for (const name of mappedShm(pid)) if (name.startsWith('mp_')) this.foreign.add(name);
    }
    const live = [...listShm()].filter((n) => this.ours.has(n));
    const bytes = live.reduce((a, n) => a + shmSize(n), 0);
    if (bytes > this.peakShm.bytes) this.peakShm = { entries: live.length, bytes };
  }

  /** Processes of the run that still exist (same pid and start time). */
  survivors() {
    const out = [];
    for (const [pid, start] of this.processes) {
      const st = procStat(pid);
      if (st !== null && st.start === start && st.state !== 'Z') out.push(pid);
    }
    return out;
  }
}
