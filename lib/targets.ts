// What a Process target (or a Pool task's function) becomes on its way to another
// process, and how the child turns it back into something to call. Like Python's pickle
// of a function, a target travels by reference where it can:
//
//   1. an explicit { module, name }: imported in the child ('export' ref);
//   2. a function exported from a loaded CommonJS module: found now, synchronously, by
//      scanning require.cache ('export' ref); an ESM module's exports cannot be read
//      synchronously, so for a named function we list the ESM modules that may export it
//      (the calling module, the entry module, and the modules they import that name) and
//      the child imports them in turn, taking the export whose source text is the
//      function's own ('auto' ref; the text check guards against another function of the
//      same name). A module is listed only if its text looks like it exports that name,
//      so a non-exported function never makes the child import a module for nothing;
//   3. anything else is sent as its source text and rebuilt with `new Function` ('source'
//      ref). That only works for a self-contained function: one that uses a variable of
//      its enclosing scope fails in the child with a ReferenceError that names the
//      variable and says to export the function (or pass the value in args).
//
// The rebuilt function runs in sloppy mode (the original's strictness cannot be read back
// from its text) with `require`, `module`, `exports`, `__filename` and `__dirname` of the
// file that sent it in scope.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { types as utilTypes } from 'node:util';
import {
  type AnyFunction,
  existingFile,
  fileText,
  inLibrary,
  inNodeModules,
  mainModule,
  remembered,
  resolveSpecifier,
  toPath,
  toUrl,
} from './code_location.js';
import { codeOnly, functionSource, IDENTIFIER, NATIVE_SOURCE, rebuild, sourceExpression, word } from './function_source.js';
import { type Field, anyText, list, optional, text, variant } from './handle_shape.js';
import { fromWire, toWire } from './reduction.js';
import { describe as describeValue } from './validate.js';

export { callerFile, mainModule, setMainModule } from './code_location.js';
export { wrapSourceTarget } from './function_source.js';

/** Plain, structured-clonable description of a function to run in another process. */
export type TargetRef =
  | { kind: 'export'; module: string; name: string }
  | { kind: 'auto'; candidates: string[]; name: string; source: string; file?: string }
  | { kind: 'source'; source: string; name: string; file?: string };

/** A TargetRef inside a handle (a Barrier's action), checked field by field. */
export const targetRefField = variant('kind', {
  export: { module: text, name: text },
  auto: { candidates: list(text), name: text, source: text, file: optional(text) },
  source: { source: text, name: anyText, file: optional(text) },
}) as Field<unknown> as Field<TargetRef>;

/** A Process subclass instance: its class (found like an exported function) and its own enumerable fields, already passed through toWire. */
export interface InstanceRef {
  candidates: string[];
  className: string;
  source: string;
  fields: Record<string, unknown>;
}

/** Where a reference's code comes from, for messages and the entry-module guard. */
export function refModule(ref: TargetRef | InstanceRef): string {
  if ('kind' in ref) {
    if (ref.kind === 'export') return ref.module;
    if (ref.kind === 'source') return 'its source';
  }
  return ref.candidates.join(' or ');
}

// ---------------------------------------------------------------------------------------
// Finding exports without importing (parent side)

/**
 * A CommonJS module in require.cache whose module.exports is `fn` (name 'default') or has
 * `fn` as a property. Data properties are read for every module; accessor properties
 * (TypeScript's and esbuild's re-export getters) only under `fn`'s own name, or in the
 * preferred files, so scanning never runs arbitrary getters of unrelated modules.
 */
