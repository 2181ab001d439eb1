// Process and the process table, as Python's multiprocessing.process.
//
// A Process object keeps all its state in one non-enumerable symbol-keyed slot, so that
// the own enumerable fields of a subclass instance are exactly the user's fields (those
// travel to the child). The child side (bootstrap.ts) builds its own Process object from
// the job and makes it currentProcess().
import { inspect } from 'node:util';
import { defaultStartMethod } from './context.js';
import { ProcessError, ValueError } from './errors.js';
import { toWire, transitLog } from './reduction.js';
import type { ChildJob, Popen, StartMethod } from './spawn.js';
import { callerFile, describeInstance, describeTarget, mainModule, type TargetRef } from './targets.js';
import { checkBoolean, checkOptions, checkString, describe, timeoutToMs } from './validate.js';

/** An explicit target: the export `name` of the module at `module` (a file URL or path). */
export interface TargetReference {
  module: string | URL;
  name: string;
}

export interface ProcessOptions<A extends unknown[] = unknown[]> {
  /** What run() calls in the child: a function or an explicit { module, name } reference. */
  target?: ((...args: A) => unknown) | TargetReference | null;
  /** Arguments for the target (structured clone; shared objects travel as themselves). */
  args?: A | null;
  /** Defaults to Process-N (N counts the Process objects this process made). */
  name?: string | null;
  /** A daemon child is ended when this process exits, and cannot start children. */
  daemon?: boolean | null;
}

interface ProcessState {
  name: string;
  daemon: boolean;
  authkey: Buffer;
  identity: readonly number[];
  /** The process that created this object (null for MainProcess). */
  parentPid: number | null;
  parentName: string | null;
  target: unknown;
  args: unknown[];
  /** File of the code that constructed the object (where its target or class lives). */
  callerFile: string | undefined;
  popen: Popen | null;
  closed: boolean;
  /** This object stands for the running process itself (MainProcess, or a child's own). */
  isCurrent: boolean;
}

/** Internal: the slot holding a Process's state. */
export const kState: unique symbol = Symbol('multiprocessing.Process.state');
/** Internal: static member of context-bound Process classes naming their start method. */
export const startMethodKey: unique symbol = Symbol('multiprocessing.Process.startMethod');

/** Process classes of the library itself: their instances are sent as target + args. */
const internalClasses = new WeakSet<object>();

export function markInternalProcessClass(C: object): void {
  internalClasses.add(C);
}

// --- the process table -----------------------------------------------------------------

let counter = 1;
let current: Process | null = null;
let parent: ParentProcess | null = null;
/** Set while a child imports its target's module (the entry-module guard). */
let importing: string | null = null;
const children = new Set<Process>();

function stateOf(p: Process): ProcessState {
  const s = (p as { [kState]?: ProcessState })[kState];
  if (s === undefined) throw new TypeError('not a Process object (its constructor did not run)');
  return s;
}

function attachState(p: object, s: ProcessState): void {
  Object.defineProperty(p, kState, { value: s, writable: false, enumerable: false, configurable: true });
}

function currentState(): ProcessState {
  return stateOf(currentProcess());
}

/** The Process object that represents this process ('MainProcess' in the main one). */
export function currentProcess(): Process {
  if (current === null) {
    current = Object.create(Process.prototype) as Process;
    attachState(current, {
      name: 'MainProcess',
      daemon: false,
      // Lazy: node:crypto costs milliseconds to load, and a child gets its key from the job.
      authkey: (require('node:crypto') as typeof import('node:crypto')).randomBytes(32),
      identity: [],
      parentPid: null,
      parentName: null,
      target: undefined,
      args: [],
      callerFile: undefined,
      popen: null,
      closed: false,
      isCurrent: true,
    });
  }
  return current;
}

/** The parent of this process as seen from a child; null in the main process. */
export class ParentProcess {
  readonly name: string;
  readonly pid: number;
  /** True when the parent is also the OS parent (spawn): getppid() tells if it lives. */
  private readonly osParent: boolean;

