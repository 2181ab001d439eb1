// The forkserver's zygote (Linux): a warm child that, instead of waiting for a job, forks
// warm children on the server's request. A fork costs about 1 ms where a Node boot costs
// about 100, so the server's pool refills as fast as starts take from it.
//
// The zygote runs V8 with --single-threaded (the server starts it so): a forked child has
// only the thread that called fork(), so nothing in it may wait for V8's background
// threads. It keeps no async wait pending and no libuv pool work in flight when it forks
// (it sleeps synchronously, on ZYGOTE_EVENTS), and it reaps its children itself: SIGCHLD
// bumps ZYGOTE_EVENTS, and each [pid, code] goes into the exit ring for the server to
// report. The child (see becomeForked) comes back from fork() with 0 and continues the
// warm child's life from the slot it was forked for.
import { EventEmitter } from 'node:events';
import { runAfterFork } from './after_fork.js';
import * as S from './forkserver_shared.js';
import { heapInUse } from './heap.js';
import { native } from './native.js';
import { hasFlag, nodeOptionsArgs } from './node_options.js';

const trace = S.tracer('zygote');

/** How long the zygote sleeps before it lets its event loop run (messages, preloads). */
const SLICE_MS = 100;
/** How long the zygote waits for a preload list the server said it sent. */
const LIST_WAIT_MS = 2000;

/** How long the zygote waits for async requests (fs, dns, zlib, crypto) to finish before a fork. */
const REQUESTS_WAIT_MS = 2000;
/** Set by zygote_watch.js (the zygote's first --require) when module.register() is called. */
export const HOOKS_REGISTERED = Symbol.for('multiprocessing.zygote.hooksRegistered');
/** Set by zygote_watch.js: which of Node's caches of random bytes the zygote filled. */
const RANDOM_CACHES_USED = Symbol.for('multiprocessing.zygote.randomCachesUsed');

/** Node flags that (may) register module hooks, which run on a thread of their own. */
const HOOK_FLAGS = ['--import', '--loader', '--experimental-loader'];

/**
 * Whether warm children can be forked: Linux (the addon has fork), MP_FORKSERVER_ZYGOTE
 * is not 0, and no module hooks: Node runs those on a thread of their own (tsx's, a
 * --loader's), which a forked child would lack, and its imports would wait for ever.
 */
export function zygoteAvailable(): boolean {
  if (typeof native.zygoteFork !== 'function' || typeof native.zygoteLoopRequests !== 'function' || process.env[S.ZYGOTE_ENV] === '0') return false;
  return !programHasFlag(HOOK_FLAGS);
}

/** Whether this program was given one of `flags`, on its command line or in NODE_OPTIONS. */
function programHasFlag(flags: readonly string[]): boolean {
  return hasFlag(process.execArgv, flags) || hasFlag(nodeOptionsArgs(), flags);
}

/** Each of S.ZYGOTE_FLAGS that a program may set itself, and its spellings. */
const CHOSEN_BY_PROGRAM: Record<string, readonly string[]> = {
  '--use-largepages=silent': ['--use-largepages'],
  '--no-short-builtin-calls': ['--short-builtin-calls', '--no-short-builtin-calls'],
};

/**
 * The zygote's Node flags, for the server to put last on its command line: S.ZYGOTE_FLAGS,
 * less those the program chose a value of (in execArgv or NODE_OPTIONS), which ours, last
 * on the command line, would override.
 */
export function zygoteFlags(): string[] {
  return S.ZYGOTE_FLAGS.filter((f) => CHOSEN_BY_PROGRAM[f] === undefined || !programHasFlag(CHOSEN_BY_PROGRAM[f]));
}

/**
 * Async requests in flight on the loop (they would finish in the zygote only): libuv's
 * count, which has the crypto pool work that Node's list of resources lacks.
 */
function requestsInFlight(): boolean {
  return native.zygoteLoopRequests!() > 0 || process.getActiveResourcesInfo().some((r) => /Req|Job$|Zlib/.test(r));
}

