// The forkserver process (dist/forkserver_main.js): boots warm children into the slots of
// the shared segment (see forkserver_shared.ts), sizes the pool to demand, forwards the
// rare job too big for a mailbox, and reports the exit code of every child that was
// claimed. It lives as long as its parent: it exits when the parent's channel closes, and
// a parent-death signal covers a parent killed outright.
//
// Pool policy. Between `base` (2) and `cap` warm children (MP_FORKSERVER_POOL, else 4 per
// CPU, at most 16). The target grows to the number of starts seen within the last
// second (plus any start still waiting), so a program that starts N processes at once
// finds N warm ones the next time; it halves back toward `base` after IDLE_MS without a
// start. Refilling boots is background work: one boot at a time, begun REFILL_DELAY_MS
// after the latest start (so a short burst is not slowed by boots competing for the
// cores), except when a start is waiting or no warm child is left: then as many boots as
// CPUs. Forks from the zygote (Linux) cost about a millisecond: they refill at once.
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { availableParallelism, constants as osConstants } from 'node:os';
import * as path from 'node:path';
import * as S from './forkserver_shared.js';
import { native } from './native.js';
import { trackerForChild } from './resource_tracker.js';
import { signalExitcode } from './spawn.js';
import { zygoteAvailable, zygoteFlags } from './zygote.js';

const BOOTSTRAP = path.join(__dirname, 'bootstrap.js');
const TRACKER_CHILD_FD = 4;
const BURST_WINDOW_MS = 1000;
/** The code Python's forkserver reports when it cannot learn a child's status. */
const LOST = 255;
const REFILL_DELAY_MS = 20;
const IDLE_MS = (() => {
  const n = Number(process.env[S.IDLE_ENV]);
  return Number.isFinite(n) && n > 0 ? n : 10_000;
})();

const trace = S.tracer('server');
const segment = process.env[S.SEGMENT_ENV];
const cap = Number(process.env[S.POOL_ENV]);
const owner = Number(process.env[S.OWNER_ENV]);
const ownerInfo = process.env[S.OWNER_INFO_ENV];
// Children of the server must not see these.
delete process.env[S.SEGMENT_ENV];
delete process.env[S.POOL_ENV];
delete process.env[S.OWNER_ENV];
delete process.env[S.OWNER_INFO_ENV];

if (
  segment === undefined ||
  !Number.isInteger(cap) ||
  cap < 1 ||
  !Number.isInteger(owner) ||
  process.send === undefined
) {
  process.stderr.write('multiprocessing: forkserver_main.js is started by the library, not by hand\n');
  process.exit(1);
}

if (native.setParentDeathSignal(osConstants.signals.SIGKILL) && native.getppid() !== owner) process.exit(0);

const words = new Int32Array(native.shmAttach(segment).buffer, 0, S.mailboxOffset(0) / 4);
process.on('exit', () => {
  Atomics.store(words, S.GONE, 1);
  Atomics.add(words, S.READY_GEN, 1);
  native.wake(words, S.READY_GEN, 1 << 20);
  try {
    native.shmUnlink(segment);
  } catch {
    // the parent unlinked it first
  }
});

const cpus = Math.max(1, availableParallelism());
const base = Math.min(2, cap);
let target = base;

interface Warm {
  /** The booted child's handle; null for one forked by the zygote. */
  readonly child: ChildProcess | null;
  /** 0 until the zygote has written the pid of a forked child. */
  pid: number;
  /** The slot while the server holds it for this child; -1 once given back. */
  slot: number;
  /** booting/ready: in the pool; claimed: a parent took it (its exit is reported). */
  state: 'booting' | 'ready' | 'claimed' | 'retiring';
  /** The modules it imports before it is ready. */
  readonly preloads: readonly string[];
}

