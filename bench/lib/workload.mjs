// The child side of a workload file. Each file in bench/workloads/ declares
//   export const workload = { id: 'W3', name: 'lock-uncontended', python: 'w3_lock.py' };
//   export const impls = { 'mp:Lock': { needs: ['Lock'], run: async (opts) => {...} }, ... };
// (`needs`: the library's exports the line uses; `packages`: the npm packages a Node peer
// line loads, see lib/peers.mjs. The harness skips a line when one of either is missing.)
// and ends with `runIfMain(import.meta, workload, impls, roles)`. The harness imports the
// file only to read those declarations, then runs `node <file> --impl <name>` once per
// line, so every line gets a fresh process (no JIT or heap state from another line).
// `roles` are the helper processes/threads a line starts from the same file
// (`--role <name>` for child processes, `workerData.role` for worker threads).
import { isMainThread, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { fail, parseArgs } from './common.mjs';
import { loadMp } from './mp.mjs';

export function runIfMain(meta, workload, impls, roles = {}) {
  if (!isMainThread) {
    if (workerData?.file !== fileURLToPath(meta.url)) return;
    const role = roles[workerData.role];
    if (role === undefined) throw new Error(`unknown worker role ${workerData.role}`);
    role(workerData);
    return;
  }
  if (process.argv[1] !== fileURLToPath(meta.url)) return; // imported by the harness
  // An mp.Process child imports this file to find its target (with the parent's argv).
  const lib = loadMp().mp;
  if (lib !== null && !lib.isMainModule(meta)) return;
  const args = parseArgs(process.argv.slice(2));
  if (args.role !== undefined) {
    const role = roles[args.role];
    if (role === undefined) throw new Error(`unknown role ${args.role}`);
    role(args);
    return;
  }
  const impl = impls[args.impl];
  if (impl === undefined) {
    fail(`${workload.name}: unknown impl ${args.impl} (have ${Object.keys(impls).join(', ')})`);
    return;
  }
  const repeats = args.repeats !== undefined ? Number(args.repeats) : args.quick ? 1 : 3;
  const opts = { bench: workload.name, impl: args.impl, quick: args.quick, repeats };
  Promise.resolve()
    .then(() => impl.run(opts))
    .catch((err) => fail(`${workload.name} ${args.impl}: ${err?.stack ?? err}`))
    // Leftover handles (a child that would not die, a pending timer) must not hang the run.
    .finally(() => process.exit());
}

/** Worker-thread options that route the new thread to `role` of the calling file. */
export function workerOptions(meta, role, data = {}) {
  return { workerData: { ...data, file: fileURLToPath(meta.url), role } };
}
