// Leak check for /dev/shm (vitest globalSetup, with test/setup/shm.file.ts): the shared
// memory segments the library creates (/dev/shm/mp_*) that appeared during the run must
// all be gone at its end, once every test process has exited and its resource tracker has
// cleaned up. A segment the library created through its tracker is named after the root
// of its process tree, the worker that ran one test file, so the failure names that file.
//
// Why at the end of the run and not after each file: a segment a test leaves to the
// resource tracker is legitimately there until the file's worker process exits.
// MP_LEAK_CHECK=warn reports without failing (for runs beside other users of /dev/shm).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const SHM = '/dev/shm';
const OURS = /^mp_/;
/** mp_<root pid, base 36>_<random>: see randomSegmentName in lib/resource_tracker.ts. */
const TREE = /^mp_([0-9a-z]+)_[0-9a-z]+$/;

function ours(): Set<string> {
  try {
    return new Set(readdirSync(SHM).filter((n) => OURS.test(n)));
  } catch {
    return new Set(); // no /dev/shm (not Linux): nothing to check
  }
}

/** Which test file's tree made `name`, from the registry the setup file fills. */
export function fileOf(name: string, registry: string): string {
  const m = TREE.exec(name);
  if (m === null) return '(no tree in the name: created outside the resource tracker)';
  const pid = Number.parseInt(m[1]!, 36);
  try {
    return relative(process.cwd(), readFileSync(join(registry, String(pid)), 'utf8'));
  } catch {
    return `(process tree ${pid}, not a test file's worker)`;
  }
}

// MP_LEAK_GRACE_MS shortens the wait for test/leak-checks.test.ts's deliberate leak.
const GRACE_MS = Number(process.env.MP_LEAK_GRACE_MS ?? 10_000);

export default function setup(): () => Promise<void> {
  const before = ours();
  const registry = mkdtempSync(join(tmpdir(), 'mp-leak-registry-'));
  process.env.MP_LEAK_REGISTRY = registry; // inherited by the test workers
  return async () => {
    try {
      const deadline = Date.now() + GRACE_MS;
      let left: string[] = [];
      for (;;) {
        left = [...ours()].filter((n) => !before.has(n));
        if (left.length === 0 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      if (left.length === 0) return;
      const lines = left.slice(0, 20).map((n) => `  ${SHM}/${n}  <- ${fileOf(n, registry)}`);
      const message = `the test run left ${left.length} shared memory segment(s) behind:\n${lines.join('\n')}`;
      console.error(`\nLEAK CHECK: ${message}`);
      // Not a throw: vitest reports an error thrown here but still exits 0.
      if (process.env.MP_LEAK_CHECK !== 'warn') process.exitCode = 1;
    } finally {
      rmSync(registry, { recursive: true, force: true });
    }
  };
}