/** Every live child of the server, by pid. */
const children = new Map<number, Warm>();
/** Slot -> the child holding it. */
const slotOwner = new Map<number, Warm>();
/** Times of recent claims (the burst the pool grows toward). */
let claimTimes: number[] = [];
let lastClaim = 0;
const preloads: string[] = [];
/** Modules no longer preloaded: a warm child that imported them died while booting. */
const banned = new Set<string>();
/** Warm children in a row that died before they were ready (reset by a ready one). */
let bootDeaths = 0;
/** No boot before this time (backing off after boot deaths). */
let bootAfter = 0;
let closing = false;
let timer: NodeJS.Timeout | null = null;

/** The zygote that forks warm children (Linux), once `ready`; null while there is none. */
interface Zygote {
  proc: ChildProcess;
  ready: boolean;
  /** Modules it may be importing now (boot list, lists not confirmed): its death bans them. */
  importing: string[];
  /** The preload lists sent to it, in order. */
  readonly lists: string[][];
}
let zygote: Zygote | null = null;
/** Zygotes in a row that died (reset by a ready one), and no new one before this time. */
let zygoteDeaths = 0;
let zygoteAfter = 0;
/** The zygote found it cannot fork safely: warm children are booted from then on. */
let zygoteUnfit = false;

function send(message: S.ServerMessage): void {
  try {
    // With a callback: an EPIPE (the parent just went) is passed to it, not emitted as an
    // 'error' that would crash this process with a stack trace on the user's terminal.
    process.send!(message, undefined, {}, () => {});
  } catch {
    // the parent is gone; the disconnect handler ends this process
  }
}

function stateOf(slot: number): number {
  return Atomics.load(words, S.slotWord(slot, S.STATE));
}

function freeSlot(w: Warm): void {
  if (w.slot < 0) return;
  slotOwner.delete(w.slot);
  Atomics.store(words, S.slotWord(w.slot, S.STATE), S.FREE);
  w.slot = -1;
}

/** Bring the server's view up to date with the slots: claims, jobs taken. */
function scan(): number {
  let claims = 0;
  for (const w of slotOwner.values()) {
    let st = stateOf(w.slot);
    if (w.child === null && w.pid === 0) {
      const pid = Atomics.load(words, S.slotWord(w.slot, S.PID));
      if (pid !== 0) {
        w.pid = pid;
        children.set(pid, w);
      } else if (st === S.FREE) {
        // The zygote could not fork (no process to spare): back off as after a boot death.
        slotOwner.delete(w.slot);
        w.slot = -1;
        bootAfter = backoffAfter(++bootDeaths);
        continue;
      }
      st = stateOf(w.slot);
    }
    if (w.state !== 'claimed' && st !== S.BOOTING && st !== S.FORK && st !== S.READY && st !== S.RETIRED) {
      w.state = 'claimed';
      claims++;
    } else if (w.state === 'booting' && st === S.READY) w.state = 'ready';
    // Its job is out of the mailbox: the slot can take a new warm child.
    if (w.state === 'claimed' && st === S.TAKEN) freeSlot(w);
  }
  return claims;
}

function freeSlotIndex(): number {
  for (let s = 0; s < S.SLOTS; s++) {
    if (!slotOwner.has(s) && stateOf(s) === S.FREE) return s;
  }
  return -1;
}

/** Boot the bootstrap as a warm child (`role`: its slot, or "zygote"). */
function boot(role: string, list: readonly string[], execArgv: string[]): ChildProcess {
  const tracker = trackerForChild(TRACKER_CHILD_FD);
  const stdio: ('ignore' | 'inherit' | 'ipc' | number)[] = ['ignore', 'inherit', 'inherit', 'ipc'];
  if (tracker !== null) stdio.push(tracker.fd);
  const child = fork(BOOTSTRAP, [], {
    execArgv,
    stdio,
    serialization: 'advanced',
    env: {
      ...process.env,
      ...(tracker?.env ?? {}),
      [S.WARM_CHILD_ENV]: `${process.pid}:${role}:${segment}`,
      [S.PRELOAD_ENV]: JSON.stringify(list),
      ...(ownerInfo === undefined ? {} : { [S.OWNER_INFO_ENV]: ownerInfo }),
    },
  });
  child.on('error', () => {});
  const pid = child.pid;
  if (pid !== undefined) {
    started.add(pid);
    child.once('exit', () => started.delete(pid));
  }
  return child;
}

