// A forkserver's warm child: what dist/bootstrap.js runs, instead of waiting for a job on
// its channel, when the server started it (see forkserver.ts for the whole scheme). Loaded
// only there, so a spawned child loads none of this.
import { forceStartMethod } from './context.js';
import {
  BOOTING,
  CLAIMED,
  JOB,
  JOB_IPC,
  LEN,
  mailboxOffset,
  OWNER_INFO_ENV,
  PID,
  PRELOAD_ENV,
  READY,
  READY_GEN,
  STATE,
  slotWord,
  TAKEN,
  tracer,
  type WarmChildMessage,
  type WarmMessage,
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
    } catch {
      // reported by the job that imports it, if any
    }
  }
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
    adoptAsCurrent(null, fn, [0]);
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
  const slot = Number(slotText);
  const segment = rest.join(':');
  // Dies with the server until a job says otherwise.
  const disarm = armParentDeath(serverPid);
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

  // A job too big for the mailbox comes through the server.
  let ipcJob: Uint8Array | undefined;
  let onIpcJob: ((data: Uint8Array) => void) | null = null;
  process.on('message', (m: WarmMessage) => {
    if (m?.t !== 'job' || !(m.data instanceof Uint8Array)) return;
    if (onIpcJob !== null) onIpcJob(m.data);
    else ipcJob = m.data;
  });

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
  // that needs it waits for the same import, as a spawned child would.
  if (modules.length > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([preload(modules), new Promise((resolve) => (timer = setTimeout(resolve, PRELOAD_WAIT_MS)))]);
    clearTimeout(timer);
  }
  await rehearse(v8); // before READY: no job can come meanwhile

  const buffer = native.shmAttach(segment).buffer;
  const words = new Int32Array(buffer, 0, mailboxOffset(0) / 4);
  const state = slotWord(slot, STATE);
  Atomics.store(words, slotWord(slot, PID), process.pid);
  // The server may have retired the slot while this process booted.
  if (Atomics.compareExchange(words, state, BOOTING, READY) !== BOOTING) process.exit(0);
  Atomics.add(words, READY_GEN, 1);
  native.wake(words, READY_GEN, 1 << 20);
  trace?.('ready');
  process.send?.({ t: 'ready' } satisfies WarmChildMessage);
  if (modules.length === 0) setImmediate(loadLibrary);

  let st = Atomics.load(words, state);
  while (st === READY || st === CLAIMED) {
    await native.waitAsync(1, words, state, st, Infinity);
    st = Atomics.load(words, state);
  }
  trace?.('job-recv');
  let job: ChildJob;
  if (st === JOB) {
    const len = Atomics.load(words, slotWord(slot, LEN));
    const data = Buffer.from(new Uint8Array(buffer, mailboxOffset(slot), len));
    Atomics.store(words, state, TAKEN);
    job = v8.deserialize(data) as ChildJob;
  } else if (st === JOB_IPC) {
    Atomics.store(words, state, TAKEN);
    const data = ipcJob ?? (await new Promise<Uint8Array>((resolve) => (onIpcJob = resolve)));
    job = v8.deserialize(data) as ChildJob;
  } else {
    // RETIRED: the pool shrank.
    process.exit(0);
  }
  // (The segment stays mapped: unmapping it would only delay the job; exit unmaps it.)
  if (job?.daemon !== true) disarm();
  onJob(job);
}