/**
 * Why this zygote cannot fork (safely) any more, or null: module hooks registered (their
 * thread stays behind), or shared objects made here (children would share its heap
 * state). SIGCHLD taken by libuv (a preloaded module started a process) is the other
 * reason, found by native zygoteWatchChildren/zygoteFork.
 */
function unfitReason(): string | null {
  if ((globalThis as Record<symbol, unknown>)[HOOKS_REGISTERED] === true) return 'module hooks registered';
  if (heapInUse()) return 'shared objects made in the zygote';
  return null;
}

/** Preload lists from the server, as they come (listened for from the zygote's start). */
export interface PreloadLists {
  /** Modules received and not imported yet. */
  readonly wanted: string[];
  /** Lists received. */
  received: number;
}

/** Set in a forked child: the zygote's listeners are not its own (removing them costs ~0.4 ms cold). */
let forked = false;

export function listenForPreloads(): PreloadLists {
  const lists: PreloadLists = { wanted: [], received: 0 };
  process.on('message', (m: S.ParentMessage) => {
    if (forked || m?.t !== 'preload' || !Array.isArray(m.modules)) return;
    lists.received++;
    lists.wanted.push(...m.modules.filter((x) => typeof x === 'string'));
  });
  return lists;
}

/**
 * Serve fork requests until this process is a forked child: then resolve the slot it was
 * forked for, how many preload lists it has, and the zygote's pid. `preload` imports the modules of the
 * server's lists between requests: no child is forked before every list the server sent
 * (PRELOAD_GEN) is imported. (A list sent during a fork makes that child stale: it sees
 * PRELOAD_GEN moved and leaves, see forkserver_child.ts.)
 */