/** The children libuv started (booted here) and has not reaped yet: libuv's to reap. */
const started = new Set<number>();

/**
 * Start the zygote. V8 runs single-threaded there (and so in every child it forks): a
 * forked child has none of V8's background threads (zygote.ts). Its flags: zygoteFlags().
 */
function startZygote(): void {
  if (closing || zygote !== null || zygoteUnfit || !zygoteAvailable() || Date.now() < zygoteAfter) return;
  const list = [...preloads];
  Atomics.store(words, S.PRELOAD_GEN, 0); // lists sent to this zygote
  const watch = path.join(__dirname, 'zygote_watch.js'); // first: it sees every module.register()
  const proc = boot('zygote', list, ['--require', watch, ...process.execArgv, ...zygoteFlags()]);
  if (proc.pid === undefined) return;
  const z: Zygote = { proc, ready: false, importing: list, lists: [] };
  zygote = z;
  trace?.(`zygote ${proc.pid}`);
  proc.on('message', (m: S.WarmChildMessage) => {
    if (m?.t === 'unfit') {
      zygoteUnfit = true; // warm children are booted from now on; it stays to reap its own
      // Requests it will not serve now: their slots are free for boots.
      for (const w of [...slotOwner.values()]) {
        const stateWord = S.slotWord(w.slot, S.STATE);
        if (w.child !== null || w.pid !== 0 || Atomics.load(words, S.slotWord(w.slot, S.PID)) !== 0) continue;
        if (Atomics.compareExchange(words, stateWord, S.FORK, S.FREE) !== S.FORK) continue;
        slotOwner.delete(w.slot);
        w.slot = -1;
      }
      refresh();
      return;
    }
    if (m?.t !== 'ready') return;
    // Its boot list and the first `lists` lists are in: any later one may be importing.
    z.importing = z.lists.slice(typeof m.lists === 'number' ? m.lists : 0).flat();
    if (!z.ready) {
      z.ready = true;
      zygoteDeaths = 0;
    }
    refresh();
  });
  proc.once('exit', () => zygoteExited(z));
}

/**
 * The zygote died (killed, stuck importing, or it could not start): its warm children die
 * with it (their parent-death signal); those running jobs live on, reparented to this
 * process (a subreaper), which reaps them and reports their codes. Without a subreaper
 * nobody can learn those codes: they are reported lost, as Python's forkserver does.
 */
function zygoteExited(z: Zygote): void {
  if (zygote === z) zygote = null;
  // Learn the pids the zygote wrote since the last look (nothing wakes this process for a
  // fork or a ready post while the pool is full): a running child unknown here would be
  // reaped as an orphan and its exit never reported.
  scan();
  takeExits();
  for (const w of new Set([...slotOwner.values(), ...children.values()])) {
    if (w.child !== null) continue;
    if (w.slot >= 0) {
      const st = stateOf(w.slot);
      if (st === S.FORK || st === S.READY) {
        // Not claimed: never will be now (unless a parent's claim wins this race).
        if (Atomics.compareExchange(words, S.slotWord(w.slot, S.STATE), st, S.RETIRED) !== st) w.state = 'claimed';
      } else if (st !== S.RETIRED) w.state = 'claimed';
      freeSlot(w);
    }
    if (w.pid === 0) continue;
    if (subreaper) {
      orphans.add(w.pid); // ours to reap now (the warm ones die of their parent-death signal)
    } else {
      children.delete(w.pid);
      if (w.state === 'claimed') send({ t: 'exit', pid: w.pid, code: LOST });
    }
  }
  reapOrphans();
  if (closing) return;
  // It may have died of a module it imported (a process.exit() at its top level).
  if (!zygoteUnfit) banPreloads(z.importing);
  zygoteAfter = backoffAfter(++zygoteDeaths);
  refresh();
}

