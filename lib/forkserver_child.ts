// A forkserver's warm child: what dist/bootstrap.js runs, instead of waiting for a job on
// its channel, when the server started it (see forkserver.ts for the whole scheme). Loaded
// only there, so a spawned child loads none of this.
import { forceStartMethod } from './context.js';
import {
  BOOTING,
  CELL_PIDS_AT,
  CELLS,
  CLAIMED,
  EVENTS,
  FORK,
  JOB,
  JOB_SHM,
  LEN,
  LOW_POOL,
  mailboxOffset,
  OWNER_INFO_ENV,
  PID,
  PRELOAD_ENV,
  PRELOAD_GEN,
  READY,
  READY_GEN,
  readyCount,
  RETIRED,
  STATE,
  slotWord,
  TAKEN,
  tracer,
  type WarmChildMessage,
} from './forkserver_shared.js';
import { adoptAsCurrent, endChildren, enterChild, importingTarget } from './process.js';
import { fromWire } from './reduction.js';
import type { ChildJob } from './spawn.js';
import { resolveTarget, setMainModule, type TargetRef } from './targets.js';

const trace = tracer('child');

/** What the bootstrap lends: its parent-death guard and its way to run a job. */
export interface BootstrapHooks {
  /** Die with `watchPid`; returns the function that disarms it. */
  armParentDeath(watchPid: number): () => void;
  onJob(job: ChildJob): void;
}

/** How long a warm child waits for its preloads before it is ready anyway. */
const PRELOAD_WAIT_MS = 1000;
/** How long a zygote waits for its preloads before it gives up (and exits ZYGOTE_STUCK). */
const ZYGOTE_PRELOAD_MS = 10_000;
const ZYGOTE_STUCK = 75;

/**
 * Import the modules earlier targets came from, in order, with the entry-module guard
 * armed as when a job imports them: a module that starts processes at its top level fails
 * here, and again (the same error, from the module cache) in the job that needs it. Any
 * failure waits for a job that needs the module, which reports it.
 */
async function preload(modules: readonly unknown[]): Promise<void> {
  for (const m of modules) {
    if (typeof m !== 'string') continue;
    try {
      await importingTarget(m, () => import(m));
    } catch (err) {
      trace?.(`preload failed ${m}: ${String(err)}`);
      // reported by the job that imports it, if any
    }
  }
}

