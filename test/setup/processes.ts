// Leak check per test file (vitest setupFiles): when a file's tests are over, no process
// it started may still run. The processes that legitimately outlive a file's tests are
// left out: a forkserver (it lives as long as the process that started it, the test
// worker) with its warm spares, and vite's esbuild service. Zombies are not running.
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll } from 'vitest';

interface Proc {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields after it follow the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    return { pid, ppid: Number(rest[1]), state: rest[0]!, cmdline };
  } catch {
    return null; // gone meanwhile
  }
}

const OUTLIVES_FILE = /forkserver_(main|child)\.js|esbuild|--service/;

/** Running descendants of `root`, minus the subtrees of processes allowed to outlive a file. */
export function descendants(root: number): Proc[] {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is Proc => p !== null);
  const byParent = new Map<number, Proc[]>();
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const out: Proc[] = [];
  const stack = [...(byParent.get(root) ?? [])];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (OUTLIVES_FILE.test(p.cmdline)) continue;
    if (p.state !== 'Z') out.push(p);
    stack.push(...(byParent.get(p.pid) ?? []));
  }
  return out;
}

// MP_LEAK_GRACE_MS shortens the wait for test/leak-checks.test.ts's deliberate leak.
const GRACE_MS = Number(process.env.MP_LEAK_GRACE_MS ?? 15_000);

if (process.platform === 'linux') {
  afterAll(async () => {
    const deadline = Date.now() + GRACE_MS;
    let left = descendants(process.pid);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      left = descendants(process.pid);
    }
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL'); // so that they do not run into the next file
      } catch {
        // gone meanwhile
      }
    }
    const list = left.map((p) => `  ${p.pid}: ${p.cmdline.slice(0, 200)}`).join('\n');
    throw new Error(`this test file left ${left.length} process(es) running ${GRACE_MS / 1000} s after its tests:\n${list}`);
  }, GRACE_MS + 10_000);
}
