#!/usr/bin/env node
// The benchmark harness (see BENCH.md): `node bench/run.mjs [--json] [--quick]
// [--repeats N] [W1 pipe-pingpong ...]`.
//
// Every workload line runs in a process of its own: `node bench/workloads/<file> --impl
// <name>` for this library and the Node peers, `python3 bench/python/<script>` for all of
// CPython's lines of a workload, and the outside scripts bench/element-access.mjs and
// bench/wake-latency.mjs as `node <script> --json --repeats N [--quick]` (their contract:
// JSON lines only on stdout, non-zero exit on a failed check; extra fields such as `op`
// are kept and split the table). Their JSON lines are passed on (--json) or collected
// into a table with this library's ratio to each peer. A line that needs a piece of the
// library that is not built yet (its `needs`), or a Node peer package that is not installed
// (its `packages`), is skipped with a note. Exit code 1 when any check failed.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runChild } from './lib/children.mjs';
import { note, parseArgs } from './lib/common.mjs';
import { loadMp, missing, root } from './lib/mp.mjs';
import { missingPackages } from './lib/peers.mjs';
import { formatTable } from './lib/table.mjs';

/** Benchmarks kept in their own scripts by their authors; run as-is, lines passed through. */
const EXTERNAL = [
  { id: null, name: 'element-access', script: join(root, 'bench', 'element-access.mjs') },
  { id: null, name: 'wake-latency', script: join(root, 'bench', 'wake-latency.mjs') },
];

const USAGE = `usage: node bench/run.mjs [--json] [--quick] [--repeats N] [--list] [W1 | name ...]`;

async function discover() {
  const dir = join(root, 'bench', 'workloads');
  const found = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort()) {
    const path = join(dir, file);
    const mod = await import(pathToFileURL(path).href);
    if (mod.workload === undefined) continue;
    found.push({ ...mod.workload, file: path, impls: mod.impls ?? {} });
  }
  const num = (w) => Number(w.id.slice(1));
  found.sort((a, b) => num(a) - num(b));
  return [...found, ...EXTERNAL];
}

function select(all, wanted) {
  if (wanted.length === 0) return all;
  const chosen = [];
  for (const w of wanted) {
    const key = w.toLowerCase();
    const hit = all.find((x) => x.id?.toLowerCase() === key || x.name === key);
    if (hit === undefined) {
      const names = all.map((x) => (x.id ? `${x.id} ${x.name}` : x.name)).join(', ');
      throw new Error(`unknown workload '${w}' (have: ${names})`);
    }
    if (!chosen.includes(hit)) chosen.push(hit);
  }
  return chosen;
}

/** The processes to run for one workload: [{ label, cmd, args } | { label, skip }]. */
function plan(w, opts) {
  const common = ['--repeats', String(opts.repeats), ...(opts.quick ? ['--quick'] : [])];
  if (w.script !== undefined) {
    if (!existsSync(w.script)) return [{ label: w.name, skip: `${relative(root, w.script)} does not exist yet` }];
    return [{ label: w.name, cmd: process.execPath, args: [w.script, '--json', ...common] }];
  }
  const steps = [];
  if (w.python !== undefined) {
    steps.push({ label: `py (${w.python})`, cmd: 'python3', args: [join(root, 'bench', 'python', w.python), ...common] });
  }
  for (const [impl, spec] of Object.entries(w.impls)) {
    const why = whySkip(spec);
    if (why !== null) steps.push({ label: impl, skip: why });
    else steps.push({ label: impl, cmd: process.execPath, args: [w.file, '--impl', impl, ...common] });
  }
  return steps;
}

/** Why a workload line cannot run here (a package or a piece of the build missing), or null. */
function whySkip(spec) {
  const packages = missingPackages(spec.packages);
  if (packages.length > 0) return `${packages.join(', ')} not installed (devDependencies: npm install)`;
  const absent = missing(spec.needs);
  if (absent.length > 0) return loadMp().error ?? `the build has no ${absent.map((n) => `mp.${n}`).join(', ')} yet`;
  return null;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), ['repeats']);
  if (args.help || args.h) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const repeats = args.repeats !== undefined ? Number(args.repeats) : args.quick ? 1 : 3;
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got ${args.repeats}`);
  const all = await discover();
  if (args.list) {
    for (const w of all) process.stdout.write(`${w.id ?? '  '} ${w.name}\n`);
    return 0;
  }
  const chosen = select(all, args._);
  const opts = { quick: args.quick, repeats };
  const timeoutMs = (args.quick ? 3 : 20) * 60_000;
  const failures = [];
  for (const w of chosen) {
    const title = w.id ? `${w.id} ${w.name}` : w.name;
    note(`== ${title}`);
    const lines = [];
    for (const step of plan(w, opts)) {
      if (step.skip !== undefined) {
        note(`  skip ${step.label}: ${step.skip}`);
        continue;
      }
      note(`  run ${step.label}`);
      const res = await runChild(step.cmd, step.args, {
        label: step.label,
        cwd: root,
        timeoutMs,
        onLine: (line) => {
          lines.push(line);
          if (args.json) process.stdout.write(`${JSON.stringify(line)}\n`);
        },
      });
      if (!res.ok) {
        failures.push(`${title} ${step.label}`);
        note(`ERROR ${title} ${step.label}: ${res.why}`);
      }
    }
    if (!args.json) process.stdout.write(`${formatTable(title, lines)}\n`);
  }
  if (failures.length > 0) {
    note(`ERROR ${failures.length} failed: ${failures.join('; ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    note(`ERROR ${err?.message ?? err}`);
    note(USAGE);
    process.exitCode = 2;
  },
);
