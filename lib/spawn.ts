// How a child process is started: the "popen" of each start method (Python's
// popen_spawn_posix / popen_forkserver), behind one small interface. Loaded on the first
// start() (a child that starts nothing never loads it, nor child_process or the tracker).
//
// Process.start() builds a ChildJob (what to run and who the child is) and hands it to the
// launcher of its start method, which returns a Popen: the parent's view of that one
// child. Process never touches child_process itself, so a start method that does not
// spawn a process per start (forkserver: warm processes handed a job) only has to
// implement Popen and call registerLauncher().
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { ProcessError } from './errors.js';
import { trackerForChild } from './resource_tracker.js';
import type { InstanceRef, TargetRef } from './targets.js';

export type StartMethod = 'spawn' | 'forkserver';

/** Everything a child needs to become the Process it was started as. */
export interface ChildJob {
  /** Format of this object; a bootstrap refuses a job it does not understand. */
  readonly v: 1;
  readonly name: string;
  /** Position in the process tree: [2] is Process-2, [1, 3] is Process-1:3. */
  readonly identity: readonly number[];
  readonly daemon: boolean;
  readonly authkey: Uint8Array;
  readonly parentPid: number;
  readonly parentName: string;
  /**
   * The process whose death must end a daemon child: the parent for spawn, which is also
   * the OS parent, so the child compares it with getppid() after arming the
   * parent-death signal.
   */
  readonly watchPid: number;
  readonly startMethod: StartMethod;
  /** The target, when the Process has one (by reference or as source). */
  readonly target: TargetRef | null;
  /** A Process subclass instance to revive and run(), else null. */
  readonly instance: InstanceRef | null;
  /**
   * Own enumerable fields of a plain Process object (wire form), e.g. set by user code
   * after construction; a subclass instance's travel in `instance`.
   */
  readonly fields: Record<string, unknown> | null;
  /** Own function-valued fields (`p.run = work`), sent as targets are. */
  readonly methods: Record<string, TargetRef> | null;
  /** The target's arguments in wire form (reduction.toWire). */
  readonly args: unknown;
  /** The args hold shared objects: the child loads the whole library (their revivers). */
  readonly loadLibrary: boolean;
  /** Entry module of the main process (a URL), passed down the tree. */
  readonly mainModule: string | undefined;
  /** The parent's process.argv, which the child takes over (as Python's spawn does). */
  readonly argv: readonly string[];
  /** The parent's working directory when start() was called. */
  readonly cwd: string;
  /** forkserver: the exit cell the child writes its exit code to (forkserver_shared.ts). */
  readonly exitCell?: number;
}

/** The parent's handle on one started child, whatever started it. */
export interface Popen {
  readonly method: StartMethod;
  readonly pid: number;
  /** null while running; then 0, n for exit(n), or -N after signal N. */
  readonly exitcode: number | null;
  /** Resolves with the exit code when the child has ended. Holds no ref on the event loop. */
  readonly exited: Promise<number>;
  /**
   * The exit code once the child ended, or null when `timeoutMs` (Infinity: no limit) ran
   * out first. Keeps the event loop alive while it waits, even for a daemon child.
   */
  wait(timeoutMs: number): Promise<number | null>;
  /** SIGTERM; nothing if the child already ended. */
  terminate(): void;
  /** SIGKILL; nothing if the child already ended. */
  kill(): void;
  /** Release what the parent holds for this child (it has ended). */
  close(): void;
}

export interface LaunchOptions {
  /** A daemon child must not keep the parent's event loop alive. */
  readonly daemon: boolean;
}

/** Starts one child for `job`, synchronously: the pid is known on return. */
export type Launcher = (job: ChildJob, options: LaunchOptions) => Popen;

const launchers = new Map<StartMethod, Launcher>();

export function registerLauncher(method: StartMethod, launcher: Launcher): void {
  launchers.set(method, launcher);
}

export function launch(method: StartMethod, job: ChildJob, options: LaunchOptions): Popen {
  // Loaded on first use: it registers itself.
  if (method === 'forkserver' && !launchers.has(method) && process.platform !== 'win32') require('./forkserver.js');
  const launcher = launchers.get(method);
  if (launcher === undefined) {
    throw new ProcessError(`the '${method}' start method is not implemented yet; use 'spawn'`);
  }
  return launcher(job, options);
}

/** -N for a signal name, as Python reports a child killed by signal N. */
export function signalExitcode(signal: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number>)[signal];
  return n === undefined ? -1 : -n;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Exit bookkeeping every Popen shares: the exit code, the `exited` promise, and waits with
 * a timeout that hold the event loop only while someone waits.
 */
export abstract class BasePopen implements Popen {
  abstract readonly method: StartMethod;
  abstract readonly pid: number;
  private code: number | null = null;
  private waiters = 0;
  private settle!: (code: number) => void;
  readonly exited: Promise<number> = new Promise((resolve) => {
    this.settle = resolve;
  });

  get exitcode(): number | null {
    return this.code;
  }

  /** Subclasses call this once, when the child has ended. */
  protected ended(code: number): void {
    if (this.code !== null) return;
    this.code = code;
    this.settle(code);
  }

  /** Keep the event loop alive (true) or stop doing so (false) on behalf of waiters. */
  protected abstract holdLoop(hold: boolean): void;

