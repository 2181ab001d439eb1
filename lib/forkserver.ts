// The forkserver start method, the parent's side.
//
// Node cannot fork() a running runtime, so "forkserver" here means what Python's gives a
// program: start() hands a target to a clean process that is already running, instead of
// booting one. A server process (dist/forkserver_main.js, started once per parent, not
// from the user's process afterwards) keeps a pool of warm children, sized to demand:
// Node booted, the bootstrap and the library loaded, the modules of earlier targets
// imported, waiting. Each child runs one target only and ends (it stays clean); the server
// boots its replacement. Booting one costs a whole Node start, so a long run of starts
// beyond the pool goes at the boot rate (boot time / CPUs), not at the warm rate.
//
// start() must be synchronous and know the pid on return. The segment shared by the three
// kinds of process (layout in forkserver_shared.ts) makes that cheap: a warm child posts
// itself READY in its slot; start() claims a slot with a compareExchange (sleeping on a
// futex word only when none is ready), writes the job into the slot's mailbox and wakes
// the child, which is waiting on that slot. Neither the server nor the event loop is on
// that path. The server, the child's OS parent, reports the child's exit code over IPC.
// The parent also tells the server which modules its targets come from (once each): the
// warm children booted afterwards import them before they are ready.
import { type ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as v8 from 'node:v8';
import { forkserverPreloads, onForkserverPreload } from './context.js';
import { ProcessError } from './errors.js';
import * as S from './forkserver_shared.js';
import { WaitGroup, waitAsync } from './futex.js';
import { native } from './native.js';
import { currentProcess } from './process.js';
import { createTrackedSegment, trackerForChild, unregister } from './resource_tracker.js';
import { BasePopen, type ChildJob, childExecArgv, type LaunchOptions, registerLauncher, spawnFailed } from './spawn.js';
import { mainModule, type TargetRef } from './targets.js';

const SERVER_SCRIPT = path.join(__dirname, 'forkserver_main.js');
const TRACKER_CHILD_FD = 4;
/** How long start() waits for a warm child before giving up. */
const CLAIM_TIMEOUT_MS = 60_000;
/** Sleep slice while waiting, to notice a dead server. */
const SLICE_MS = 100;
/** The code Python's forkserver reports when it cannot learn a child's status. */
const LOST = 255;
/** Most module URLs the server is asked to preload (the first ones win). */
const MAX_PRELOADS = 32;

const trace = S.tracer('parent');

/** Most warm processes the server keeps: MP_FORKSERVER_POOL, else 4 per CPU (4 to 16). */
export function poolCap(): number {
  const fromEnv = Number(process.env[S.POOL_ENV]);
  if (Number.isInteger(fromEnv) && fromEnv >= 1 && fromEnv <= 16) return fromEnv;
  const { availableParallelism } = require('node:os') as typeof import('node:os');
  return Math.min(16, Math.max(4, 4 * availableParallelism()));
}

/** The module a warm child should import ahead of time for `ref` (its most likely home). */
function homeOf(ref: TargetRef | { candidates: string[] } | null): string | undefined {
  if (ref === null) return undefined;
  let m: string | undefined;
  if ('kind' in ref) {
    if (ref.kind === 'export') m = ref.module;
    else if (ref.kind === 'auto') m = ref.candidates[0];
  } else m = ref.candidates[0];
  if (m === undefined) return undefined;
  if (m.startsWith('file:')) return m;
  return path.isAbsolute(m) ? pathToFileURL(m).href : undefined;
}

/** What warm children need to import modules as a child of this process would. */
function ownerInfo(name: string): string {
  const info = { main: mainModule() ?? null, argv: process.argv as string[] | undefined, name, pid: process.pid };
  let text = JSON.stringify(info);
  // One environment string is limited (128 KiB on Linux): a huge argv waits for the job.
  if (text.length > 64 * 1024) {
    info.argv = undefined;
    text = JSON.stringify(info);
  }
  return text;
}

class Server {
  readonly proc: ChildProcess;
  readonly pid: number;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly buffer: ArrayBuffer;
  private segment: string | null;
  /** Reasons to keep the event loop alive: live non-daemon children and pending waits. */
  private holds = 0;
  /** Where the next claim starts looking (round robin over the slots). */
  private next = 0;
  /** Modules the server was asked to preload. */
  private readonly preloads = new Set<string>();
  readonly popens = new Map<number, ForkserverPopen>();
  /** Exit cells not given to a live child. */
  private readonly freeCells = Array.from({ length: S.CELLS }, (_, i) => S.CELLS - 1 - i);
  dead = false;

  constructor() {
    const { name, buffer } = createTrackedSegment(S.SEGMENT_BYTES);
    this.segment = name;
    this.buffer = buffer;
    this.words = new Int32Array(buffer, 0, S.mailboxOffset(0) / 4);
    this.bytes = new Uint8Array(buffer);
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
        [S.SEGMENT_ENV]: name,
        [S.POOL_ENV]: String(poolCap()),
        [S.OWNER_ENV]: String(process.pid),
        [S.OWNER_INFO_ENV]: ownerInfo(currentProcess().name),
      },
    });
    proc.on('error', () => {});
    if (proc.pid === undefined) {
      this.dropSegment();
      throw spawnFailed('could not start the forkserver process');
    }
    this.proc = proc;
    this.pid = proc.pid;
    proc.on('message', (m: S.ServerMessage) => this.onMessage(m));
    proc.once('exit', () => this.onExit());
    // The server lives as long as this process; it never keeps it alive by itself.
    proc.unref();
    proc.channel?.unref();
  }

  /** The name stays while the server may start warm children (they map it by name). */
  private dropSegment(): void {
    if (this.segment === null) return;
    dropSegment(this.segment); // (the server may have unlinked it as it exited)
    this.segment = null;
  }

  private onMessage(m: S.ServerMessage): void {
    if (m.t === 'exit') {
      trace?.('exit-report');
      const popen = this.popens.get(m.pid);
      this.popens.delete(m.pid);
      popen?.serverReported(m.code);
    }
  }

  private onExit(): void {
    this.dead = true;
    if (server === this) server = null;
    // Every child first (ending one gives its exit cell back, in the mapping), then the mapping.
    for (const popen of this.popens.values()) popen.serverReported(LOST);
    this.popens.clear();
    this.dropSegment();
    native.shmClose(this.buffer);
  }

  hold(delta: 1 | -1): void {
    this.holds += delta;
    if (this.dead) return;
    if (delta > 0 && this.holds === 1) this.proc.channel?.ref();
    else if (this.holds === 0) this.proc.channel?.unref();
  }

  private nudge(): void {
    Atomics.add(this.words, S.EVENTS, 1);
    native.wake(this.words, S.EVENTS, 1);
  }

  /** A ready slot, now ours, and the pid of its child. Blocks while none is ready. */
  claim(): { slot: number; pid: number } {
    const w = this.words;
    const deadline = Date.now() + CLAIM_TIMEOUT_MS;
    let waiting = false;
    try {
      for (;;) {
        const gen = Atomics.load(w, S.READY_GEN);
        for (let k = 0; k < S.SLOTS; k++) {
          const slot = (this.next + k) % S.SLOTS;
          const i = S.slotWord(slot, S.STATE);
          if (Atomics.load(w, i) === S.READY && Atomics.compareExchange(w, i, S.READY, S.CLAIMED) === S.READY) {
            this.next = (slot + 1) % S.SLOTS;
            return { slot, pid: Atomics.load(w, S.slotWord(slot, S.PID)) };
          }
        }
        if (this.dead || Atomics.load(w, S.GONE) !== 0 || this.proc.exitCode !== null || this.proc.signalCode !== null) {
          throw new ProcessError('the forkserver process has died; the next start() starts a new one');
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new ProcessError('no warm process became ready within 60 s (forkserver)');
        if (!waiting) {
          // Tell the server someone waits: it boots at full speed until this start has one.
          waiting = true;
          Atomics.add(w, S.WAITING, 1);
          this.nudge();
        }
        native.wait(w, S.READY_GEN, gen, Math.min(SLICE_MS, left));
      }
    } finally {
      if (waiting) Atomics.sub(w, S.WAITING, 1);
    }
  }

  launch(job: ChildJob, options: LaunchOptions): ForkserverPopen {
    trace?.('claim');
    // A daemon's watchdog is the server, its OS parent (armed again from the job).
    const cell = this.freeCells.pop() ?? -1;
    const full: ChildJob = { ...job, watchPid: this.pid, exitCell: cell };
    let data: Buffer;
    try {
      data = v8.serialize(full);
    } catch (err) {
      this.freeCell(cell);
      throw new TypeError(`cannot send the process's arguments to the child: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // Too big for the mailbox: in a segment of its own (made before a child is claimed, so
    // that a full /dev/shm fails the start cleanly), which the child unlinks.
    let jobSegment: string | null = null;
    let claimed: { slot: number; pid: number };
    try {
      if (data.length > S.MAILBOX_BYTES) jobSegment = jobSegmentOf(data);
      claimed = this.claim();
    } catch (err) {
      if (jobSegment !== null) dropSegment(jobSegment);
      this.freeCell(cell);
      throw err;
    }
    const { slot, pid } = claimed;
    trace?.('claimed');
    const w = this.words;
    const state = S.slotWord(slot, S.STATE);
    const popen = new ForkserverPopen(this, pid, options.daemon, cell);
    this.popens.set(pid, popen);
    const mail = jobSegment === null ? data : Buffer.from(jobSegment, 'latin1');
    this.bytes.set(mail, S.mailboxOffset(slot));
    Atomics.store(w, S.slotWord(slot, S.LEN), mail.length);
    const posted = jobSegment === null ? S.JOB : S.JOB_SHM;
    // Fails only when the child died since the claim: the server reports its exit.
    if (Atomics.compareExchange(w, state, S.CLAIMED, posted) === S.CLAIMED) native.wake(w, state, 1);
    else if (jobSegment !== null) dropSegment(jobSegment);
    trace?.('posted');
    // Watched only now: arming a wait wakes the addon's waiter thread, which on a busy
    // machine ran before the child was woken (~0.1-0.2 ms of every start).
    popen.watchIfOwned();
    // The server learns of the claim (to grow the pool and refill) after the child has its
    // job, and of the modules to preload before that (the refill should have them). Woken
    // only when the pool runs low (S.LOW_POOL): a wake costs this start ~0.1 ms, and the
    // server sees the claim at its next event anyway (the slot stays TAKEN until it looks).
    this.learn(job);
    if (S.readyCount(this.words) < S.LOW_POOL) this.nudge();
    return popen;
  }

  /**
   * Mark a cell WATCHED: its child's parent watches it until the child ends (a non-daemon
   * child keeps this process alive meanwhile anyway), so the server does not report that
   * exit over IPC too.
   */
  markWatched(cell: number): void {
    Atomics.store(this.words, S.CELLS_AT + cell, S.WATCHED);
  }

  /** Give a cell back (its child ended, or never started). */
  freeCell(cell: number): void {
    if (cell < 0 || this.dead) return; // (a dead server's segment may be unmapped)
    Atomics.store(this.words, S.CELL_PIDS_AT + cell, 0);
    Atomics.store(this.words, S.CELLS_AT + cell, 0);
    this.freeCells.push(cell);
  }

  /**
   * Resolve with the exit code the zygote wrote to a forked child's exit cell as it reaped
   * it; null if `watch` ends first (or the server goes: its exit reports the child).
   */
  async exitOf(cell: number, watch: WaitGroup): Promise<number | null> {
    const w = this.words;
    const index = S.CELLS_AT + cell;
    for (;;) {
      if (this.dead) return null; // its exit reported every child; the segment may be unmapped
      const v = Atomics.load(w, index);
      if ((v & S.EXITED) !== 0) {
        trace?.('exit-cell');
        return S.cellCode(v);
      }
      if (watch.ended) return null;
      // No timeout: a non-daemon child's cell is watched for its whole life, and the
      // server's death ends the watch (onExit reports every child).
      await waitAsync(w, index, v, Infinity, undefined, watch);
    }
  }

  /** Ask the server to have warm children import the modules of this job's target. */
  private learn(job: ChildJob): void {
    this.preload([homeOf(job.target), homeOf(job.instance), ...Object.values(job.methods ?? {}).map(homeOf)]);
  }

  /** Have warm children import these module URLs (those not asked for yet). */
  preload(modules: readonly (string | undefined)[]): void {
    const fresh: string[] = [];
    for (const m of modules) {
      if (m === undefined || this.preloads.has(m) || this.preloads.size >= MAX_PRELOADS) continue;
      this.preloads.add(m);
      fresh.push(m);
    }
    if (fresh.length > 0) this.proc.send({ t: 'preload', modules: fresh } satisfies S.ParentMessage);
  }
}

let server: Server | null = null;

/** A new segment holding `data` (its length as a float64, then the bytes); its name. */
function jobSegmentOf(data: Buffer): string {
  const { name, buffer } = createTrackedSegment(8 + data.length);
  try {
    new DataView(buffer).setFloat64(0, data.length, true);
    new Uint8Array(buffer, 8).set(data);
  } finally {
    native.shmClose(buffer);
  }
  return name;
}

/** Unlink and forget a segment of ours (gone already is fine). */
function dropSegment(name: string): void {
  try {
    native.shmUnlink(name);
  } catch {
    // already gone
  }
  unregister(name);
}

class ForkserverPopen extends BasePopen {
  readonly method = 'forkserver' as const;
  readonly pid: number;
  private readonly server: Server;
  private readonly daemon: boolean;
  /** Its exit cell (-1: none); the watch on it runs while someone waits for the child. */
  private cell: number;
  /** (A WaitGroup, not an AbortController: ~20 us less per start, ~80 us while cold.) */
  private watch: WaitGroup | null = null;

  constructor(server: Server, pid: number, daemon: boolean, cell: number) {
    super();
    this.server = server;
    this.pid = pid;
    this.daemon = daemon;
    this.cell = cell;
    // A non-daemon child keeps this process alive until it ends, and its exit cell (marked
    // WATCHED at launch) is watched all that time; a daemon's only while someone waits.
    if (!daemon) {
      server.hold(1);
      // (Marked before the job is posted: the zygote reads the mark as it fills the cell.)
      if (cell >= 0) server.markWatched(cell);
    }
  }

  /** Once the job is posted: a non-daemon child's cell is watched for the child's life. */
  watchIfOwned(): void {
    if (!this.daemon && this.cell >= 0 && this.watch === null && this.exitcode === null) this.watchCell();
  }

  /** Watch the exit cell until the child ends (or the watch is dropped). */
  private watchCell(): void {
    const watch = new WaitGroup();
    this.watch = watch;
    void this.server.exitOf(this.cell, watch).then((code) => {
      if (code !== null && this.exitcode === null) this.end(code);
    });
  }

  serverReported(code: number): void {
    if (this.exitcode !== null) return;
    this.end(code);
  }

  private end(code: number): void {
    // Forgotten by the server object at once: the IPC report still to come for this pid
    // must not end a later child that got the same pid.
    if (this.server.popens.get(this.pid) === this) this.server.popens.delete(this.pid);
    this.ended(code);
    this.watch?.end();
    this.watch = null;
    this.server.freeCell(this.cell);
    this.cell = -1;
    if (!this.daemon) this.server.hold(-1);
  }

  protected holdLoop(hold: boolean): void {
    this.server.hold(hold ? 1 : -1);
    if (!this.daemon) return; // its watch runs until it ends
    if (hold && this.cell >= 0 && this.watch === null) this.watchCell();
    else if (!hold) {
      this.watch?.end();
      this.watch = null;
    }
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
  if (server === null || server.dead) {
    server = new Server();
    server.preload(forkserverPreloads());
  }
  return server.launch(job, options);
});

onForkserverPreload((urls) => server?.preload(urls));
