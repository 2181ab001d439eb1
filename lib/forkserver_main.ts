// The forkserver process (dist/forkserver_main.js): keeps `pool` warm children ready,
// posts their pids in the shared segment (see forkserver.ts), forwards each job the
// parent sends to the child it names, and reports the exit code of every child that had
// a job. It lives as long as its parent: it exits when the parent's channel closes, and a
// parent-death signal covers a parent killed outright.
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import {
  CLAIMS,
  FIRST_SLOT,
  GEN,
  GONE,
  OWNER_ENV,
  type ParentMessage,
  POOL_ENV,
  SEGMENT_ENV,
  type ServerMessage,
  SLOTS,
} from './forkserver.js';
import { native } from './native.js';
import { trackerForChild } from './resource_tracker.js';
import { WARM_ENV } from './context.js';
import { signalExitcode } from './spawn.js';

const BOOTSTRAP = path.join(__dirname, 'bootstrap.js');
const TRACKER_CHILD_FD = 4;

const segment = process.env[SEGMENT_ENV];
const pool = Number(process.env[POOL_ENV]);
const owner = Number(process.env[OWNER_ENV]);
// Children of the server must not see these.
delete process.env[SEGMENT_ENV];
delete process.env[POOL_ENV];
delete process.env[OWNER_ENV];

if (segment === undefined || !Number.isInteger(pool) || !Number.isInteger(owner) || process.send === undefined) {
  process.stderr.write('multiprocessing: forkserver_main.js is started by the library, not by hand\n');
  process.exit(1);
}

if (native.setParentDeathSignal(osConstants.signals.SIGKILL) && native.getppid() !== owner) process.exit(0);

const words = new Int32Array(native.shmAttach(segment).buffer);
process.on('exit', () => {
  Atomics.store(words, GONE, 1);
  native.wake(words, GEN, 1 << 20);
});

/** Warm children still loading. */
const booting = new Set<ChildProcess>();
/** Warm children ready (posted), until their job arrives. */
const ready = new Map<number, ChildProcess>();
/** Children running a job: their exit is reported. */
const assigned = new Set<number>();
/** Exit codes of posted children that died after the parent claimed them. */
const diedClaimed = new Map<number, number>();
let closing = false;

function send(message: ServerMessage): void {
  try {
    process.send!(message);
  } catch {
    // the parent is gone; the disconnect handler ends this process
  }
}

function unclaimed(): number {
  let n = 0;
  for (let i = FIRST_SLOT; i < FIRST_SLOT + SLOTS; i++) if (Atomics.load(words, i) !== 0) n++;
  return n;
}

function post(pid: number): void {
  for (let i = FIRST_SLOT; i < FIRST_SLOT + SLOTS; i++) {
    if (Atomics.compareExchange(words, i, 0, pid) === 0) {
      Atomics.add(words, GEN, 1);
      native.wake(words, GEN, 1);
      return;
    }
  }
  // No free slot (more warm children than slots): this one is not needed.
  ready.get(pid)?.kill('SIGKILL');
}

/** Take a posted pid back (its child died). False if the parent claimed it first. */
function retract(pid: number): boolean {
  for (let i = FIRST_SLOT; i < FIRST_SLOT + SLOTS; i++) {
    if (Atomics.load(words, i) === pid && Atomics.compareExchange(words, i, pid, 0) === pid) return true;
  }
  return false;
}

function startWarm(): void {
  const tracker = trackerForChild(TRACKER_CHILD_FD);
  const stdio: ('ignore' | 'inherit' | 'ipc' | number)[] = ['ignore', 'inherit', 'inherit', 'ipc'];
  if (tracker !== null) stdio.push(tracker.fd);
  const child = fork(BOOTSTRAP, [], {
    execArgv: process.execArgv,
    stdio,
    serialization: 'advanced',
    env: { ...process.env, ...(tracker?.env ?? {}), [WARM_ENV]: String(process.pid) },
  });
  child.on('error', () => {});
  const pid = child.pid;
  if (pid === undefined) return;
  booting.add(child);
  child.once('message', (m: unknown) => {
    if (!booting.delete(child) || (m as { t?: unknown } | null)?.t !== 'ready') return;
    ready.set(pid, child);
    post(pid);
  });
  child.once('exit', (code, signal) => {
    const status = code ?? (signal === null ? 1 : signalExitcode(signal));
    booting.delete(child);
    if (assigned.delete(pid)) send({ t: 'exit', pid, code: status });
    else if (ready.delete(pid) && !retract(pid)) diedClaimed.set(pid, status);
    topUp();
  });
}

function topUp(): void {
  if (closing) return;
  for (let n = unclaimed() + booting.size; n < pool; n++) startWarm();
}

process.on('message', (m: ParentMessage) => {
  if (m.t === 'job') {
    const child = ready.get(m.pid);
    if (child === undefined) {
      // It died between being claimed and getting its job.
      send({ t: 'exit', pid: m.pid, code: diedClaimed.get(m.pid) ?? 255 });
      diedClaimed.delete(m.pid);
      return;
    }
    ready.delete(m.pid);
    assigned.add(m.pid);
    child.send(m.job, () => {});
    // The child's exit is what matters from here; its channel must not hold this process.
    child.channel?.unref();
  } else if (m.t === 'discard') {
    ready.get(m.pid)?.kill('SIGKILL');
    ready.delete(m.pid);
  }
  topUp();
});

// The parent is gone: warm children go with us; children running jobs live on (daemons
// among them die of their parent-death signal).
process.on('disconnect', () => {
  closing = true;
  for (const child of booting) child.kill('SIGKILL');
  for (const child of ready.values()) child.kill('SIGKILL');
  process.exit(0);
});

/** Top the pool up as soon as the parent claims a warm child (before its job arrives). */
async function watchClaims(): Promise<void> {
  let seen = Atomics.load(words, CLAIMS);
  for (;;) {
    await native.waitAsync(1, words, CLAIMS, seen, Infinity);
    seen = Atomics.load(words, CLAIMS);
    topUp();
  }
}

send({ t: 'hello' });
topUp();
void watchClaims();