/**
 * Children of a dead zygote are reparented to this process (a child subreaper), so their
 * exit codes are still learnt; so are other orphans of the tree: a job's own children
 * left behind, and the memory holders of forked children that exited (zygote_linux.cc),
 * which are reaped only so that they do not stay zombies. Reaped as SIGCHLD comes, all
 * but the children libuv started and reaps by pid itself (the zygote, booted warm ones).
 */
const subreaper = zygoteAvailable() && native.setChildSubreaper?.() === true;
const orphans = new Set<number>();
if (subreaper) process.on('SIGCHLD', reapOrphans);

function reapOrphans(): void {
  const ended = native.zygoteReap!([...orphans], [...started]);
  for (let k = 0; k < ended.length; k += 2) {
    const pid = ended[k]!;
    orphans.delete(pid);
    const w = children.get(pid);
    if (w !== undefined && w.child === null) onChildExit(w, ended[k + 1]!);
  }
}

/**
 * Exits from the ring (pid -> its ringCode) whose pid this process has not learnt yet (the
 * zygote reaped a child before a scan read its pid from the slot): matched after the next scan.
 */
const unmatchedExits = new Map<number, number>();

/** Report the exits the zygote put in the exit ring. */
function takeExits(): void {
  // Copied out and consumed first: reporting can re-enter (onChildExit -> refresh).
  const head = Atomics.load(words, S.EXIT_HEAD);
  for (let tail = Atomics.load(words, S.EXIT_TAIL); tail !== head; tail = (tail + 1) | 0) {
    const at = S.EXITS_AT + 2 * (tail % S.EXIT_CAP);
    unmatchedExits.set(Atomics.load(words, at), Atomics.load(words, at + 1));
  }
  Atomics.store(words, S.EXIT_TAIL, head);
  matchExits();
}

function matchExits(): void {
  for (const [pid, code] of unmatchedExits) {
    const w = children.get(pid);
    if (w === undefined) continue;
    unmatchedExits.delete(pid);
    onChildExit(w, S.cellCode(code), (code & S.WATCHED) !== 0);
  }
  // Forget exits nobody here will claim (a stale entry, a pid of a dead zygote's reaping).
  if (unmatchedExits.size > 4 * S.SLOTS) unmatchedExits.delete(unmatchedExits.keys().next().value!);
}

/** Ask the zygote for a warm child in a free slot. */
function forkWarm(): boolean {
  const slot = freeSlotIndex();
  if (slot < 0) return false;
  Atomics.store(words, S.slotWord(slot, S.PID), 0);
  if (Atomics.compareExchange(words, S.slotWord(slot, S.STATE), S.FREE, S.FORK) !== S.FREE) return false;
  const w: Warm = { child: null, pid: 0, slot, state: 'booting', preloads: [] };
  slotOwner.set(slot, w);
  Atomics.add(words, S.ZYGOTE_EVENTS, 1);
  native.wake(words, S.ZYGOTE_EVENTS, 1);
  return true;
}

function killWarm(w: Warm): void {
  if (w.child !== null) w.child.kill('SIGKILL');
  else if (w.pid > 0) {
    try {
      process.kill(w.pid, 'SIGKILL');
    } catch {
      // gone already: the zygote reports it
    }
  }
}

