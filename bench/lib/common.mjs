// Helpers shared by every workload child (and the harness): argument parsing, the JSON
// line format, result checks, medians and clocks.
//
// A workload child prints one JSON object per measured line on stdout and nothing else;
// progress and errors go to stderr. A failed check prints `ERROR ...` and sets a non-zero
// exit code, which the harness turns into its own non-zero exit.
import { performance } from 'node:perf_hooks';

/**
 * Which way is better for a unit: 'lower' for times (ns/op, us/roundtrip, ms/process, s,
 * ns/elem ...), 'higher' for rates (msg/s, elem/s, items/s, ops/s) and speedup, null
 * when the unit does not say (an outside script's own ratio, for instance).
 */
export function betterWhen(unit) {
  if (/^(ns|us|ms|s)(\/|$)/.test(unit)) return 'lower';
  if (/\/s$/.test(unit) || unit === 'speedup') return 'higher';
  return null;
}

/** Parse `--flag`, `--key value` and positionals. Flags listed in `valued` take a value. */
export function parseArgs(argv, valued = ['impl', 'repeats', 'role']) {
  const out = { _: [], quick: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      out._.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (eq > 0) out[key] = a.slice(eq + 1);
    else if (valued.includes(key)) {
      if (i + 1 >= argv.length) throw new Error(`--${key} needs a value`);
      out[key] = argv[++i];
    } else out[key] = true;
  }
  return out;
}

export function median(values) {
  if (values.length === 0) throw new Error('median of nothing');
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Round to 4 significant digits: enough for a benchmark, short in JSON. */
export function round(value) {
  return Number.isFinite(value) ? Number(value.toPrecision(4)) : value;
}

/** One line of benchmark output. */
export function emit(bench, impl, value, unit, n) {
  if (!Number.isFinite(value)) {
    fail(`${bench} ${impl}: measured a non-finite value ${value}`);
    return;
  }
  process.stdout.write(`${JSON.stringify({ bench, impl, value: round(value), unit, n })}\n`);
}

export function note(msg) {
  process.stderr.write(`${msg}\n`);
}

export function fail(msg) {
  process.stderr.write(`ERROR ${msg}\n`);
  process.exitCode = 1;
}

/** Check a workload's result; false (and an ERROR on stderr) when wrong. */
export function check(ok, msg) {
  if (!ok) fail(msg);
  return ok;
}

/** Milliseconds, sub-microsecond resolution, process-local origin. */
export const now = () => performance.now();

/** CLOCK_MONOTONIC in ns as a BigInt: the same clock in every process (and in Python's
 * time.monotonic_ns), so timestamps can cross process boundaries. */
export const monoNs = () => process.hrtime.bigint();

/** The rate unit for a count over elapsed milliseconds. */
export const perSecond = (count, ms) => (count * 1000) / ms;

/** Call `fn(i)` `times` times, sequentially, collecting the results. */
export async function repeat(times, fn) {
  const values = [];
  for (let i = 0; i < times; i++) values.push(await fn(i));
  return values;
}

/** Resolve on the next `event` of `emitter` whose payload passes `filter`. */
export function once(emitter, event, filter = () => true) {
  return new Promise((resolve, reject) => {
    const onEvent = (value) => {
      if (!filter(value)) return;
      cleanup();
      resolve(value);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`child exited (${code}) while waiting for '${event}'`));
    };
    const cleanup = () => {
      emitter.off(event, onEvent);
      if (event !== 'exit') emitter.off('exit', onExit);
    };
    emitter.on(event, onEvent);
    if (event !== 'exit') emitter.on('exit', onExit);
  });
}

/** End a child process started with fork(): disconnect (our children exit on it), SIGTERM
 * if it is still there after a second, and wait for it to be gone. */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => child.kill(), 1000);
  await exited;
  clearTimeout(timer);
}