  constructor(name: string, pid: number, osParent: boolean) {
    this.name = name;
    this.pid = pid;
    this.osParent = osParent;
  }

  get ident(): number {
    return this.pid;
  }

  isAlive(): boolean {
    const { native } = require('./native.js') as typeof import('./native.js');
    // Once the parent is gone this process is re-parented, so a reused pid cannot fool it.
    if (this.osParent) return native.getppid() === this.pid;
    return native.pidAlive(this.pid);
  }

  /** Resolves when the parent has ended, or after `timeout` seconds. */
  async join(timeout?: number | null): Promise<void> {
    const ms = timeoutToMs('timeout', timeout);
    const end = Date.now() + ms;
    while (this.isAlive() && Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(0, end - Date.now()))));
    }
  }

  toString(): string {
    return `<ParentProcess name=${JSON.stringify(this.name)} pid=${this.pid}>`;
  }
}

export function parentProcess(): ParentProcess | null {
  return parent;
}

/** Live children of this process; finished ones are forgotten (reaped). */
export function activeChildren(): Process[] {
  const live: Process[] = [];
  for (const p of children) {
    const s = stateOf(p);
    if (s.popen !== null && s.popen.exitcode === null) live.push(p);
    else children.delete(p);
  }
  return live;
}

export function cpuCount(): number {
  return (require('node:os') as typeof import('node:os')).availableParallelism();
}

// --- daemons: ended when this process exits, however it exits --------------------------

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let liveDaemons = 0;
let exitHook = false;

function terminateDaemons(): void {
  for (const p of children) {
    const s = stateOf(p);
    if (s.daemon && s.popen !== null && s.popen.exitcode === null) s.popen.terminate();
  }
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else handles this signal: they decide whether the process ends (and if it
  // does, the exit hook ends the daemons).
  if (process.listenerCount(signal) > 1) return;
  terminateDaemons();
  setSignalHandlers(false);
  // Die of the signal as if nobody had listened, so the exit status stays right.
  process.kill(process.pid, signal);
}

function setSignalHandlers(on: boolean): void {
  for (const sig of SIGNALS) {
    if (on) process.on(sig, onSignal);
    else process.removeListener(sig, onSignal);
  }
}

function daemonStarted(): void {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', terminateDaemons);
  }
  if (++liveDaemons === 1 && process.platform !== 'win32') setSignalHandlers(true);
}

function daemonEnded(): void {
  if (--liveDaemons === 0 && process.platform !== 'win32') setSignalHandlers(false);
}

/**
 * Python's _exit_function for a child whose run() is over: daemons get SIGTERM, then
 * every child is joined.
 */
export async function endChildren(): Promise<void> {
  terminateDaemons();
  await Promise.all(activeChildren().map((p) => stateOf(p).popen?.wait(Infinity)));
}

// --- the entry-module guard --------------------------------------------------------------

function guardError(module: string): ProcessError {
  return new ProcessError(
    `An attempt has been made to start a new process while this process (a child) is still importing ${module}, ` +
      'the module of its target.\n\n' +
      'A child imports that module to find its target, so code at its top level runs again in every child. ' +
      'Code that starts processes must run only in the main process; guard it:\n\n' +
      '    if (mp.isMainModule(import.meta)) { ... }     // ES modules\n' +
      '    if (require.main === module) { ... }         // CommonJS (or mp.isMainModule(module))\n',
  );
}

// --- Process -----------------------------------------------------------------------------

function checkClosed(s: ProcessState): void {
  if (s.closed) throw new ValueError('process object is closed');
}

function isExplicitTarget(t: unknown): t is TargetReference {
  return typeof t === 'object' && t !== null && 'module' in t && 'name' in t;
}

/**
 * The object itself, as Python pickles it for the child: a subclass instance by class and
 * fields; a plain Process only by its own fields, if user code set any. Function-valued
 * fields (`p.run = work`) travel as targets do; the rest as data.
 */