/** Preload, but go on after PRELOAD_WAIT_MS (a warm child waiting for its job). */
async function preloadAWhile(modules: readonly unknown[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([preload(modules), new Promise((resolve) => (timer = setTimeout(resolve, PRELOAD_WAIT_MS)))]);
  clearTimeout(timer);
}

/** Preload all of it, or exit (a zygote: the server then stops preloading these). */
async function zygotePreload(modules: readonly unknown[]): Promise<void> {
  const timer = setTimeout(() => process.exit(ZYGOTE_STUCK), ZYGOTE_PRELOAD_MS);
  await preload(modules);
  clearTimeout(timer);
}

/**
 * Run what a job's start runs, on a sample, so V8 has compiled it (it compiles a function
 * on its first call) before a start waits for it.
 */
async function rehearse(v8: typeof import('node:v8')): Promise<void> {
  try {
    const target: TargetRef = { kind: 'source', source: '(x) => x', name: '' };
    const sample = v8.deserialize(v8.serialize({ v: 1, target, args: [1, 'a', { b: [2] }], authkey: new Uint8Array(32) }));
    fromWire(sample.args);
    const fn = await resolveTarget(sample.target);
    await adoptAsCurrent(null, fn, [0]).run();
    await endChildren();
  } catch {
    // only a rehearsal
  }
}

interface OwnerInfo {
  main?: string | null;
  argv?: string[];
  name?: string;
  pid?: number;
}

/**
 * Boot as a forkserver's warm child (`spec` = "<server pid>:<slot>:<segment>"): load the
 * library and the modules earlier targets came from, post this process READY in its slot,
 * and wait there for a parent to claim it and write its job into the slot's mailbox.
 */
export async function warm(spec: string, hooks: BootstrapHooks): Promise<void> {
  const { armParentDeath, onJob } = hooks;
  const [serverText, slotText, ...rest] = spec.split(':');
  const serverPid = Number(serverText);
  const segment = rest.join(':');
  // Dies with the server until a job says otherwise.
  const disarm = armParentDeath(serverPid);
  const forked = slotText === 'zygote';
  // A zygote takes preload lists from its start (the server sends them as they come).
  const zygoteApi = forked ? (require('./zygote.js') as typeof import('./zygote.js')) : null;
  const lists = zygoteApi?.listenForPreloads() ?? null;
  const env = process.env;
  let modules: unknown[] = [];
  let info: OwnerInfo = {};
  try {
    modules = JSON.parse(env[PRELOAD_ENV] ?? '[]') as unknown[];
    info = JSON.parse(env[OWNER_INFO_ENV] ?? '{}') as OwnerInfo;
  } catch {
    // preload nothing
  }
  delete env[PRELOAD_ENV];
  delete env[OWNER_INFO_ENV];

  // The ESM face of the library: loading it also readies the ESM loader (and any loader
  // hooks from execArgv), which a job's first import() would otherwise pay for. Before
  // this process is ready when it has modules to preload (they need the loader), else
  // after: a start waiting for a warm process gets one sooner, and one that waits in the
  // pool has it all loaded by the time it is claimed (a job that comes first shares the
  // import still under way).
  const esm = require('node:url').pathToFileURL(require('node:path').join(__dirname, 'index.mjs')).href as string;
  const loadLibrary = () => import(esm).catch(() => {}); // the job that needs it reports why
  if (modules.length > 0) await loadLibrary();
  const v8 = require('node:v8') as typeof import('node:v8');
  const { native } = require('./native.js') as typeof import('./native.js');

  // Until a job says who this process is: a child of the parent (isMainModule() is false,
  // start() at a module's top level is refused by the guard), as the job will say.
  if (Array.isArray(info.argv)) process.argv = [process.argv[0]!, ...info.argv.slice(1)];
  forceStartMethod('forkserver');
  if (info.main !== undefined) setMainModule(info.main ?? undefined);
  enterChild({
    v: 1,
    name: 'ForkServerProcess',
    identity: [],
    daemon: false,
    authkey: new Uint8Array(32),
    parentPid: info.pid ?? serverPid,
    parentName: info.name ?? 'MainProcess',
    watchPid: serverPid,
    startMethod: 'forkserver',
    target: null,
    instance: null,
    fields: null,
    methods: null,
    args: [],
    loadLibrary: false,
    mainModule: info.main ?? undefined,
    argv: process.argv,
    cwd: process.cwd(),
  });
  // A module that takes long (or forever) to import does not hold the pool up: the job
  // that needs it waits for the same import, as a spawned child would. A zygote must not
  // fork with an import under way (each child would finish it on its own), so it waits,
  // and gives up its life instead of waiting forever (the server stops preloading them).
  const importAll = forked ? zygotePreload : preloadAWhile;
  if (modules.length > 0) await importAll(modules);
  await rehearse(v8); // before READY: no job can come meanwhile

  const buffer = native.shmAttach(segment).buffer;
  const words = new Int32Array(buffer, 0, mailboxOffset(0) / 4);
  let slot = Number(slotText);
  let from = BOOTING;
  let parentDeath = disarm;
  let zygotePid = 0;
  if (zygoteApi !== null) {
    const { becomeForked, zygoteLoop } = zygoteApi;
    await loadLibrary(); // once here, for every child
    process.send?.({ t: 'ready', lists: 0 } satisfies WarmChildMessage, undefined, {}, () => {});
    const forkedAt = await zygoteLoop(words, lists!, zygotePreload);
    slot = forkedAt.slot;
    // From here on, a forked child of the zygote: it dies with the zygote, which dies with the server.
    becomeForked();
    zygotePid = forkedAt.zygote;
    parentDeath = armParentDeath(zygotePid);
    from = FORK;
    // The zygote writes this pid into the slot right after the fork: wait for it (a store
    // of its landing after this process went on could hit the slot's next request).
    const pidWord = slotWord(slot, PID);
    for (let seen = Atomics.load(words, pidWord); seen !== process.pid; seen = Atomics.load(words, pidWord)) {
      native.wait(words, pidWord, seen, 10);
    }
    // Forked without a preload list sent since (the server, which bumps PRELOAD_GEN before it
    // looks for children to retire, may not have seen this pid yet): make way for a fresh one.
    if (Atomics.load(words, PRELOAD_GEN) !== forkedAt.lists) {
      Atomics.compareExchange(words, slotWord(slot, STATE), FORK, RETIRED);
      process.exit(0);
    }
  }
  const state = slotWord(slot, STATE);
  Atomics.store(words, slotWord(slot, PID), process.pid);
  // The server may have retired the slot while this process booted.
  if (Atomics.compareExchange(words, state, from, READY) !== from) process.exit(0);
  Atomics.add(words, READY_GEN, 1);
  native.wake(words, READY_GEN, 1 << 20);
  trace?.('ready');
  if (!forked) process.send?.({ t: 'ready' } satisfies WarmChildMessage, undefined, {}, () => {});
  else if (readyCount(words) <= LOW_POOL) {
    // (With more ready, the server learns at its next event: the parents waiting for a
    // warm child are woken by READY_GEN above, not by the server.)
    Atomics.add(words, EVENTS, 1);
    native.wake(words, EVENTS, 1);
  }
  if (modules.length === 0) setImmediate(loadLibrary);

  let st = Atomics.load(words, state);
  while (st === READY || st === CLAIMED) {
    // A forked child has nothing else to do (its library is loaded, its parent-death
    // signal armed): it sleeps in the futex itself, which wakes in tens of microseconds
    // where an async wait's round through the waiter thread and the loop took up to 2 ms.
    if (forked) native.wait(words, state, st, Infinity);
    else await native.waitAsync(1, words, state, st, Infinity);
    st = Atomics.load(words, state);
  }
  trace?.('job-recv');
  let data: Uint8Array;
  if (st === JOB) {
    // Read in place (a copy first cost the job's start ~0.05 ms): the slot is ours until TAKEN.
    data = new Uint8Array(buffer, mailboxOffset(slot), Atomics.load(words, slotWord(slot, LEN)));
  } else if (st === JOB_SHM) {
    data = takeJobSegment(buffer, slot);
  } else {
    // RETIRED: the pool shrank.
    process.exit(0);
  }
  let job = v8.deserialize(data) as ChildJob;
  Atomics.store(words, state, TAKEN);
  // (The segment stays mapped: unmapping it would only delay the job; exit unmaps it.)
  // A daemon watches its OS parent: the zygote, for a forked child.
  if (forked && job?.watchPid === serverPid) job = { ...job, watchPid: zygotePid };
  // The zygote, reaping this pid, writes the exit code into the job's cell.
  if (forked && Number.isInteger(job?.exitCell) && job.exitCell! >= 0 && job.exitCell! < CELLS) {
    Atomics.store(words, CELL_PIDS_AT + job.exitCell!, process.pid);
  }
  if (job?.daemon !== true) parentDeath();
  onJob(job);
}

/** A job too big for the mailbox: the parent put it in a segment named in the mailbox. */
function takeJobSegment(buffer: ArrayBuffer, slot: number): Buffer {
  const { native } = require('./native.js') as typeof import('./native.js');
  const { unregister } = require('./resource_tracker.js') as typeof import('./resource_tracker.js');
  const words = new Int32Array(buffer, 0, mailboxOffset(0) / 4);
  const nameLen = Atomics.load(words, slotWord(slot, LEN));
  const name = Buffer.from(new Uint8Array(buffer, mailboxOffset(slot), nameLen)).toString('latin1');
  const { buffer: block } = native.shmAttach(name);
  try {
    const len = new DataView(block).getFloat64(0, true);
    return Buffer.from(new Uint8Array(block, 8, len));
  } finally {
    native.shmClose(block);
    try {
      native.shmUnlink(name);
    } catch {
      // gone already
    }
    unregister(name);
  }
}