function startWarm(): boolean {
  // Booting is for when there is no zygote (not Linux, or it died and waits to restart).
  if (zygote !== null && !zygoteUnfit) return zygote.ready && forkWarm();
  const slot = freeSlotIndex();
  if (slot < 0) return false;
  const stateWord = S.slotWord(slot, S.STATE);
  if (Atomics.compareExchange(words, stateWord, S.FREE, S.BOOTING) !== S.FREE) return false;
  const list = [...preloads];
  const child = boot(String(slot), list, process.execArgv);
  const pid = child.pid;
  if (pid === undefined) {
    Atomics.store(words, stateWord, S.FREE);
    return false;
  }
  const w: Warm = { child, pid, slot, state: 'booting', preloads: list };
  trace?.(`boot ${pid}`);
  children.set(pid, w);
  slotOwner.set(slot, w);
  child.on('message', (m: S.WarmChildMessage) => {
    if (m?.t === 'ready') {
      trace?.(`ready ${pid}`);
      bootDeaths = 0;
      refresh();
    }
  });
  child.once('exit', (code, signal) => onChildExit(w, code ?? (signal === null ? 1 : signalExitcode(signal))));
  return true;
}

/** `watched`: its parent has the code from its exit cell (S.WATCHED): no report over IPC. */
function onChildExit(w: Warm, status: number, watched = false): void {
  trace?.('child-exit');
  children.delete(w.pid);
  if (w.slot >= 0) {
    let st = stateOf(w.slot);
    // Died warm: take the slot back, unless a parent claims it at this very moment (then
    // the parent waits for this exit code).
    if (st === S.READY) st = Atomics.compareExchange(words, S.slotWord(w.slot, S.STATE), S.READY, S.FREE);
    if (st === S.BOOTING || st === S.FORK) bootDied(w);
    else if (st !== S.READY && st !== S.RETIRED) w.state = 'claimed';
    freeSlot(w);
  }
  if (w.state === 'claimed' && !watched) send({ t: 'exit', pid: w.pid, code: status });
  refresh();
}

/**
 * A warm child died before it was ready: one of the modules it imported may end the
 * process (a process.exit() at its top level), or node cannot start at all. Preload those
 * modules no more, and back off before the next boot.
 */
function bootDied(w: Warm): void {
  if (closing) return;
  banPreloads(w.preloads);
  bootAfter = backoffAfter(++bootDeaths);
}

/** When to try again after `failures` failed starts in a row: 50 ms, doubling, at most 5 s. */
function backoffAfter(failures: number): number {
  return Date.now() + Math.min(5000, 25 * 2 ** failures);
}

/** Preload these modules no more. */
function banPreloads(modules: readonly string[]): void {
  for (const m of modules) banned.add(m);
  const keep = preloads.filter((m) => !banned.has(m));
  preloads.length = 0;
  preloads.push(...keep);
}

/**
 * New modules to preload: the zygote imports them before its next fork, and the warm
 * children it forked without them make way (a fork costs little), so the next start has them.
 */
function preloadInZygote(z: Zygote, modules: string[]): void {
  z.proc.send({ t: 'preload', modules } satisfies S.ParentMessage, () => {});
  z.lists.push(modules);
  z.importing.push(...modules);
  Atomics.add(words, S.PRELOAD_GEN, 1);
  scan();
  for (const w of slotOwner.values()) {
    // Forked already (its pid written), not claimed: it lacks them.
    if (w.child !== null || w.pid === 0 || (w.state !== 'ready' && w.state !== 'booting')) continue;
    const stateWord = S.slotWord(w.slot, S.STATE);
    const st = Atomics.load(words, stateWord);
    if ((st === S.READY || st === S.FORK) && Atomics.compareExchange(words, stateWord, st, S.RETIRED) === st) retire(w);
  }
}

/** End a warm child whose slot we marked RETIRED; it counts in the pool until it is gone. */
function retire(w: Warm): void {
  w.state = 'retiring';
  killWarm(w);
}

function counts(): { ready: number; booting: number } {
  let ready = 0;
  let booting = 0;
  for (const w of slotOwner.values()) {
    if (w.state === 'ready') ready++;
    else if (w.state === 'booting' || w.state === 'retiring') booting++;
  }
  return { ready, booting };
}