export async function zygoteLoop(
  words: Int32Array,
  incoming: PreloadLists,
  preload: (modules: string[]) => Promise<void>,
): Promise<{ slot: number; lists: number; zygote: number }> {
  const { wanted } = incoming;
  const zygote = process.pid;
  let lists = 0; // imported
  let listDue = 0;
  /**
   * The children forked here and not reaped yet, the only ones this loop reaps: while the
   * reaper thread runs, it reaps them (and this stays empty); once it stopped, from here.
   */
  const children = new Set<number>();
  let reaperOn = false;
  const exits: number[] = [];
  let requestsDue = 0;
  // Unfit to fork (see unfitReason): it forks no more but stays, to reap its children
  // (its daemons would die with it), and the server boots warm children from then on.
  let retired = false;
  const retire = (reason: string) => {
    if (retired) return;
    retired = true;
    trace?.(`unfit: ${reason}`);
    process.send?.({ t: 'unfit' } satisfies S.WarmChildMessage, undefined, {}, () => {});
  };
  const reap = () => {
    if (reaperOn) {
      if (native.zygoteReaperRunning!()) return;
      // It met a child it did not fork (libuv's: the zygote is unfit now): ours from here.
      reaperOn = false;
      for (const pid of native.zygoteForkedPids!()) children.add(pid);
    }
    const ended = children.size === 0 ? [] : native.zygoteReap!([...children]);
    for (let k = 0; k < ended.length; k += 2) children.delete(ended[k]!);
    if (ended.length > 0) trace?.(`reaped ${ended.length / 2}`);
    exits.push(...fillCells(words, ended));
    if (exits.length > 0 && postExits(words, exits)) nudgeServer(words);
  };
  if (!native.zygoteWatchChildren!(words, S.ZYGOTE_EVENTS)) retire('SIGCHLD is taken (a process was started here)');
  else reaperOn = native.zygoteStartReaper?.(words, 0, REAPER_LAYOUT) === true;
  nudgeServer(words);
  for (;;) {
    const seen = Atomics.load(words, S.ZYGOTE_EVENTS);
    reap();
    if (retired) {
      // (SIGCHLD may be libuv's now: the slice bounds how late an exit is seen.)
      native.wait(words, S.ZYGOTE_EVENTS, seen, SLICE_MS);
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    if (wanted.length > 0) {
      const upTo = incoming.received;
      const reaper = setInterval(reap, 5); // exits are reported while a list imports
      try {
        await preload(wanted.splice(0));
      } finally {
        clearInterval(reaper);
      }
      lists = upTo;
      process.send?.({ t: 'ready', lists } satisfies S.WarmChildMessage, undefined, {}, () => {}); // alive after importing them
      continue;
    }
    const gen = Atomics.load(words, S.PRELOAD_GEN);
    if (lists !== gen) {
      // A list is on its way: take it before forking (but a lost one holds nothing up long).
      if (listDue === 0) listDue = Date.now() + LIST_WAIT_MS;
      if (Date.now() < listDue) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      lists = gen;
    }
    listDue = 0;
    const reason = unfitReason();
    if (reason !== null) {
      retire(reason);
      continue;
    }
    if (requestsInFlight()) {
      // A preloaded module's async work: let it finish here first (a child would wait for
      // it for ever: the thread pool work is the zygote's).
      if (requestsDue === 0) requestsDue = Date.now() + REQUESTS_WAIT_MS;
      if (Date.now() >= requestsDue) retire('async requests still in flight');
      else await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    requestsDue = 0;
    compileChildPath();
    for (let slot = 0; slot < S.SLOTS && !retired; slot++) {
      const state = S.slotWord(slot, S.STATE);
      if (Atomics.load(words, state) !== S.FORK || Atomics.load(words, S.slotWord(slot, S.PID)) !== 0) continue;
      let pid: number;
      const t0 = trace === null ? 0 : performance.now();
      try {
        pid = native.zygoteFork!(identity);
      } catch {
        // No process to spare now (EAGAIN, ENOMEM): the server sees the slot free again.
        Atomics.store(words, state, S.FREE);
        nudgeServer(words);
        continue;
      }
      if (pid === -2) {
        retire('SIGCHLD is taken (a process was started here)');
        break;
      }
      // (The zygote's pid, read before the fork: the child must die with it even if it
      // dies before the child arms its parent-death signal.)
      if (pid === 0) return { slot, lists, zygote };
      trace?.(`forked ${pid} in ${(performance.now() - t0).toFixed(2)} ms`);
      if (!reaperOn || !native.zygoteReaperRunning!()) children.add(pid);
      // The child waits for this before it goes on (so that this store cannot land late,
      // on a slot already given back and asked for again). The server reads the pid when
      // the child posts itself ready (or the exit ring has it): no wake of its own.
      Atomics.store(words, S.slotWord(slot, S.PID), pid);
      native.wake(words, S.slotWord(slot, S.PID), 1);
    }
    if (Atomics.load(words, S.ZYGOTE_EVENTS) === seen) {
      native.wait(words, S.ZYGOTE_EVENTS, seen, SLICE_MS);
      reap(); // an exit woke it, most likely: a join waits for its cell (not for the loop's turn below)
    }
    // Let messages in (a preload list; the channel closing is our parent-death signal's job).
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Where the reaper thread (zygote_reaper_linux.cc) finds things in the segment header. */
const REAPER_LAYOUT = Int32Array.of(
  S.EVENTS,
  S.EXIT_HEAD,
  S.EXIT_TAIL,
  S.EXITS_AT,
  S.EXIT_CAP,
  S.CELLS_AT,
  S.CELL_PIDS_AT,
  S.CELLS,
  S.EXITED,
  S.ZYGOTE_EVENTS,
  S.WATCHED,
);

/**
 * Write each ended child's code into the exit cell it holds, if any, and wake its parent.
 * Returns the exit ring's entries for them, [pid, ringCode, ...].
 */
function fillCells(words: Int32Array, ended: number[]): number[] {
  const entries: number[] = [];
  for (let k = 0; k < ended.length; k += 2) {
    const pid = ended[k]!;
    const code = ended[k + 1]!;
    let watched = false;
    for (let cell = 0; cell < S.CELLS; cell++) {
      if (Atomics.load(words, S.CELL_PIDS_AT + cell) !== pid) continue;
      Atomics.store(words, S.CELL_PIDS_AT + cell, 0);
      watched = (Atomics.exchange(words, S.CELLS_AT + cell, S.EXITED | (code & 0xffff)) & S.WATCHED) !== 0;
      native.wake(words, S.CELLS_AT + cell, 1);
      break;
    }
    entries.push(pid, S.ringCode(code, watched));
  }
  return entries;
}

/** Move what fits of `exits` ([pid, code, ...]) into the exit ring; true if any moved. */
function postExits(words: Int32Array, exits: number[]): boolean {
  let head = Atomics.load(words, S.EXIT_HEAD);
  const tail = Atomics.load(words, S.EXIT_TAIL);
  let moved = false;
  while (exits.length > 0 && head - tail < S.EXIT_CAP) {
    const at = S.EXITS_AT + 2 * (head % S.EXIT_CAP);
    Atomics.store(words, at, exits.shift()!);
    Atomics.store(words, at + 1, exits.shift()!);
    head = (head + 1) | 0;
    moved = true;
  }
  if (moved) Atomics.store(words, S.EXIT_HEAD, head);
  return moved;
}

/**
 * Call, harmlessly, the functions of Node's that each forked child calls on its way to its
 * job and out (EventEmitter's listener removal, process.exitCode's accessors and their
 * validator, process.nextTick, adding process listeners), so that V8 compiles them here
 * once and not in every child.
 * Run before each fork, not once: V8 may have marked one of them for optimization since
 * (the zygote's own calls), which the next call does, synchronously in a single-threaded V8:
 * here, instead of in every child (process.nextTick so marked cost each child ~0.5 ms).
 */
function compileChildPath(): void {
  const emitter = new EventEmitter();
  const listener = () => {};
  emitter.on('x', listener);
  emitter.removeListener('x', listener);
  emitter.on('x', listener);
  emitter.removeAllListeners('x');
  const code = process.exitCode;
  process.exitCode = 0;
  process.exitCode = code;
  process.nextTick(listener);
  // The child's bootstrap listens for these (removed at once: no event can come between).
  for (const event of ['uncaughtException', 'beforeExit'] as const) {
    process.on(event, listener);
    process.removeListener(event, listener);
  }
}

/** Written by zygoteFork in each child: its pid, its parent's pid, 4 words of seed. */
const identity = new Int32Array(6);

function nudgeServer(words: Int32Array): void {
  Atomics.add(words, S.EVENTS, 1);
  native.wake(words, S.EVENTS, 1);
}

// The functions below run once in every forked child. V8 compiles a function on its first
// call, which each child would pay for again (about 1 ms of a child's CPU all told): they
// are written as parenthesized function expressions, which V8 compiles when the file loads,
// in the zygote, whose children inherit the bytecode. (compileChildPath does the same for
// Node's own functions on a child's path.)

/**
 * Make a freshly forked child its own process: its pid, its own Math.random sequence,
 * and an exit that skips Node's teardown (it would join the zygote's threads).
 */
export const becomeForked = (function becomeForked(): void {
  forked = true;
  const [pid, ppid] = identity as unknown as [number, number];
  Object.defineProperty(process, 'pid', { value: pid, writable: false, enumerable: true, configurable: true });
  Object.defineProperty(process, 'ppid', { value: ppid, writable: true, enumerable: true, configurable: true });
  runAfterFork();
  reseedMathRandom(identity.subarray(2));
  drainRandomCaches();
  // The zygote's own flags, last on its command line (zygoteFlags): not for this process's
  // children. Taken from the end only: the program's own copy of one stays.
  const argv = process.execArgv;
  for (let k = S.ZYGOTE_FLAGS.length - 1; k >= 0; k--) if (argv.at(-1) === S.ZYGOTE_FLAGS[k]) argv.pop();
  for (let k = 0; k + 1 < argv.length; k++) {
    if (argv[k] === '--require' && argv[k + 1]!.endsWith('zygote_watch.js')) {
      argv.splice(k, 2);
      break;
    }
  }
  const exitNow = native.exitNow!;
  // process.exit() ends here, after its 'exit' listeners.
  (process as unknown as { reallyExit(code?: number): never }).reallyExit = (function reallyExit(code?: number): never {
    return exitNow(code ?? 0);
  });
  // The loop running dry emits 'exit' and then tears Node down: leave after the listeners.
  const emit = process.emit;
  process.emit = (function (this: NodeJS.Process, event: string | symbol, ...args: unknown[]): boolean {
    const result = (emit as (e: string | symbol, ...a: unknown[]) => boolean).call(this, event, ...args);
    if (event === 'exit') exitNow(typeof process.exitCode === 'number' ? process.exitCode : Number(args[0]) || 0);
    return result;
  }) as typeof process.emit;
  // The zygote's channel to the server is not this process's: close this copy before the
  // loop next polls (a message read here would be lost to the zygote). 'disconnect'
  // listeners a preloaded module left are the zygote's too.
  process.removeAllListeners('disconnect');
  if (process.connected) process.disconnect();
});

/**
 * crypto.randomInt and randomUUID draw from per-process caches of random bytes, copied by
 * fork: siblings would draw the same values until the caches refill. Use up the ones the
 * zygote filled (zygote_watch.js noted them; sizes in Node 20: 6 KiB, 1024 draws of
 * randomInt; 128 UUIDs). Unknown (no watcher ran): drain both.
 */
const drainRandomCaches = (function drainRandomCaches(): void {
  const used = (globalThis as Record<symbol, unknown>)[RANDOM_CACHES_USED] as { int: boolean; uuid: boolean } | undefined;
  if (used?.int === false && used.uuid === false) return; // (a cold require costs ~0.2 ms)
  const { randomInt, randomUUID } = require('node:crypto') as typeof import('node:crypto');
  if (used?.int !== false) for (let i = 0; i < 1024; i++) randomInt(0x7fffffffffff);
  if (used?.uuid !== false) for (let i = 0; i < 128; i++) randomUUID();
});

/**
 * Every forked child would draw the zygote's Math.random sequence (V8's generator state is
 * copied by fork, and V8 cannot be reseeded): replace it by xorshift128+ seeded from the
 * OS, as Python reseeds `random` after a fork.
 */
const reseedMathRandom = (function reseedMathRandom(seed: Int32Array): void {
  const s = new Uint32Array(seed);
  while ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) {
    // zygoteFork found no randomness (or an all-zero draw, which xorshift cannot use)
    (require('node:crypto') as typeof import('node:crypto')).randomFillSync(s);
  }
  let [a0, a1, b0, b1] = s as unknown as [number, number, number, number]; // state: a = (a1:a0), b = (b1:b0)
  const random = (function random(): number {
    // xorshift128+ on 32-bit halves: x = a, y = b; a = y; x ^= x << 23; x ^= x >>> 17;
    // x ^= y ^ (y >>> 26); b = x; result from (x + y).
    let x0 = a0;
    let x1 = a1;
    const y0 = b0;
    const y1 = b1;
    a0 = y0;
    a1 = y1;
    x1 = (x1 ^ ((x1 << 23) | (x0 >>> 9))) >>> 0;
    x0 = (x0 ^ (x0 << 23)) >>> 0;
    x0 = (x0 ^ ((x0 >>> 17) | (x1 << 15))) >>> 0;
    x1 = (x1 ^ (x1 >>> 17)) >>> 0;
    x0 = (x0 ^ y0 ^ ((y0 >>> 26) | (y1 << 6))) >>> 0;
    x1 = (x1 ^ y1 ^ (y1 >>> 26)) >>> 0;
    b0 = x0;
    b1 = x1;
    // 53 random bits of the 64-bit sum: its high 32 bits and 21 of the low ones.
    const lo = (x0 + y0) >>> 0;
    const hi = (x1 + y1 + (lo < x0 ? 1 : 0)) >>> 0;
    return (hi * 2097152 + (lo >>> 11)) / 9007199254740992;
  });
  Object.defineProperty(Math, 'random', { value: random, writable: true, enumerable: false, configurable: true });
});
