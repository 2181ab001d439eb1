// The forkserver start method, the parent's side.
//
// Node cannot fork() a running runtime, so "forkserver" here means what Python's gives a
// program: start() hands a target to a clean process that is already running, instead of
// booting one. A server process (dist/forkserver_main.js, started once per parent, not
// from the user's process afterwards) keeps a few warm children: Node booted, the
// bootstrap and the library loaded, waiting for a job.
//
// start() must be synchronous and know the pid on return, while messages from the server
// only arrive through the event loop. So the server posts the pids of its warm children
// in a small shared segment, and start() claims one there with a compareExchange, sleeping
// on a futex word (the addon's cross-process wait) only when none is ready. The job then
// goes to the server over IPC, which forwards it to that child, and later reports the
// child's exit code (the server is its OS parent).
//
// Layout of the segment (32-bit words): GEN (bumped by the server after each post),
// CLAIMS (bumped by the parent after each claim, so the server tops the pool up at once),
// GONE (set by the server as it exits, so a parent blocked in start() does not wait for
// an exit event its own blocked loop cannot deliver), then SLOTS words, each the pid of a
// ready warm child or 0.
import { type ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import { ProcessError } from './errors.js';
import { native } from './native.js';
import { register, trackerForChild, unregister } from './resource_tracker.js';
import { BasePopen, type ChildJob, childExecArgv, type LaunchOptions, registerLauncher } from './spawn.js';

export const GEN = 0;
export const CLAIMS = 1;
export const GONE = 2;
export const FIRST_SLOT = 3;
export const SLOTS = 16;
export const SEGMENT_BYTES = 4 * (FIRST_SLOT + SLOTS);

/** Environment of the server: its segment, pool size and the pid it must die with. */
export const SEGMENT_ENV = 'MP_FORKSERVER_SEGMENT';
export const POOL_ENV = 'MP_FORKSERVER_POOL';
export const OWNER_ENV = 'MP_FORKSERVER_OWNER';
export { WARM_ENV } from './context.js';

/** Messages from the server to the parent. */
export type ServerMessage = { t: 'hello' } | { t: 'exit'; pid: number; code: number };
/** Messages from the parent to the server. */
export type ParentMessage = { t: 'job'; pid: number; job: ChildJob } | { t: 'discard'; pid: number };

const SERVER_SCRIPT = path.join(__dirname, 'forkserver_main.js');
const TRACKER_CHILD_FD = 4;
/** How long start() waits for a warm child before giving up. */
const CLAIM_TIMEOUT_MS = 60_000;
/** Sleep slice while waiting, to notice a dead server. */
const SLICE_MS = 100;
/** The code Python's forkserver reports when it cannot learn a child's status. */
const LOST = 255;

function poolSize(): number {
  const fromEnv = Number(process.env[POOL_ENV]);
  if (Number.isInteger(fromEnv) && fromEnv >= 1 && fromEnv <= SLOTS) return fromEnv;
  const { availableParallelism } = require('node:os') as typeof import('node:os');
  return Math.min(4, Math.max(2, availableParallelism()));
}

class Server {
  readonly proc: ChildProcess;
  readonly pid: number;
  private readonly words: Int32Array;
  private readonly buffer: ArrayBuffer;
  private segment: string | null;
  /** Reasons to keep the event loop alive: live non-daemon children and pending waits. */
  private holds = 0;
  readonly popens = new Map<number, ForkserverPopen>();
  dead = false;

  constructor() {
    const { name, buffer } = native.shmCreate(SEGMENT_BYTES);
    register(name);
    this.segment = name;
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    const tracker = trackerForChild(TRACKER_CHILD_FD);
    const stdio: ('ignore' | 'inherit' | 'ipc' | number)[] = ['ignore', 'inherit', 'inherit', 'ipc'];
    if (tracker !== null) stdio.push(tracker.fd);
    const proc = fork(SERVER_SCRIPT, [], {
      execArgv: childExecArgv(),
      stdio,
      serialization: 'advanced',
      env: {
        ...process.env,
        ...(tracker?.env ?? {}),
        [SEGMENT_ENV]: name,
        [POOL_ENV]: String(poolSize()),
        [OWNER_ENV]: String(process.pid),
      },
    });
    proc.on('error', () => {});
    if (proc.pid === undefined) {
      this.dropSegment();
      throw new ProcessError('could not start the forkserver process (spawning node failed)');
    }
    this.proc = proc;
    this.pid = proc.pid;
    proc.on('message', (m: ServerMessage) => this.onMessage(m));
    proc.once('exit', () => this.onExit());
    // The server lives as long as this process; it never keeps it alive by itself.
    proc.unref();
    proc.channel?.unref();
  }

  private dropSegment(): void {
    if (this.segment === null) return;
    try {
      native.shmUnlink(this.segment);
    } catch {
      // already gone
    }
    unregister(this.segment);
    this.segment = null;
  }

  private onMessage(m: ServerMessage): void {
    if (m.t === 'hello') {
      // The server has the segment mapped: the name is no longer needed.
      this.dropSegment();
    } else if (m.t === 'exit') {
      const popen = this.popens.get(m.pid);
      this.popens.delete(m.pid);
      popen?.serverReported(m.code);
    }
  }

  private onExit(): void {
    this.dead = true;
    if (server === this) server = null;
    this.dropSegment();
    native.shmClose(this.buffer);
    for (const popen of this.popens.values()) popen.serverReported(LOST);
    this.popens.clear();
  }

  hold(delta: 1 | -1): void {
    this.holds += delta;
    if (this.dead) return;
    if (delta > 0 && this.holds === 1) this.proc.channel?.ref();
    else if (this.holds === 0) this.proc.channel?.unref();
  }

  /** The pid of a warm child, now ours. Blocks while none is ready. */
  claim(): number {
    const w = this.words;
    const deadline = Date.now() + CLAIM_TIMEOUT_MS;
    for (;;) {
      const gen = Atomics.load(w, GEN);
      for (let i = FIRST_SLOT; i < FIRST_SLOT + SLOTS; i++) {
        const pid = Atomics.load(w, i);
        if (pid !== 0 && Atomics.compareExchange(w, i, pid, 0) === pid) {
          Atomics.add(w, CLAIMS, 1);
          native.wake(w, CLAIMS, 1);
          return pid;
        }
      }
      if (this.dead || Atomics.load(w, GONE) !== 0 || this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new ProcessError('the forkserver process has died; the next start() starts a new one');
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ProcessError('no warm process became ready within 60 s (forkserver)');
      native.wait(w, GEN, gen, Math.min(SLICE_MS, left));
    }
  }

  launch(job: ChildJob, options: LaunchOptions): ForkserverPopen {
    const pid = this.claim();
    const popen = new ForkserverPopen(this, pid, options.daemon);
    // A daemon's watchdog is the server, its OS parent (armed again from the job).
    const message: ParentMessage = { t: 'job', pid, job: { ...job, watchPid: this.pid } };
    try {
      this.proc.send(message);
    } catch (err) {
      this.proc.send({ t: 'discard', pid } satisfies ParentMessage);
      popen.serverReported(LOST);
      throw new TypeError(`cannot send the process's arguments to the child: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.popens.set(pid, popen);
    return popen;
  }
}

let server: Server | null = null;

class ForkserverPopen extends BasePopen {
  readonly method = 'forkserver' as const;
  readonly pid: number;
  private readonly server: Server;
  private readonly daemon: boolean;

  constructor(server: Server, pid: number, daemon: boolean) {
    super();
    this.server = server;
    this.pid = pid;
    this.daemon = daemon;
    // A non-daemon child keeps this process alive until it ends.
    if (!daemon) server.hold(1);
  }

  serverReported(code: number): void {
    if (this.exitcode !== null) return;
    this.ended(code);
    if (!this.daemon) this.server.hold(-1);
  }

  protected holdLoop(hold: boolean): void {
    this.server.hold(hold ? 1 : -1);
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.exitcode !== null) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // already gone; the server reports its exit
    }
  }

  terminate(): void {
    this.signal('SIGTERM');
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  close(): void {}
}

registerLauncher('forkserver', (job, options) => {
  if (server === null || server.dead) server = new Server();
  return server.launch(job, options);
});