/** Give back warm children beyond the target (newest slots last in, first out). */
function retireExtra(): void {
  let { ready, booting } = counts();
  for (const w of [...slotOwner.values()].reverse()) {
    if (ready + booting <= target) break;
    if (w.state !== 'ready') continue;
    const stateWord = S.slotWord(w.slot, S.STATE);
    if (Atomics.compareExchange(words, stateWord, S.READY, S.RETIRED) !== S.READY) continue;
    retire(w);
    ready--;
  }
}

function schedule(ms: number): void {
  if (closing) return;
  if (timer !== null) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    refresh();
  }, ms);
  timer.unref();
}

let refreshing = false;
let refreshAgain = false;

/** Re-read the slots, adjust the pool's target and start boots as the policy allows. */
function refresh(): void {
  // Not re-entered (an exit reported from inside calls it again): run once more after.
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      refreshOnce();
    } while (refreshAgain);
  } finally {
    refreshing = false;
  }
}

function refreshOnce(): void {
  if (closing) return;
  takeExits();
  startZygote();
  const now = Date.now();
  const claims = scan();
  matchExits(); // pids the scan just learnt
  if (claims > 0) {
    lastClaim = now;
    for (let i = 0; i < claims; i++) claimTimes.push(now);
  }
  claimTimes = claimTimes.filter((t) => now - t < BURST_WINDOW_MS);
  const waiting = Atomics.load(words, S.WAITING);
  target = Math.min(cap, Math.max(target, base, claimTimes.length + waiting));
  if (target > base && now - lastClaim >= IDLE_MS) {
    target = Math.max(base, Math.ceil(target / 2));
    lastClaim = now; // the next halving after another idle period
    retireExtra();
  }
  let { ready, booting } = counts();
  const urgent = waiting > 0 || ready === 0;
  const quiet = now - lastClaim >= REFILL_DELAY_MS;
  // A fork costs a millisecond or so of the zygote's time: refill at once, whatever the
  // burst (the zygote forks one at a time). A boot costs a whole Node start: hold back.
  const forking = zygote?.ready === true;
  const concurrency = now < bootAfter ? 0 : urgent || forking ? cpus : quiet ? 1 : 0;
  while (ready + booting < target && booting < concurrency && startWarm()) booting++;
  if (ready + booting < target && booting === 0 && concurrency === 0) {
    schedule(now < bootAfter ? bootAfter - now : REFILL_DELAY_MS - (now - lastClaim));
  } else if (target > base) schedule(Math.max(1, IDLE_MS - (now - lastClaim)));
}

process.on('message', (m: S.ParentMessage) => {
  if (m.t !== 'preload') return;
  // For the warm children booted or forked from now on (those ready already stay as they are).
  const fresh = m.modules.filter((x) => typeof x === 'string' && !banned.has(x) && !preloads.includes(x));
  preloads.push(...fresh);
  if (fresh.length > 0 && zygote !== null && !zygoteUnfit) {
    preloadInZygote(zygote, fresh);
    refresh();
  }
});

// The parent is gone: warm children go with us; children running jobs live on (daemons
// among them die of their parent-death signal).
process.on('disconnect', () => {
  closing = true;
  scan();
  for (const w of slotOwner.values()) {
    if (w.state === 'claimed') continue;
    const stateWord = S.slotWord(w.slot, S.STATE);
    if (w.state === 'ready' && Atomics.compareExchange(words, stateWord, S.READY, S.RETIRED) !== S.READY) continue;
    killWarm(w);
  }
  zygote?.proc.kill('SIGKILL');
  process.exit(0);
});

/** The parent's claims and waits wake this up (EVENTS). */
async function watchParent(): Promise<void> {
  let seen = Atomics.load(words, S.EVENTS);
  for (;;) {
    await native.waitAsync(1, words, S.EVENTS, seen, Infinity);
    seen = Atomics.load(words, S.EVENTS);
    refresh();
  }
}

refresh();
void watchParent();
