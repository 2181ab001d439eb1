// npm run stress [-- --minutes N] [--seed S] [--in-place]: queues, pipes, locks, a
// Condition, a pool and a manager under load in several processes while a chaos loop
// SIGKILLs and SIGTERMs them (scripts/stress/run.mjs), on a private copy of the built
// package (stress/snapshot.mjs; --in-place uses dist/ itself). This process watches from
// outside: once the run and everything it started are gone, no /dev/shm segment and no
// process of it may be left. Prints a summary and one JSON line; exits 1 on any violation.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Observer } from './stress/observer.mjs';
import { hasEnv, listShm, mappedShm, pids } from './stress/procfs.mjs';
import { newest, removeSnapshot, snapshot } from './stress/snapshot.mjs';
import { summarize } from './stress/summary.mjs';

const TOKEN_ENV = 'MP_STRESS_TOKEN';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function options() {
  const { values } = parseArgs({
    options: { minutes: { type: 'string', default: '2' }, seed: { type: 'string' }, 'in-place': { type: 'boolean', default: false } },
  });
  const minutes = Number(values.minutes);
  if (!(minutes > 0) || !Number.isFinite(minutes)) throw new Error(`--minutes must be a positive number, got ${values.minutes}`);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  return { minutes, seed, inPlace: values['in-place'] };
}

/** Run scripts/stress/run.mjs; resolves with its exit code (null when it had to be killed). */
function runStress(base, minutes, seed, token, resultFile, observerFor) {
  const child = spawn(
    process.execPath,
    ['--disable-warning=MP_OWNER_DIED', join(base, 'scripts', 'stress', 'run.mjs'), '--minutes', String(minutes), '--seed', String(seed), '--result', resultFile],
    { stdio: 'inherit', env: { ...process.env, [TOKEN_ENV]: token } },
  );
  const observer = observerFor(child.pid);
  const limit = setTimeout(() => child.kill('SIGKILL'), (minutes * 60 + 600) * 1000);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      observer.stop();
      resolve(signal === null ? code : null);
    });
  });
}

/** After the run: what of it is left, once the resource tracker has had a moment. */
async function leftovers(before, observer, token) {
  const t0 = Date.now();
  for (;;) {
    const procs = new Set(observer.survivors());
    for (const pid of pids()) if (pid !== process.pid && hasEnv(pid, TOKEN_ENV, token)) procs.add(pid);
    const added = [...listShm()].filter((n) => !before.has(n));
    const shm = added.filter((n) => observer.ours.has(n));
    const elapsed = Date.now() - t0;
    if ((procs.size === 0 && shm.length === 0 && elapsed >= 1000) || elapsed > 10_000) {
      // New entries this run never mapped: ours too (a creator killed at once), unless other
      // programs used the library meanwhile or map them now.
      const live = new Set();
      for (const pid of pids()) for (const n of mappedShm(pid)) live.add(n);
      const unknown = added.filter((n) => !observer.ours.has(n) && !live.has(n) && n.startsWith('mp_'));
      const quiet = observer.foreign.size === 0;
      return { shm: quiet ? [...shm, ...unknown] : shm, processes: [...procs], unattributed: quiet ? [] : unknown };
    }
    await sleep(250);
  }
}

async function main() {
  const { minutes, seed, inPlace } = options();
  const token = randomUUID();
  const resultFile = join(tmpdir(), `mp-stress-${token}.json`);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const distAtStart = newest(join(root, 'dist'));
  const snap = inPlace ? null : await snapshot(root);
  const before = listShm();
  console.log(`stress: ${minutes} min, seed ${seed} (replay the chaos with --seed ${seed})`);
  console.log(snap === null ? `library: ${root}dist (in place)` : `library: a copy of dist/ built ${snap.builtAt.toISOString()}, in ${snap.dir}`);
  let observer;
  const code = await runStress(snap?.dir ?? root, minutes, seed, token, resultFile, (pid) => {
    observer = new Observer(pid);
    observer.start();
    return observer;
  });
  const leaks = await leftovers(before, observer, token);
  if (snap !== null) removeSnapshot(snap.dir);
  if (inPlace && newest(join(root, 'dist')) !== distAtStart) {
    console.log('stress: warning: dist/ was rebuilt during this in-place run; a process started meanwhile may have loaded a half-written file');
  }
  let result;
  try {
    result = JSON.parse(readFileSync(resultFile, 'utf8'));
    rmSync(resultFile);
  } catch {
    console.error(`stress: the run ended (exit code ${code}) without a result`);
    process.exitCode = 1;
    return;
  }
  const { text, json, ok } = summarize(result, leaks, { peakShm: observer.peakShm, exitCode: code });
  console.log(text);
  console.log(json);
  if (!ok || code !== 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
