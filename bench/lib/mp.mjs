// Loading the built package (dist/) from the benchmarks, and telling which of its pieces
// exist yet: a workload line that needs a missing export is skipped, not failed.
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

let cached;

/** `{ mp, error }`: the CommonJS build (one module instance, as users get it) or why not. */
export function loadMp() {
  if (cached === undefined) {
    try {
      cached = { mp: require(join(root, 'dist', 'index.js')), error: null };
    } catch (err) {
      cached = { mp: null, error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
    }
  }
  return cached;
}

/** The library, or throw (for children that were only started because it is there). */
export function mp() {
  const { mp: lib, error } = loadMp();
  if (lib === null) throw new Error(`cannot load dist/index.js: ${error}`);
  return lib;
}

/** An internal module of the build (e.g. 'reduction' for handles). */
export function internal(name) {
  mp(); // load the public entry first so every reviver is registered
  return require(join(root, 'dist', `${name}.js`));
}

/** Names from `needs` that the built package does not export (all of them if it won't load). */
export function missing(needs = []) {
  const { mp: lib } = loadMp();
  if (lib === null) return [...needs];
  return needs.filter((n) => lib[n] === undefined);
}

/** `new C(...args)` for a class, a plain call for a factory function (mp.Value style). */
export function make(C, ...args) {
  try {
    return new C(...args);
  } catch (err) {
    if (err instanceof TypeError && /not a constructor/.test(err.message)) return C(...args);
    throw err;
  }
}

/** Python's `multiprocessing.reduction`-style handle of a shared object (see lib/reduction.ts). */
export function handleOf(obj) {
  const toHandle = Symbol.for('multiprocessing.toHandle');
  if (typeof obj?.[toHandle] !== 'function') throw new TypeError('object has no [toHandle]() method');
  return obj[toHandle]();
}
