// The Node peer pools of W5 and W6: piscina, tinypool (threads and processes) and
// workerpool (threads and processes), devDependencies all. A workload line names the
// packages it needs in `packages`; the harness skips the line with a note when one is not
// installed (`missingPackages`), and the line loads it only when it runs (`openPeer`), so
// a workload file still imports, and its other lines still run, without them.
//
// Every pool runs the tasks of bench/lib/peer-worker.mjs (the workloads' own functions) on
// two workers, called by name: `const pool = await openPeer('piscina'); await
// pool.call('double', 21); await pool.close();`.
import { fileURLToPath } from 'node:url';

const WORKERS = 2;
/** The module piscina and tinypool workers load; they call its named exports. */
const WORKER = fileURLToPath(new URL('./peer-worker.mjs', import.meta.url));
/** workerpool's worker script: the same tasks, registered with workerpool.worker(). */
const WORKERPOOL_WORKER = fileURLToPath(new URL('./workerpool-worker.mjs', import.meta.url));

/** Names of `packages` that cannot be resolved from bench/ (not installed). */
export function missingPackages(packages = []) {
  return packages.filter((name) => {
    try {
      import.meta.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

function tinypool(Tinypool, runtime) {
  const pool = new Tinypool({ filename: WORKER, runtime, minThreads: WORKERS, maxThreads: WORKERS });
  return { call: (name, arg) => pool.run(arg, { name }), close: () => pool.destroy() };
}

function workerpool(lib, workerType) {
  const pool = lib.pool(WORKERPOOL_WORKER, { workerType, minWorkers: WORKERS, maxWorkers: WORKERS });
  return { call: (name, arg) => pool.exec(name, [arg]), close: () => pool.terminate() };
}

/** Each peer: its package and how to make a two-worker pool from the package's export. */
const PEERS = {
  piscina: {
    package: 'piscina',
    open: (Piscina) => {
      const pool = new Piscina({ filename: WORKER, minThreads: WORKERS, maxThreads: WORKERS });
      return { call: (name, arg) => pool.run(arg, { name }), close: () => pool.destroy() };
    },
  },
  'tinypool-thread': { package: 'tinypool', open: (Tinypool) => tinypool(Tinypool, 'worker_threads') },
  'tinypool-process': { package: 'tinypool', open: (Tinypool) => tinypool(Tinypool, 'child_process') },
  'workerpool-thread': { package: 'workerpool', open: (lib) => workerpool(lib, 'thread') },
  'workerpool-process': { package: 'workerpool', open: (lib) => workerpool(lib, 'process') },
};

function peer(kind) {
  const p = PEERS[kind];
  if (p === undefined) throw new Error(`unknown peer ${kind} (have ${Object.keys(PEERS).join(', ')})`);
  return p;
}

/** The packages a line on `kind` needs, for its `packages` field. */
export const peerPackages = (kind) => [peer(kind).package];

/**
 * Until both workers have answered, run two tasks at a time that each hold a worker for a
 * moment: worker start-up (part of pool creation, which is not timed) is then over before
 * the first timed map, however lazily the pool starts its workers.
 */
async function warm(pool) {
  const seen = new Set();
  for (let round = 0; seen.size < WORKERS && round < 200; round++) {
    const ids = await Promise.all(Array.from({ length: WORKERS }, () => pool.call('whoAmI', 20)));
    for (const id of ids) seen.add(id);
  }
  if (seen.size < WORKERS) throw new Error(`only ${seen.size} of ${WORKERS} workers answered`);
}

/** A started, warm two-worker pool of `kind`: `{ call(name, arg), close() }`. */
export async function openPeer(kind) {
  const p = peer(kind);
  const mod = await import(p.package);
  const pool = p.open(mod.default ?? mod);
  try {
    await warm(pool);
  } catch (err) {
    await pool.close();
    throw err;
  }
  return pool;
}

/** `call` on every item, one task each; the results in input order. */
export const mapEach = (input, call) => Promise.all(input.map(call));

/** `callChunk` on consecutive slices of `size` items, one task each; the results joined. */
export async function mapChunked(input, size, callChunk) {
  const chunks = [];
  for (let i = 0; i < input.length; i += size) chunks.push(input.slice(i, i + size));
  return (await Promise.all(chunks.map(callChunk))).flat();
}
