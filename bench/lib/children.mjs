// The harness side: run one child (a workload line, a Python script, an outside bench
// script), pass its JSON lines on, forward anything else it prints to stderr.
//
// Each child leads a process group of its own, so whatever it leaves behind (a helper
// that outlived it, a grandchild spinning on a dead peer) is killed when it ends or
// times out: a stray process would hold our stdout pipe open and skew later workloads.
// Processes that leave the group on purpose (the library's resource tracker calls setsid)
// are not touched.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** True when `obj` is a well-formed benchmark line. */
export function isBenchLine(obj) {
  return (
    obj !== null &&
    typeof obj === 'object' &&
    typeof obj.bench === 'string' &&
    typeof obj.impl === 'string' &&
    typeof obj.value === 'number' &&
    Number.isFinite(obj.value) &&
    typeof obj.unit === 'string' &&
    (obj.n === undefined || typeof obj.n === 'number')
  );
}

/** Groups of children still running, killed if the harness itself is interrupted. */
const running = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pid of running) killGroup(pid);
    process.exit(130);
  });
}

/** Send `signal` to the process group `pid` leads; false when the group is empty. */
function killGroup(pid, signal = 'SIGKILL') {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH
  }
}

/**
 * Whether the group still has a running member. Zombies do not count: an orphan that
 * exited waits for init to reap it, which in a container can take seconds.
 */
function groupAlive(pgid) {
  let entries;
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return killGroup(pgid, 0); // no /proc: zombies count too
  }
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

/** Wait up to `ms` for the group to empty (helpers exiting on their own, e.g. Python's
 * resource tracker on EOF); true if it did. */
async function groupGone(pgid, ms) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (!groupAlive(pgid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !groupAlive(pgid);
}

/** How long to wait, after the child exited, for its pipe to drain and its group to empty. */
const GRACE_MS = 2000;

/**
 * Run `cmd args`; call `onLine` for each benchmark line on its stdout. Resolves with
 * `{ ok, why }`: ok is false when it exited non-zero, died by a signal, timed out, or
 * printed a malformed JSON line.
 */
export function runChild(cmd, args, { label = cmd, cwd, timeoutMs, onLine }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    running.add(child.pid);
    let bad = null;
    let timedOut = false;
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const text = line.trim();
      if (text === '') return;
      let obj;
      try {
        obj = JSON.parse(text);
      } catch {
        process.stderr.write(`  (stdout of ${label}: ${text})\n`);
        return;
      }
      if (isBenchLine(obj)) onLine(obj);
      else bad = `malformed line ${text}`;
    });
    const drained = new Promise((r) => rl.once('close', r));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      running.delete(child.pid);
      resolve({ ok: false, why: err.message });
    });
    child.on('exit', async (code, signal) => {
      clearTimeout(timer);
      // Lines still in the pipe are read; a leftover process holding it open is not
      // waited for.
      let grace;
      await Promise.race([drained, new Promise((r) => (grace = setTimeout(r, GRACE_MS)))]);
      clearTimeout(grace);
      if (!(await groupGone(child.pid, GRACE_MS)) && killGroup(child.pid) && !timedOut) {
        process.stderr.write(`  (${label} left processes behind; killed them)\n`);
      }
      running.delete(child.pid);
      child.stdout.destroy();
      if (timedOut) resolve({ ok: false, why: `timed out after ${timeoutMs / 1000} s` });
      else if (signal !== null) resolve({ ok: false, why: `killed by ${signal}` });
      else if (code !== 0) resolve({ ok: false, why: `exited with code ${code}` });
      else if (bad !== null) resolve({ ok: false, why: bad });
      else resolve({ ok: true, why: null });
    });
  });
}