function describeSelf(
  p: Process,
  caller: string | undefined,
): Pick<ChildJob, 'instance' | 'fields' | 'methods'> {
  const rec = p as unknown as Record<string, unknown>;
  let methods: Record<string, TargetRef> | null = null;
  const data: Record<string, unknown> = {};
  let hasData = false;
  for (const key of Object.keys(p)) {
    const v = rec[key];
    if (typeof v === 'function') (methods ??= {})[key] = describeTarget(v, caller);
    else {
      data[key] = v;
      hasData = true;
    }
  }
  if (internalClasses.has(p.constructor)) {
    return { instance: null, fields: hasData ? (toWire(data) as Record<string, unknown>) : null, methods };
  }
  if (methods === null) return { instance: describeInstance(p, caller), fields: null, methods };
  // describeInstance sends every own field: give it a view without the functions.
  const view = Object.create(Object.getPrototypeOf(p)) as object;
  for (const [key, value] of Object.entries(data)) {
    Object.defineProperty(view, key, { value, writable: true, enumerable: true, configurable: true });
  }
  return { instance: describeInstance(view, caller), fields: null, methods };
}

let exitcodeNames: Map<number, string> | undefined;

/** -SIGTERM for -15, as Python's repr shows a code from a signal; else the number. */
function exitcodeName(code: number): string {
  // (node:os is required here, not at the top: a spawned child would load it for nothing, ~0.5 ms.)
  exitcodeNames ??= new Map(
    Object.entries((require('node:os') as typeof import('node:os')).constants.signals).map(([name, n]) => [-n, `-${name}`]),
  );
  return exitcodeNames.get(code) ?? String(code);
}

export class Process<A extends unknown[] = unknown[]> {
  /** Internal: the start method of this class (context-bound classes), else the default. */
  static readonly [startMethodKey]: StartMethod | null = null;
  /** Internal state; not enumerable, so it never travels with a subclass's fields. */
  declare readonly [kState]: ProcessState;