  wait(timeoutMs: number): Promise<number | null> {
    if (this.code !== null) return Promise.resolve(this.code);
    if (!(timeoutMs > 0)) return Promise.resolve(null);
    return new Promise((resolve) => {
      if (++this.waiters === 1) this.holdLoop(true);
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (value: number | null) => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        if (--this.waiters === 0) this.holdLoop(false);
        resolve(value);
      };
      this.exited.then(finish);
      if (timeoutMs !== Infinity) {
        const deadline = Date.now() + timeoutMs;
        const arm = () => {
          const left = deadline - Date.now();
          if (left <= 0) finish(null);
          else timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
        };
        arm();
      }
    });
  }

  abstract terminate(): void;
  abstract kill(): void;
  abstract close(): void;
}

// --- spawn: a fresh Node process per child ------------------------------------------

/**
 * The error for a child_process.fork() that returned a child without a pid. Node reports
 * the errno only later, as an 'error' event, but it is one of five, told apart here at
 * once: the node binary is missing or not executable (ENOENT, EACCES), no descriptor is
 * left (EMFILE, ENFILE), else the system refused a new process (EAGAIN).
 */
export function spawnFailed(what: string): ProcessError {
  let code = 'EAGAIN';
  let hint =
    "the system refused a new process: this user or container has reached its process limit (ulimit -u, or the pids cgroup's pids.max); " +
    'end some processes or raise the limit';
  try {
    fs.accessSync(process.execPath, fs.constants.X_OK);
    fs.closeSync(fs.openSync(process.execPath, 'r'));
  } catch (err) {
    code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    hint = code === 'EMFILE' || code === 'ENFILE' ? 'too many open files: close some or raise the limit (ulimit -n)' : `cannot run ${process.execPath}`;
  }
  const cause = Object.assign(new Error(`spawn ${process.execPath} ${code}`), { code, syscall: 'spawn' });
  return new ProcessError(`${what}: spawning node failed with ${code} (${hint})`, { cause });
}

/** dist/bootstrap.js: what a spawned child runs first. */
const BOOTSTRAP = path.join(__dirname, 'bootstrap.js');
/** The child's descriptor for the resource tracker's pipe (0-2 stdio, 3 the IPC channel). */
const TRACKER_CHILD_FD = 4;

/** Flags of the parent that must not reach a child: they would replace the bootstrap
 * (-e, -p, --test), or clash with the parent (an inspector port, watch mode). */
const DROP_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '--inspect-port', '--debug-port', '--watch-path']);
const DROP = /^(-i|--interactive|-c|--check|--input-type(=.*)?|--test|--test-.*|--watch|--watch-.*|--inspect(-brk|-wait)?(=.*)?|--inspect-port=.*|--debug-port=.*|--inspect-publish-uid=.*)$/;

/** process.execArgv minus what a child must not inherit; loaders (tsx, --import) stay. */
export function childExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (DROP_WITH_VALUE.has(a)) i++;
    else if (!DROP.test(a)) out.push(a);
  }
  return out;
}

class SpawnPopen extends BasePopen {
  readonly method = 'spawn' as const;
  readonly pid: number;
  private readonly child: ChildProcess;
  private readonly daemon: boolean;

  constructor(job: ChildJob, options: LaunchOptions) {
    super();
    this.daemon = options.daemon;
    const tracker = trackerForChild(TRACKER_CHILD_FD);
    // stdin is /dev/null as in Python's children; stdout/stderr are the parent's own
    // descriptors, so output reaches the terminal unbuffered and in order.
    const stdio: ('ignore' | 'inherit' | 'ipc' | number)[] = ['ignore', 'inherit', 'inherit', 'ipc'];
    if (tracker !== null) stdio.push(tracker.fd);
    const child = fork(BOOTSTRAP, [], {
      execArgv: childExecArgv(),
      stdio,
      serialization: 'advanced',
      env: tracker === null ? process.env : { ...process.env, ...tracker.env },
    });
    // Errors of the channel (EPIPE when the child died before reading its job) are
    // reported by the child's exit, not as an 'error' event nobody listens to.
    child.on('error', () => {});
    if (child.pid === undefined) {
      throw spawnFailed('could not start a child process');
    }
    this.child = child;
    this.pid = child.pid;
    child.once('exit', (code, signal) => {
      this.ended(code ?? (signal === null ? 1 : signalExitcode(signal)));
    });
    try {
      child.send(job, (err) => {
        // The child ended before it read the job; its exit code says so.
        void err;
      });
    } catch (err) {
      // Not serializable (a function or a class instance with methods in args, ...).
      child.kill('SIGKILL');
      throw new TypeError(`cannot send the process's arguments to the child: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (this.daemon) {
      child.unref();
      child.channel?.unref();
    }
  }

  protected holdLoop(hold: boolean): void {
    // A non-daemon child holds the loop anyway until it exits.
    if (!this.daemon) return;
    if (hold) this.child.ref();
    else this.child.unref();
  }

  terminate(): void {
    if (this.exitcode === null) this.child.kill('SIGTERM');
  }

  kill(): void {
    if (this.exitcode === null) this.child.kill('SIGKILL');
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
  }
}

registerLauncher('spawn', (job, options) => new SpawnPopen(job, options));
