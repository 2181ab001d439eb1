// The one place that loads the addon. Everything else imports `native` from here.
//
// The addon is deliberately thin: it maps segments, sleeps and wakes on 32-bit words,
// resolves async waits from its own thread, and answers questions about pids. All
// policy (locks, rings, allocation, naming) lives in TypeScript.
import * as path from 'node:path';

/** Result of a wait on a shared 32-bit word, as `Atomics.wait` names them. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';
/** An async wait can also end because `cancelWait` was called. */
export type AsyncWaitResult = WaitResult | 'cancelled';

/** The process's resource tracker (see trackerShared). */
export interface TrackerState {
  /** The write end of its pipe; the same number for the life of the process. */
  readonly fd: number;
  /** Its pid when this process started it, 0 when inherited from the parent. */
  readonly pid: number;
  /** Goes up each time it is restarted. */
  readonly generation: number;
}

export interface ShmCreated {
  /** The segment name without the leading slash (`mp_...` when generated). */
  name: string;
  /** One external ArrayBuffer over the whole mapping, `byteLength` = requested size. */
  buffer: ArrayBuffer;
}

export interface ShmAttached {
  buffer: ArrayBuffer;
  size: number;
}

export interface NativeBinding {
  /** Version of the addon's interface; bumped when this file changes shape. */
  readonly abiVersion: number;
  /** 'linux' | 'darwin' | 'win32' ... as compiled. */
  readonly platform: string;
  /** Prefix of every generated segment name, e.g. 'mp_'. */
  readonly shmPrefix: string;

  /**
   * Create a segment of `size` bytes (> 0). With `name`, exactly that name (EEXIST if taken);
   * without, a random short name with the shmPrefix, retried on collision.
   * Storage is reserved up front (posix_fallocate) so a full /dev/shm is ENOSPC here,
   * never SIGBUS later. Errors are `Error` with `.code` = errno name, `.syscall` and, when
   * known, `.hint` (what to do). Past the process's share of vm.max_map_count (Linux) it
   * fails with ENOMEM before mapping anything, as shmAttach does.
   */
  shmCreate(size: number, name?: string): ShmCreated;
  /** Map an existing segment by name (ENOENT when absent). */
  shmAttach(name: string): ShmAttached;
  /** shm_unlink (ENOENT when already gone). */
  shmUnlink(name: string): void;
  /**
   * Detach `buffer` (every view becomes length 0) and unmap. The unmap is deferred
   * while a pending async wait still points into the mapping. Idempotent.
   */
  shmClose(buffer: ArrayBuffer): void;

  /**
   * Sleep while `view[index] === expected`, up to `timeoutMs` (Infinity or < 0: forever).
   * `view` must lie in a mapping made by this addon. Blocks the calling thread.
   */
  wait(view: Int32Array, index: number, expected: number, timeoutMs: number): WaitResult;
  /** Wake up to `count` sleepers on `view[index]` in any process. Returns how many woke. */
  wake(view: Int32Array, index: number, count: number): number;
  /**
   * Like `wait`, but resolved from the addon's own waiter thread (never libuv's pool).
   * `id` is chosen by the caller (unique among pending waits) and names the wait for
   * `cancelWait`. While no async wait is pending the addon holds no ref on the loop.
   */
  waitAsync(
    id: number,
    view: Int32Array,
    index: number,
    expected: number,
    timeoutMs: number,
  ): Promise<AsyncWaitResult>;
  /** Resolve a pending async wait with 'cancelled'. False when it was not pending. */
  cancelWait(id: number): boolean;
  /** Number of async waits pending in this thread's env (for tests and diagnostics). */
  pendingWaits(): number;

  /** kill(pid, 0) succeeds or fails with EPERM. */
  pidAlive(pid: number): boolean;
  /** Start time of `pid` in ms since the epoch, or null if no such process. */
  processStartTime(pid: number): number | null;
  /** Linux: prctl(PR_SET_PDEATHSIG, signal). Returns false where unsupported. */
  setParentDeathSignal(signal: number): boolean;
  getppid(): number;

  // Linux only (absent elsewhere): the forkserver's zygote (native/zygote_linux.cc).
  /**
   * fork() this process, heap included; 0 in the child (its loop re-armed), else its pid;
   * -2 (no fork) when SIGCHLD was taken over since zygoteWatchChildren. In the child,
   * `identity` (6 words) gets its pid, its parent's pid and 4 words of OS randomness.
   */
  zygoteFork?(identity?: Int32Array): number;
  /** From now on SIGCHLD bumps and wakes view[index]; false (nothing done) if SIGCHLD has a handler. */
  zygoteWatchChildren?(view: Int32Array, index: number): boolean;
  /**
   * [pid, code, ...] of the children among `pids` that ended (code -N: killed by signal N);
   * with `allBut`, also any other ended child but those (libuv's own).
   */
  zygoteReap?(pids: number[], allBut?: number[]): number[];
  /** libuv's count of requests in flight on this loop (fs, dns, zlib and crypto pool work, writes). */
  zygoteLoopRequests?(): number;
  /**
   * Start the zygote's reaper thread over the segment header (view[index]), `layout` giving
   * its word indexes (zygote.ts REAPER_LAYOUT); true if it runs.
   */
  zygoteStartReaper?(view: Int32Array, index: number, layout: Int32Array): boolean;
  /** Whether the reaper thread reaps (false once it met a child the zygote did not fork). */
  zygoteReaperRunning?(): boolean;
  /** The forked children the reaper thread has not reaped. */
  zygoteForkedPids?(): number[];
  /** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants become this process's children. */
  setChildSubreaper?(): boolean;
  /** _exit(code): leave without Node's teardown (a forked child must). */
  exitNow?(code: number): never;

  /**
   * Start this tree's resource tracker: a pipe plus a small forked process (double fork,
   * own session, signals ignored, every other fd closed) that reads lines
   * `R <name>\n` / `U <name>\n` and, on EOF (every write end closed, that is every
   * process of the tree gone however it died), shm_unlinks the names still registered.
   * Returns the write end (O_CLOEXEC) and the tracker's pid.
   */
  trackerStart(): { fd: number; pid: number };
  /**
   * The process's own tracker, one for all its threads: the first call adopts
   * `inheritedFd` (the parent's tracker, -1 for none) or starts one; later calls return it.
   */
  trackerShared(inheritedFd: number): TrackerState;
  /**
   * Start a new tracker in place of a dead one, when `generation` is still the current
   * one (else another thread did it already); the new pipe takes the same fd number.
   */
  trackerRestart(generation: number): TrackerState;
  /** Set FD_CLOEXEC on an inherited fd, so programs we exec do not inherit it. */
  fdSetCloexec(fd: number): void;
  /** Wait until `fd` is readable (or writable): bits 1 readable, 2 writable, 4 hang-up/error; 0 on timeout (-1 = forever). POSIX only. */
  fdPoll(fd: number, wantWrite: boolean, timeoutMs: number): number;
}

function load(): NativeBinding {
  // Testing knob: MP_ADDON_PATH names the .node file to load instead (npm run test:asan
  // points it at the sanitized build in build-asan/). Every process the library starts
  // inherits the environment, so the whole tree loads the same addon.
  const forced = process.env.MP_ADDON_PATH;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (forced) return require(path.resolve(forced)) as NativeBinding;
  // dist/native.js -> package root is one level up; node-gyp-build looks in
  // build/Release first, then prebuilds/<platform>-<arch>/.
  const root = path.join(__dirname, '..');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gypBuild = require('node-gyp-build') as (dir: string) => unknown;
  return gypBuild(root) as NativeBinding;
}

export const native: NativeBinding = load();