  constructor(options?: ProcessOptions<A>) {
    const o = checkOptions<ProcessOptions<A>>('options', options);
    const { target, args, name, daemon } = o;
    if (target !== undefined && target !== null && typeof target !== 'function' && !isExplicitTarget(target)) {
      throw new TypeError(`options.target must be a function or a { module, name } reference, got ${describe(target)}`);
    }
    let argList: unknown[] = [];
    if (args !== undefined && args !== null) {
      if (typeof (args as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function' || typeof args === 'string') {
        throw new TypeError(`options.args must be an array, got ${describe(args)}`);
      }
      argList = Array.from(args as Iterable<unknown>);
    }
    const cur = currentState();
    const identity = [...cur.identity, counter++];
    const prefix = internalClasses.has(new.target) ? 'Process' : new.target.name || 'Process';
    attachState(this, {
      name: name === undefined || name === null ? `${prefix}-${identity.join(':')}` : checkString('options.name', name),
      daemon: daemon === undefined || daemon === null ? cur.daemon : checkBoolean('options.daemon', daemon),
      authkey: Buffer.from(cur.authkey),
      identity,
      parentPid: process.pid,
      parentName: cur.name,
      target,
      args: argList,
      callerFile: callerFile(),
      popen: null,
      closed: false,
      isCurrent: false,
    });
  }

  /** What the child runs: by default target(...args). May be async; the child awaits it. */
  run(): unknown {
    const s = stateOf(this);
    if (typeof s.target === 'function') return (s.target as (...a: unknown[]) => unknown)(...s.args);
    return undefined;
  }

  /** Start the child. Synchronous: pid is set when it returns. */
  start(): void {
    const s = stateOf(this);
    checkClosed(s);
    if (s.popen !== null) throw new ProcessError('cannot start a process twice');
    if (s.parentPid !== process.pid) {
      throw new ProcessError('can only start a process object created by the current process');
    }
    if (currentState().daemon) throw new ProcessError('daemonic processes are not allowed to have children');
    if (importing !== null) throw guardError(importing);
    activeChildren(); // reap
    const method = (this.constructor as typeof Process)[startMethodKey] ?? defaultStartMethod();
    const transits: unknown[] = [];
    let popen: Popen;
    try {
      popen = transitLog.run(transits, () => {
        // Refused targets (bound, native, ...) throw here, before anything is spawned.
        const { instance, fields, methods } = describeSelf(this, s.callerFile);
        const target = s.target === undefined || s.target === null ? null : describeTarget(s.target, s.callerFile);
        const wire = toWire(s.args); // the same array when it holds no shared object
        const job: ChildJob = {
          v: 1,
          name: s.name,
          identity: s.identity,
          daemon: s.daemon,
          authkey: new Uint8Array(s.authkey),
          parentPid: process.pid,
          parentName: currentState().name,
          watchPid: process.pid,
          startMethod: method,
          instance,
          fields,
          methods,
          target,
          args: wire,
          loadLibrary: wire !== s.args || fields !== null,
          mainModule: mainModule(),
          argv: process.argv,
          cwd: process.cwd(),
        };
        // Lazy: a child that starts no process of its own never loads the launchers.
        const { launch } = require('./spawn.js') as typeof import('./spawn.js');
        return launch(method, job, { daemon: s.daemon });
      });
    } catch (err) {
      // The job never reached a child: the references its handles took go back.
      if (transits.length > 0) {
        const { dropHandle } = require('./heap.js') as typeof import('./heap.js');
        for (const h of transits) dropHandle(h as import('./heap.js').BlockHandle);
      }
      throw err;
    }
    s.popen = popen;
    children.add(this);
    if (s.daemon) daemonStarted();
    void popen.exited.then(() => {
      if (s.daemon) daemonEnded();
      // Its arenas, mapped here for the blocks it sent, can go now (heap.ts).
      (require('./heap.js') as typeof import('./heap.js')).unmapIdleArenas();
      // Python drops target and args at start; keep them until the child has them.
      s.target = undefined;
      s.args = [];
    });
  }

  /** Resolves when the child ends or after `timeout` seconds; never rejects on timeout. */
  async join(timeout?: number | null): Promise<void> {
    const s = stateOf(this);
    checkClosed(s);
    if (s.parentPid !== process.pid) throw new ProcessError('can only join a child process');
    if (s.popen === null) throw new ProcessError('can only join a started process');
    const ms = timeoutToMs('timeout', timeout);
    if ((await s.popen.wait(ms)) !== null) children.delete(this);
  }

  isAlive(): boolean {
    const s = stateOf(this);
    checkClosed(s);
    if (s.isCurrent) return true;
    if (s.popen === null) return false;
    if (s.popen.exitcode === null) return true;
    children.delete(this);
    return false;
  }

  /** SIGTERM the child (nothing once it has ended). */
  terminate(): void {
    const s = stateOf(this);
    checkClosed(s);
    if (s.popen === null) throw new ProcessError('cannot terminate a process that was not started');
    s.popen.terminate();
  }

  /** SIGKILL the child (nothing once it has ended). */
  kill(): void {
    const s = stateOf(this);
    checkClosed(s);
    if (s.popen === null) throw new ProcessError('cannot kill a process that was not started');
    s.popen.kill();
  }

  /** Release the object; ValueError while the child runs. Most methods throw afterwards. */
  close(): void {
    const s = stateOf(this);
    if (s.popen !== null) {
      if (s.popen.exitcode === null) {
        throw new ValueError(
          'Cannot close a process while it is still running. You should first call join() or terminate().',
        );
      }
      s.popen.close();
      s.popen = null;
      children.delete(this);
    }
    s.closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Waits for the child to end, then closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    const s = stateOf(this);
    if (s.popen !== null && !s.closed) await this.join();
    this.close();
  }

  get name(): string {
    return stateOf(this).name;
  }

  set name(value: string) {
    stateOf(this).name = checkString('name', value);
  }

  get daemon(): boolean {
    return stateOf(this).daemon;
  }

  set daemon(value: boolean) {
    const s = stateOf(this);
    if (s.popen !== null) throw new ProcessError('process has already started');
    s.daemon = checkBoolean('daemon', value);
  }

  get authkey(): Buffer {
    return stateOf(this).authkey;
  }

  set authkey(value: Buffer | Uint8Array) {
    if (!(value instanceof Uint8Array)) throw new TypeError(`authkey must be a Buffer, got ${describe(value)}`);
    stateOf(this).authkey = Buffer.from(value);
  }

  /** null before start and while running; then 0, n, or -N for signal N. */
  get exitcode(): number | null {
    const s = stateOf(this);
    checkClosed(s);
    return s.popen === null ? null : s.popen.exitcode;
  }

  /** The child's pid (null before start); this process's pid for currentProcess(). */
  get ident(): number | null {
    const s = stateOf(this);
    checkClosed(s);
    if (s.isCurrent) return process.pid;
    return s.popen === null ? null : s.popen.pid;
  }

  get pid(): number | null {
    return this.ident;
  }

  toString(): string {
    const s = stateOf(this);
    let status: string;
    let exitcode: number | null = null;
    if (s.isCurrent) status = 'started';
    else if (s.closed) status = 'closed';
    else if (s.parentPid !== process.pid) status = 'unknown';
    else if (s.popen === null) status = 'initial';
    else {
      exitcode = s.popen.exitcode;
      status = exitcode === null ? 'started' : 'stopped';
    }
    const info = [this.constructor.name, `name=${JSON.stringify(s.name)}`];
    if (s.popen !== null) info.push(`pid=${s.popen.pid}`);
    info.push(`parent=${s.parentPid ?? 'None'}`, status);
    if (exitcode !== null) info.push(`exitcode=${exitcodeName(exitcode)}`);
    if (s.daemon) info.push('daemon');
    return `<${info.join(' ')}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
markInternalProcessClass(Process);

// --- the child side (used by bootstrap.ts) -----------------------------------------------

/** Become the child the job describes: currentProcess() and parentProcess() answer for it. */
export function enterChild(job: ChildJob): Process {
  counter = 1;
  children.clear();
  const self = Object.create(Process.prototype) as Process;
  attachState(self, {
    name: job.name,
    daemon: job.daemon,
    authkey: Buffer.from(job.authkey),
    identity: [...job.identity],
    parentPid: job.parentPid,
    parentName: job.parentName,
    target: undefined,
    args: [],
    callerFile: undefined,
    popen: null,
    closed: false,
    isCurrent: true,
  });
  current = self;
  parent = new ParentProcess(job.parentName, job.parentPid, job.watchPid === job.parentPid);
  return self;
}

/** Runs `load` (an import of the target's module) with the entry-module guard armed. */
export async function importingTarget<T>(module: string, load: () => Promise<T>): Promise<T> {
  importing = module;
  try {
    return await load();
  } finally {
    importing = null;
  }
}

/**
 * Make `obj` (a revived Process subclass instance, or null for a plain target) the
 * current process, carrying the target and args run() uses.
 */
export function adoptAsCurrent(obj: object | null, target: unknown, args: unknown[]): Process {
  const s = currentState();
  s.target = target;
  s.args = args;
  if (obj !== null) {
    attachState(obj, s);
    current = obj as Process;
  }
  // Objects made while the module was imported do not take numbers from real children.
  counter = 1;
  return currentProcess();
}

/** @internal Resolves with the exit code once `p` (started) has ended; holds no ref on the loop. */
export function exitedOf(p: Process): Promise<number> {
  const popen = stateOf(p).popen;
  if (popen === null) throw new ProcessError('process not started');
  return popen.exited;
}
