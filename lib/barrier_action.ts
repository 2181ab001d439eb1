// A Barrier's action: the function that runs once per generation, in the process whose
// arrival completes it (Python runs it in the last thread to arrive, which with processes
// means any of them). Like a Process target it travels by reference (targets.ts): the
// process that made the Barrier calls its own function; every other process imports the
// action's module when it receives the Barrier.
//
// An import() is asynchronous, and waitSync() cannot let one finish. So when a process
// completes a generation inside waitSync() before that import has settled (typically a
// child that calls waitSync() first thing), the action is loaded synchronously instead:
// require() for a CommonJS module (and for an ES module where Node supports require of
// ES modules), else rebuilt from its source text, which works for a self-contained
// function. An action that uses its ES module's scope and cannot be required fails there
// with an error that says so; wait() (async) always gets the real function.
import { createRequire } from 'node:module';
import { toPath } from './code_location.js';
import { functionSource, rebuild } from './function_source.js';
import { type TargetRef, describeTarget, resolveTarget } from './targets.js';

type AnyFunction = (...args: unknown[]) => unknown;

const requireHere = createRequire(__filename);

function pick(mod: unknown, name: string, source: string | null): AnyFunction | undefined {
  if (mod === null || (typeof mod !== 'object' && typeof mod !== 'function')) return undefined;
  const ns = mod as Record<string, unknown>;
  const ok = (v: unknown): v is AnyFunction => typeof v === 'function' && (source === null || functionSource(v) === source);
  const candidates = [name === 'default' ? ns.default : ns[name], ns.default, (ns.default as Record<string, unknown> | undefined)?.[name]];
  if (typeof mod === 'function') candidates.unshift(mod);
  for (const c of candidates) if (ok(c)) return c;
  if (source !== null) for (const key of Object.keys(ns)) if (ok(ns[key])) return ns[key];
  return undefined;
}

function requireSync(spec: string): unknown {
  try {
    return requireHere(toPath(spec) ?? spec);
  } catch {
    return undefined; // an ES module this Node cannot require, or not loadable here
  }
}

/** What a source-rebuilt stand-in throws when it needed its module's scope. */
function explain(err: unknown, name: string): unknown {
  const variable = (err as { variable?: unknown } | null)?.variable;
  if (!(err instanceof ReferenceError) || typeof variable !== 'string') return err;
  return new ReferenceError(
    `Barrier action '${name}' uses '${variable}' from its module, which this process had not finished ` +
      'importing when waitSync() completed the barrier (a synchronous wait cannot wait for import()), so it ' +
      'ran from its source text. Use await barrier.wait() in this process, import the action\'s module ' +
      'before waitSync(), or put the action in a CommonJS module.',
    { cause: err },
  );
}

function standIn(ref: Extract<TargetRef, { kind: 'auto' }>): AnyFunction {
  const fn = rebuild(ref.source, ref.name, ref.file);
  return function (this: unknown, ...args: unknown[]) {
    try {
      return Reflect.apply(fn, this, args);
    } catch (err) {
      throw explain(err, ref.name);
    }
  };
}

/**
 * Load `ref` without waiting, or throw saying why not. `real` is false for a stand-in
 * rebuilt from source where the async import would find the function itself.
 */
function resolveSync(ref: TargetRef): { fn: AnyFunction; real: boolean } {
  if (ref.kind === 'source') return { fn: rebuild(ref.source, ref.name, ref.file), real: true };
  if (ref.kind === 'export') {
    const fn = pick(requireSync(ref.module), ref.name, null);
    if (fn !== undefined) return { fn, real: true };
    throw new Error(
      `Barrier action '${ref.name}' of ${ref.module} is not loaded in this process yet (an ES module is ` +
        'imported asynchronously, and waitSync() cannot wait for that): use await barrier.wait() here, or ' +
        'import the module before waitSync()',
    );
  }
  for (const candidate of ref.candidates) {
    const fn = pick(requireSync(candidate), ref.name, ref.source);
    if (fn !== undefined) return { fn, real: true };
  }
  return { fn: standIn(ref), real: false };
}

export class BarrierAction {
  #fn: AnyFunction | null;
  #ref: TargetRef | null;
  #loading: Promise<AnyFunction> | null = null;
  /** @internal */
  constructor(fn: AnyFunction | null, ref: TargetRef | null) {
    this.#fn = fn;
    this.#ref = ref;
  }

  /** The action given to `new Barrier` here: a function, or an explicit { module, name }. */
  static given(action: unknown, caller: string | undefined): BarrierAction {
    // Described now, as Process describes its target at start(): refusals surface early.
    let ref: TargetRef;
    try {
      ref = describeTarget(action, caller);
    } catch (err) {
      if (err instanceof TypeError) throw new TypeError(`options.action: ${err.message}`, { cause: err });
      throw err;
    }
    return typeof action === 'function' ? new BarrierAction(action as AnyFunction, ref) : new BarrierAction(null, ref);
  }

  /** The action of a received Barrier: start importing it now. */
  static received(ref: TargetRef): BarrierAction {
    const action = new BarrierAction(null, ref);
    void action.load().catch(() => {}); // reported when the action is needed
    return action;
  }

  get ref(): TargetRef | null {
    return this.#ref;
  }

  /** The function, for an async wait. */
  async load(): Promise<AnyFunction> {
    if (this.#fn !== null) return this.#fn;
    this.#loading ??= resolveTarget(this.#ref!).then((fn) => (this.#fn = fn));
    return this.#loading;
  }

  /** The function, for a sync wait (see the header for how). */
  loadSync(): AnyFunction {
    if (this.#fn !== null) return this.#fn;
    const { fn, real } = resolveSync(this.#ref!);
    if (real) this.#fn = fn;
    return fn;
  }
}
