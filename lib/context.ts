// Start methods and contexts, as Python's multiprocessing.context.
//
// The start method is fixed the first time it is needed (a Process starts, or
// getStartMethod() is asked) unless setStartMethod() chose it before; changing it after
// that takes { force: true }. getContext(m) returns the whole public API with Process
// bound to method m. 'fork' does not exist here: fork() of the user's process leaves a
// copy without V8's other threads, which cannot run JavaScript safely (the forkserver's
// zygote, lib/zygote.ts, is a process made to be forked).
import { ProcessError, ValueError } from './errors.js';
import type * as api from './index.js';
import { markInternalProcessClass, Process, startMethodKey } from './process.js';
import type { StartMethod } from './spawn.js';
import { checkOptions, checkString, describe } from './validate.js';
import { callerFile, resolveSpecifier } from './code_location.js';

export type { StartMethod };

const DEFAULT_METHOD: StartMethod = 'spawn';

/** The method chosen for this process, null until something needed one. */
let actual: StartMethod | null = null;

export function getAllStartMethods(): StartMethod[] {
  return process.platform === 'win32' ? ['spawn'] : ['spawn', 'forkserver'];
}

function checkMethod(method: unknown): StartMethod {
  if (method === 'fork') {
    throw new ValueError(
      "the 'fork' start method does not exist in Node.js: a fork()ed copy of this process loses V8's other " +
        'threads (compilers, garbage collector, module hooks) and cannot run JavaScript safely. ' +
        "Use 'spawn' (the default) or 'forkserver' (on Linux its warm processes are forked from a " +
        'single-threaded process made for it).',
    );
  }
  if (typeof method !== 'string' || !(getAllStartMethods() as string[]).includes(method)) {
    throw new ValueError(`cannot find context for ${describe(method)}; the start methods are ${getAllStartMethods().join(', ')}`);
  }
  return method as StartMethod;
}

/** The start method a Process without one of its own uses (fixing the default). */
export function defaultStartMethod(): StartMethod {
  if (actual === null) actual = DEFAULT_METHOD;
  return actual;
}

export interface GetStartMethodOptions {
  /** Return null instead of fixing the default when no method was chosen yet. */
  allowNone?: boolean;
}

export function getStartMethod(options?: GetStartMethodOptions): StartMethod | null {
  const { allowNone = false } = checkOptions<GetStartMethodOptions>('options', options);
  if (actual === null && allowNone) return null;
  return defaultStartMethod();
}

export interface SetStartMethodOptions {
  /** Change the method even though one was already chosen (or used). */
  force?: boolean;
}

/** Choose the start method; null with force resets it to "not chosen". */
export function setStartMethod(method: StartMethod | null, options?: SetStartMethodOptions): void {
  const { force = false } = checkOptions<SetStartMethodOptions>('options', options);
  if (actual !== null && !force) {
    throw new ProcessError(`context has already been set (to '${actual}'); pass { force: true } to change it`);
  }
  if (method === null && force) {
    actual = null;
    return;
  }
  actual = checkMethod(method);
}

/** For a child: the method its parent used becomes its own (Python's _force_start_method). */
export function forceStartMethod(method: StartMethod): void {
  actual = method;
}

/** The public API with Process (and whatever registered a binder) bound to one method. */
export interface Context
  extends Omit<typeof api, 'Process' | 'getStartMethod' | 'setStartMethod' | 'getContext' | 'default'> {
  readonly Process: typeof Process;
  /** This context's method. */
  getStartMethod(options?: GetStartMethodOptions): StartMethod;
  /** Always throws: a concrete context's method is fixed. */
  setStartMethod(method: StartMethod | null, options?: SetStartMethodOptions): never;
  getContext(method?: StartMethod | null): Context;
}

/**
 * Later pieces whose objects depend on the start method (a Pool starts processes)
 * register here how to bind their export to a context.
 */
type Binder = (ctx: Context, method: StartMethod) => unknown;
const binders = new Map<string, Binder>();

export function registerContextBinder(name: string, binder: Binder): void {
  binders.set(name, binder);
  contexts.clear();
}

const contexts = new Map<StartMethod, Context>();

function processClassFor(method: StartMethod): typeof Process {
  // Named 'Process' so its instances are Process-N, as with mp.Process.
  const C = {
    Process: class<A extends unknown[] = unknown[]> extends Process<A> {
      static override readonly [startMethodKey]: StartMethod | null = method;
    },
  }.Process;
  markInternalProcessClass(C);
  return C;
}

function build(method: StartMethod): Context {
  // Lazy: index.ts re-exports this module, so it is complete only once loaded.
  const lib = require('./index.js') as Record<string, unknown>;
  const ctx: Record<string, unknown> = {};
  for (const key of Object.keys(lib)) {
    if (key !== 'default' && key !== '__esModule') ctx[key] = lib[key];
  }
  ctx.Process = processClassFor(method);
  ctx.getStartMethod = () => method;
  ctx.setStartMethod = () => {
    throw new ValueError('cannot set the start method of a concrete context; use mp.setStartMethod()');
  };
  ctx.getContext = getContext;
  for (const [name, bind] of binders) ctx[name] = bind(ctx as unknown as Context, method);
  return Object.freeze(ctx) as unknown as Context;
}

/** The API bound to `method`; without one, to the current start method (fixing it). */
export function getContext(method?: StartMethod | null): Context {
  const m = method === undefined || method === null ? defaultStartMethod() : checkMethod(method);
  let ctx = contexts.get(m);
  if (ctx === undefined) contexts.set(m, (ctx = build(m)));
  return ctx;
}

// --- set_forkserver_preload ------------------------------------------------------------

let preloads: string[] = [];
let preloadListener: ((urls: readonly string[]) => void) | null = null;

/**
 * Python's set_forkserver_preload: modules the forkserver's warm processes import before
 * they are handed a job, so that a start does not wait for them. Specifiers resolve from
 * the calling file, as import() there would; a module that fails to load is skipped.
 */
export function setForkserverPreload(moduleNames: readonly string[]): void {
  if (!Array.isArray(moduleNames)) throw new TypeError(`moduleNames must be an array of module specifiers, got ${describe(moduleNames)}`);
  const caller = callerFile();
  preloads = moduleNames.map((m, i) => {
    const spec = checkString(`moduleNames[${i}]`, m);
    const url = caller === undefined ? undefined : resolveSpecifier(spec, caller);
    if (url === undefined) throw new ValueError(`moduleNames[${i}]: cannot resolve '${spec}' from ${caller ?? 'this process'}`);
    return url;
  });
  preloadListener?.(preloads);
}

/** @internal For forkserver.ts (loaded on first use). */
export function forkserverPreloads(): readonly string[] {
  return preloads;
}

/** @internal */
export function onForkserverPreload(listener: (urls: readonly string[]) => void): void {
  preloadListener = listener;
}