function findInRequireCache(fn: Function, preferred: string[], modules: UserModules): { module: string; name: string } | undefined {
  const { all, ids: scan } = modules;
  // The library's own function: found where it is defined (as Python pickles a function
  // by its defining module), not in a user module that re-exports it.
  const ours = libraryExports.get(fn);
  if (ours !== undefined) return ours;
  const cache = require.cache;
  const own = typeof fn.name === 'string' ? fn.name : '';
  const first: string[] = [];
  for (const f of preferred) {
    const p = toPath(f);
    if (p !== undefined && cache[p] !== undefined && !first.includes(p)) first.push(p);
  }
  if (first.length > 1) first.sort((a, b) => all.indexOf(a) - all.indexOf(b)); // in load order, as the rest
  for (const id of first) {
    const found = exportOf(cache[id], fn, own, true);
    if (found !== undefined) return found;
  }
  for (const id of scan) {
    if (first.includes(id)) continue;
    const found = exportOf(cache[id], fn, own, false);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The name under which `mod` exports `fn`; accessors are read under `own` only, unless `all`. */
function exportOf(mod: NodeJS.Module | undefined, fn: Function, own: string, all: boolean): { module: string; name: string } | undefined {
  if (mod === undefined) return undefined;
  try {
    const ex: unknown = mod.exports;
    if (ex === fn) return { module: pathToFileURL(mod.filename).href, name: 'default' };
    if (ex === null || (typeof ex !== 'object' && typeof ex !== 'function')) return undefined;
    for (const key of Object.keys(ex)) {
      const d = Object.getOwnPropertyDescriptor(ex, key);
      if (d === undefined) continue;
      const value = 'value' in d ? d.value : (all || key === own) && d.get !== undefined ? d.get.call(ex) : undefined;
      if (value === fn) return { module: pathToFileURL(mod.filename).href, name: key };
    }
  } catch {
    // an exotic exports object: not ours to worry about
  }
  return undefined;
}

/**
 * The ids of require.cache's modules that are not the library's (whose exports are
 * indexed once, libraryExports), in load order, with all ids. Kept while require.cache
 * holds the same modules under the same ids in the same order and none of the library's
 * is still loading: each start asks, and sorting ~100 ids out anew was a large part of a
 * start while the parent's code was still cold. (Its size and last module are not
 * enough: a module set aside and put back goes last again, after any loaded meanwhile,
 * and a module put under an id in place keeps the id's position.)
 */
let userModuleList: {
  all: string[];
  mods: (NodeJS.Module | undefined)[];
  ids: string[];
  settled: boolean;
  /** Bumped each time the list is made anew: the caches below key their answers on it. */
  generation: number;
} | null = null;

/** What one describe reads of require.cache: asked once, passed down. */
type UserModules = { all: string[]; ids: string[]; generation: number };

function userModules(): UserModules {
  const cache = require.cache;
  const all = Object.keys(cache);
  const known = userModuleList;
  if (known?.settled === true && holdsSame(cache, all, known)) return known;
  const ids: string[] = [];
  const mods: (NodeJS.Module | undefined)[] = [];
  let settled = true;
  for (const id of all) {
    const mod = cache[id];
    mods.push(mod);
    // (A JSON module holds no function, and an addon's are native: refused before this.)
    if (mod === undefined || libraryIndexed.has(mod) || id.endsWith('.json') || id.endsWith('.node')) continue;
    if (!inLibrary(id)) ids.push(id);
    else if (mod.loaded) indexLibraryModule(mod);
    else {
      ids.push(id); // loading: read like a user module until it is done
      settled = false;
    }
  }
  userModuleList = { all, mods, ids, settled, generation: (known?.generation ?? 0) + 1 };
  return userModuleList;
}

/**
 * Whether require.cache, whose ids are `all`, holds `known`'s modules under its ids in
 * order (~12 us a start more than its size and last module, for ~80 modules while cold;
 * Object.values instead of cache[id] was slower).
 */
function holdsSame(cache: NodeJS.Dict<NodeJS.Module>, all: string[], known: { all: string[]; mods: (NodeJS.Module | undefined)[] }): boolean {
  if (all.length !== known.all.length) return false;
  for (let i = 0; i < all.length; i++) {
    const id = all[i]!;
    if (id !== known.all[i] || cache[id] !== known.mods[i]) return false;
  }
  return true;
}

/**
 * The functions the library's own modules export, indexed once per module: those exports
 * do not change once a module is loaded, and scanning them (most of require.cache in a
 * typical program) took ~0.2 ms of every start. By module object, not id: a module loaded again (its require.cache
 * entry deleted) has new functions.
 */
const libraryExports = new WeakMap<Function, { module: string; name: string }>();
const libraryIndexed = new WeakSet<NodeJS.Module>();

function indexLibraryModule(mod: NodeJS.Module): void {
  libraryIndexed.add(mod);
  const module = pathToFileURL(mod.filename).href;
  const note = (value: unknown, name: string) => {
    if (typeof value === 'function' && !libraryExports.has(value)) libraryExports.set(value, { module, name });
  };
  try {
    const ex: unknown = mod.exports;
    note(ex, 'default');
    if (ex === null || (typeof ex !== 'object' && typeof ex !== 'function')) return;
    for (const key of Object.keys(ex)) {
      const d = Object.getOwnPropertyDescriptor(ex, key);
      note(d === undefined ? undefined : 'value' in d ? d.value : d.get?.call(ex), key);
    }
  } catch {
    // (our own modules' exports are plain)
  }
}

/** Whether a module's text may export `name` (lenient: a false "yes" costs an import). */
function mayExport(text: string, name: string): boolean {
  const w = word(name);
  const patterns = [
    `export\\s+(?:default\\s+)?(?:async\\s+|abstract\\s+)?(?:function\\s*\\*?\\s*|class\\s+|const\\s+|let\\s+|var\\s+)${w}`,
    `export\\s+default\\s+${w}`,
    `export\\s*(?:type\\s+)?\\{[^}]*${w}[^}]*\\}`,
    'export\\s*\\*\\s*(?:as\\s+\\S+\\s+)?from',
    `exports\\.${w}`,
    'module\\.exports\\s*=',
  ];
  if (name === 'default') patterns.push('export\\s+default\\b');
  return new RegExp(patterns.join('|'), 'u').test(text);
}

/** Modules `text` (of `file`) statically imports `name` from. */
function importsOf(text: string, file: string, name: string): string[] {
  const out: string[] = [];
  const re = /\bimport\s*([\w$\s{},*]*?)\s*from\s*(['"])([^'"\r\n]+)\2/g;
  const has = new RegExp(word(name), 'u');
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const clause = m[1]!;
    const star = /\*\s*as\s+([\w$]+)/.exec(clause);
    const viaNamespace = star !== null && new RegExp(`${word(star[1]!)}\\s*\\.\\s*${word(name)}`, 'u').test(text);
    if (!has.test(clause.replace(/\*\s*as\s+[\w$]+/, '')) && !viaNamespace) continue;
    const url = resolveSpecifier(m[3]!, file);
    if (url !== undefined) out.push(url);
  }
  return out;
}

/**
 * esmCandidates' answers: the same for the same caller, entry module, name and CommonJS
 * modules loaded (the files' texts are read once, fileText), and each start of a target
 * named like an identifier asks (regular expressions over the caller's text and imports).
 */
const candidatesCache = new Map<string, string[]>();

function esmCandidates(name: string, caller: string | undefined, modules: UserModules): string[] {
  const key = `${caller ?? ''}\0${mainModule() ?? ''}\0${name}\0${modules.generation}`;
  return [...remembered(candidatesCache, 256, key, () => findEsmCandidates(name, caller))];
}

/**
 * ESM modules (file URLs) that may export `name`: the calling file, the entry module,
 * and the modules either of them imports `name` from; each only if its text looks like
 * it exports the name. CommonJS modules already loaded are left out (require.cache said
 * no), and so is an entry module inside node_modules (a test runner's or CLI's).
 */
function findEsmCandidates(name: string, caller: string | undefined): string[] {
  const roots: string[] = [];
  if (caller !== undefined && toPath(caller) !== undefined) roots.push(toUrl(caller));
  const main = mainModule();
  const mainPath = main === undefined ? undefined : toPath(main);
  if (main !== undefined && mainPath !== undefined && !inNodeModules(mainPath)) roots.push(main);
  const found: string[] = [];
  const consider = (url: string): void => {
    if (found.includes(url)) return;
    const p = toPath(url);
    if (p === undefined || inLibrary(p) || require.cache[p] !== undefined) return;
    const text = fileText(p);
    if (text !== null && mayExport(text, name)) found.push(url);
  };
  for (const r of roots) consider(r);
  for (const r of roots) {
    const p = toPath(r)!;
    const text = inNodeModules(p) ? null : fileText(p);
    if (text !== null) for (const dep of importsOf(text, r, name)) consider(dep);
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// Parent: describe

function isExplicit(value: unknown): value is { module: unknown; name: unknown } {
  return value !== null && typeof value === 'object' && 'module' in value && 'name' in value;
}

function explicitRef(target: { module: unknown; name: unknown }, caller: string | undefined): TargetRef {
  const { module, name } = target;
  if (typeof module !== 'string' || module === '') {
    throw new TypeError(`target.module must be a non-empty string (a path, file URL or package specifier), got ${describeValue(module)}`);
  }
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`target.name must be the name of an exported function (a non-empty string), got ${describeValue(name)}`);
  }
  if (module.startsWith('./') || module.startsWith('../')) {
    const base = caller === undefined ? undefined : toPath(caller);
    const abs = path.resolve(base === undefined ? process.cwd() : path.dirname(base), module);
    const url = pathToFileURL(abs).href;
    return { kind: 'export', module: existingFile(url) ?? url, name };
  }
  const url = toUrl(module);
  return { kind: 'export', module: url.startsWith('file:') ? (existingFile(url) ?? url) : url, name };
}

function label(fn: Function): string {
  const name = typeof fn.name === 'string' ? fn.name : '';
  return name === '' ? 'an anonymous function' : `'${name}'`;
}

/** The TypeError for a function that cannot travel, or null when it can. */
function refusal(fn: Function, source: string, allowClass: boolean): TypeError | null {
  const name = typeof fn.name === 'string' ? fn.name : '';
  if (name.startsWith('bound ')) {
    return new TypeError(
      `target ${label(fn)} is a bound function, which cannot be sent to another process: ` +
        'pass the unbound function and put the bound values in args (or export a wrapper function)',
    );
  }
  if (NATIVE_SOURCE.test(source) || source === '') {
    return new TypeError(
      `target ${label(fn)} is a native (built-in) function, which cannot be sent to another process: ` +
        'wrap it in a function of your own, e.g. (...a) => Math.max(...a), or export one from a module',
    );
  }
  if (!allowClass && /^class[\s{]/.test(source)) {
    return new TypeError(
      `target ${label(fn)} is a class constructor, not a function: to run code in a process, subclass ` +
        'mp.Process and override run(), or pass a function',
    );
  }
  if (textOf(source).usesSuper) {
    return new TypeError(
      `target ${label(fn)} uses super, so it only works as a method of its class and cannot be sent to ` +
        'another process: export a plain function that does the work (or subclass mp.Process and override run())',
    );
  }
  return null;
}

const refCache = new WeakMap<Function, Map<string, TargetRef>>();

/**
 * What a function's source text says, by text: a target written inline, as in
 * `new Process({ target: () => ... })` in a loop, is a new function with the same text at
 * each start (refCache cannot help), and checking the text (comments blanked, a compile)
 * was most of describing it.
 */
const sourceTexts = new Map<string, { usesSuper: boolean; expressible?: boolean }>();

function textOf(source: string): { usesSuper: boolean; expressible?: boolean } {
  return remembered(sourceTexts, 256, source, readText);
}

function readText(source: string): { usesSuper: boolean; expressible?: boolean } {
  return { usesSuper: /(?<![\w$.])super\s*[.[(]/.test(codeOnly(source)) };
}

/** Whether the text can be rebuilt as a function in another process (sourceExpression). */
function expressible(source: string): boolean {
  const known = textOf(source);
  known.expressible ??= sourceExpression(source) !== null;
  return known.expressible;
}

/**
 * Describe a target for another process (parent, synchronous). `target`: a function or an
 * explicit { module, name }. `callerFile`: the user file that created the Process (or
 * called the Pool method); relative explicit modules resolve against its directory.
 */
export function describeTarget(target: unknown, callerFile: string | undefined, options: { allowClass?: boolean } = {}): TargetRef {
  if (typeof target !== 'function') {
    if (isExplicit(target)) return explicitRef(target, callerFile);
    throw new TypeError(
      `target must be a function or an explicit reference { module, name } (a module path or URL and ` +
        `the name of an exported function), got ${describeValue(target)}`,
    );
  }
  // The answer depends on the caller, the entry module and which CommonJS modules are loaded.
  const allowClass = options.allowClass === true;
  const modules = userModules();
  const key = `${callerFile ?? ''}\0${mainModule() ?? ''}\0${modules.generation}\0${allowClass}`;
  let byKey = refCache.get(target);
  const hit = byKey?.get(key);
  if (hit !== undefined) return hit;
  const ref = describeFunction(target, callerFile, allowClass, modules);
  if (byKey === undefined) refCache.set(target, (byKey = new Map()));
  if (byKey.size > 16) byKey.clear();
  byKey.set(key, ref);
  return ref;
}

function describeFunction(fn: Function, caller: string | undefined, allowClass: boolean, modules: UserModules): TargetRef {
  const source = functionSource(fn);
  const refused = refusal(fn, source, allowClass);
  if (refused !== null) throw refused;
  const name = typeof fn.name === 'string' ? fn.name : '';
  const roots = [caller, mainModule()].filter((f): f is string => f !== undefined);
  const cjs = findInRequireCache(fn, roots, modules);
  if (cjs !== undefined) return { kind: 'export', ...cjs };
  const file = caller === undefined ? undefined : toPath(caller);
  const withFile = file === undefined ? {} : { file };
  if (IDENTIFIER.test(name)) {
    const candidates = esmCandidates(name, caller, modules);
    if (candidates.length > 0) return { kind: 'auto', candidates, name, source, ...withFile };
  }
  if (!expressible(source)) {
    throw new TypeError(
      `target ${label(fn)} is not exported from a module this process can find, and its source text ` +
        'cannot be rebuilt in another process: export it from its module, or pass { module, name }',
    );
  }
  return { kind: 'source', source, name, ...withFile };
}

/** Describe a Process subclass instance: where its class is exported, and its own fields. */
export function describeInstance(instance: object, callerFile: string | undefined): InstanceRef {
  const proto: unknown = Object.getPrototypeOf(instance);
  const Class: unknown = proto === null ? undefined : (proto as { constructor?: unknown }).constructor;
  if (typeof Class !== 'function') {
    throw new TypeError('process: cannot send an object without a class to another process');
  }
  const className = typeof Class.name === 'string' ? Class.name : '';
  const source = functionSource(Class);
  const roots = [callerFile, mainModule()].filter((f): f is string => f !== undefined);
  const modules = userModules();
  const cjs = findInRequireCache(Class, roots, modules);
  const candidates = cjs !== undefined ? [cjs.module] : IDENTIFIER.test(className) ? esmCandidates(className, callerFile, modules) : [];
  if (candidates.length === 0) {
    const where = roots.length > 0 ? ` (looked in ${[...new Set(roots.map(toUrl))].join(', ')} and what they import)` : '';
    throw new TypeError(
      `Process subclass ${className === '' ? '(anonymous class)' : className} must be exported from the module ` +
        `that defines it, so the child process can import it${where}: e.g. export class ${className || 'Worker'} ` +
        'extends mp.Process { run() { ... } }',
    );
  }
  const own: Record<string, unknown> = {};
  const rec = instance as Record<string, unknown>;
  for (const key of Object.keys(instance)) own[key] = rec[key];
  return { candidates, className, source, fields: toWire(own) as Record<string, unknown> };
}

// ---------------------------------------------------------------------------------------
// Child: resolve

// Import failures that mean "this module cannot be loaded here" (skip the candidate), as
// opposed to an error thrown by the module's own code (which is the user's to see).
const LOAD_FAILURES = new Set([
  'ERR_MODULE_NOT_FOUND',
  'MODULE_NOT_FOUND',
  'ERR_UNKNOWN_FILE_EXTENSION',
  'ERR_UNKNOWN_MODULE_FORMAT',
  'ERR_UNSUPPORTED_ESM_URL_SCHEME',
  'ERR_INVALID_URL',
  'ERR_INVALID_MODULE_SPECIFIER',
  'ERR_UNSUPPORTED_DIR_IMPORT',
]);

function isLoadFailure(err: unknown): boolean {
  return err !== null && typeof err === 'object' && LOAD_FAILURES.has(String((err as { code?: unknown }).code));
}

type Namespace = Record<string, unknown>;

async function importModule(spec: string): Promise<Namespace> {
  const url = toUrl(spec);
  try {
    return (await import(url)) as Namespace;
  } catch (err) {
    // A bare specifier the library's own location cannot resolve: try from the entry module.
    if (url === spec && !spec.startsWith('file:') && !spec.startsWith('node:') && isLoadFailure(err)) {
      const main = mainModule();
      const base = (main === undefined ? undefined : toPath(main)) ?? path.join(process.cwd(), 'index.js');
      let resolved: string;
      try {
        resolved = createRequire(base).resolve(spec);
      } catch {
        throw err;
      }
      return (await import(toUrl(resolved))) as Namespace;
    }
    throw err;
  }
}

function isObjectish(v: unknown): v is Record<string, unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function');
}

/** `name` exported by a namespace (or by module.exports of a CommonJS module). */
function pickExport(ns: Namespace, name: string): unknown {
  if (name === 'default') return ns.default;
  if (ns[name] !== undefined) return ns[name];
  const def = ns.default;
  return isObjectish(def) ? def[name] : undefined;
}

/** The export of `ns` that is a function whose source text is `source`, preferring `name`. */
function findBySource(ns: Namespace, name: string, source: string): Function | undefined {
  const matches = (v: unknown): v is Function => typeof v === 'function' && functionSource(v) === source;
  const first = pickExport(ns, name);
  if (matches(first)) return first;
  for (const key of Object.keys(ns)) if (matches(ns[key])) return ns[key];
  const def = ns.default;
  if (isObjectish(def) && !utilTypes.isProxy(def)) {
    for (const key of Object.keys(def)) {
      const d = Object.getOwnPropertyDescriptor(def, key);
      if (d !== undefined && 'value' in d && matches(d.value)) return d.value;
    }
  }
  return undefined;
}

/** Child: turn a ref back into a callable (imports modules with dynamic import()). */
export async function resolveTarget(ref: TargetRef): Promise<(...args: unknown[]) => unknown> {
  if (ref === null || typeof ref !== 'object') throw new TypeError(`target reference must be an object, got ${describeValue(ref)}`);
  switch (ref.kind) {
    case 'export': {
      const ns = await importModule(ref.module);
      const fn = pickExport(ns, ref.name);
      if (typeof fn !== 'function') {
        throw new TypeError(
          `target: module ${ref.module} has no exported function '${ref.name}'` +
            `${fn === undefined ? '' : ` (it is ${describeValue(fn)})`}; ` +
            'export it, or check the name',
        );
      }
      return fn as AnyFunction;
    }
    case 'auto': {
      const fn = await findInCandidates(ref.candidates, ref.name, ref.source);
      return fn !== undefined ? (fn as AnyFunction) : rebuild(ref.source, ref.name, ref.file);
    }
    case 'source':
      return rebuild(ref.source, ref.name, ref.file);
    default:
      throw new TypeError(`unknown target reference kind ${describeValue((ref as { kind?: unknown }).kind)}`);
  }
}

/**
 * Import each candidate module in turn (skipping ones that cannot be loaded here) and
 * return the first export that is `name` with exactly this source text.
 */
async function findInCandidates(candidates: readonly string[], name: string, source: string): Promise<Function | undefined> {
  for (const candidate of candidates) {
    let ns: Namespace;
    try {
      ns = await importModule(candidate);
    } catch (err) {
      if (isLoadFailure(err)) continue;
      throw err;
    }
    const found = findBySource(ns, name, source);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Child: rebuild a Process subclass instance as Python unpickles one: Object.create of
 * the class's prototype plus the fields (revived); the constructor is not called.
 */
export async function resolveInstance(ref: InstanceRef): Promise<object> {
  const Class = await findInCandidates(ref.candidates, ref.className, ref.source);
  if (Class === undefined) {
    throw new TypeError(
      `Process subclass ${ref.className} was not found among the exports of ${ref.candidates.join(', ')}: ` +
        'export it from the module that defines it',
    );
  }
  const proto: unknown = Class.prototype;
  if (!isObjectish(proto) || typeof proto.run !== 'function') {
    throw new TypeError(`${ref.className} is not a Process subclass (its prototype has no run method)`);
  }
  const obj = Object.create(proto) as Record<string, unknown>;
  const fields = fromWire(ref.fields) as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    Object.defineProperty(obj, key, { value: fields[key], writable: true, enumerable: true, configurable: true });
  }
  return obj;
}
