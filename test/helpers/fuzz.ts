// The harness both fuzz suites share (test/fuzz.*.test.ts): settings from the
// environment, per-boundary counts written for scripts/fuzz.mjs, MP_FUZZ_IGNORE, and the
// uncaught exceptions and unhandled rejections seen while a property runs.
//
// MP_FUZZ_RUNS sets the runs per boundary (default small, for npm test), MP_FUZZ_SEED the
// seed (default fixed, so npm test is deterministic), MP_FUZZ_REPORT_DIR where to write the
// per-boundary counts (scripts/fuzz.mjs sets it and prints them), MP_FUZZ_IGNORE regular
// expressions ('||'-separated) of known problems to look past (counted as ignored).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll } from 'vitest';

export const RUNS = Math.max(1, Number(process.env.MP_FUZZ_RUNS) || 30);
export const SEED = process.env.MP_FUZZ_SEED !== undefined && process.env.MP_FUZZ_SEED !== '' ? Number(process.env.MP_FUZZ_SEED) : 20240817;
/** How long one call may take before it counts as a hang. */
export const CALL_MS = 3000;
/** Time budget of one property, shrinking included. */
export const PROPERTY_MS = Math.max(60_000, RUNS * 400);
export const runs = (weight: number) => Math.max(3, Math.round(RUNS * weight));

interface BoundaryCount {
  cases: number;
  calls: number;
  shrinks: number;
  failures: number;
  ignored: number;
  ms: number;
  seed: number;
  problem?: string;
}

/** A value for a message: short, and never a throw (hostile getters, odd prototypes). */
export function show(v: unknown): string {
  try {
    return inspect(v, { depth: 3, breakLength: Infinity, maxArrayLength: 24, maxStringLength: 80 }).slice(0, 300);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** An error with up to three levels of its causes (and their first stack lines). */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return show(err);
  let text = `${err.name}: ${err.message}`;
  for (let c = err.cause, n = 0; c !== undefined && n < 3; c = c instanceof Error ? c.cause : undefined, n++) {
    text += `\n  caused by ${c instanceof Error ? `${c.constructor.name}: ${c.message}\n    ${(c.stack ?? '').split('\n').slice(1, 4).join('\n    ')}` : show(c)}`;
  }
  return text;
}

const IGNORE = (process.env.MP_FUZZ_IGNORE ?? '')
  .split('||')
  .filter((s) => s !== '')
  .map((s) => new RegExp(s));

/**
 * The harness of one fuzz file (`name`: 'fuzz.args' for test/fuzz.args.test.ts). Installs
 * the file's hooks: stray errors are collected while it runs, the report is written at the end.
 */
export function fuzzHarness(name: string) {
  const report: Record<string, BoundaryCount> = {};
  let calls = 0;
  let ignored: string[] = [];
  /** Uncaught exceptions and unhandled rejections seen while a property runs. */
  const stray: string[] = [];

  const writeReport = (): void => {
    const dir = process.env.MP_FUZZ_REPORT_DIR;
    if (dir === undefined || dir === '') return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.json`), JSON.stringify({ file: `test/${name}.test.ts`, runs: RUNS, seed: SEED, boundaries: report }, null, 1));
  };

  const onStray = (kind: string) => (err: unknown) => {
    stray.push(`${kind}: ${err instanceof Error ? `${err.name}: ${err.message}` : inspect(err)}`);
  };
  const onUncaught = onStray('uncaught exception');
  const onUnhandled = onStray('unhandled rejection');
  beforeAll(() => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
    writeReport();
  });

  /** A broken rule: fails the property (unless MP_FUZZ_IGNORE says to look past it). */
  const fail = (text: string, cause?: unknown): void => {
    if (IGNORE.some((re) => re.test(text))) {
      ignored.push(text);
      return;
    }
    throw new Error(text, cause === undefined ? undefined : { cause });
  };

  /** Run `property` `numRuns` times; record the counts under `boundary`; fail with fast-check's report. */
  const fuzz = async <Ts extends [unknown, ...unknown[]]>(
    boundary: string,
    numRuns: number,
    property: fc.IAsyncPropertyWithHooks<Ts>,
    options: { examples?: Ts[]; endOnFailure?: boolean } = {},
  ): Promise<void> => {
    const t0 = performance.now();
    const calls0 = calls;
    stray.length = 0;
    ignored = [];
    const entry = (report[boundary] ??= { cases: 0, calls: 0, shrinks: 0, failures: 0, ignored: 0, ms: 0, seed: SEED });
    let details: fc.RunDetails<Ts>;
    try {
      details = await fc.check(property, {
        numRuns,
        seed: SEED,
        examples: options.examples ?? [],
        endOnFailure: options.endOnFailure ?? false,
        interruptAfterTimeLimit: PROPERTY_MS,
      });
    } catch (err) {
      entry.failures++;
      entry.problem = `fast-check itself failed: ${errorText(err)}`;
      writeReport();
      throw err;
    }
    entry.cases += details.numRuns;
    entry.calls += calls - calls0;
    entry.shrinks += details.numShrinks;
    entry.ignored += ignored.length;
    if (ignored.length > 0) entry.problem = `ignored (MP_FUZZ_IGNORE): ${[...new Set(ignored)].slice(0, 5).join(' | ')}`.slice(0, 4000);
    ignored = [];
    entry.ms += Math.round(performance.now() - t0);
    if (details.failed) {
      entry.failures++;
      const message = `${fc.defaultReportMessage(details) ?? 'failed'}\nGot: ${details.errorInstance === null ? (details.interrupted ? 'interrupted (time limit)' : 'no error') : errorText(details.errorInstance)}`;
      entry.problem = message.slice(0, 4000);
      writeReport();
      throw new Error(message);
    }
    writeReport();
  };

  /** Count one call made by a property (the report's `calls`). */
  const countCall = (): void => {
    calls++;
  };

  return { fail, fuzz, countCall, stray, writeReport };
}

/**
 * Whether structured clone carries `v` faithfully enough to compare after a round trip
 * (class instances arrive as plain objects, Errors and functions differ): plain data, Map,
 * Set, Date, typed arrays, ArrayBuffers and boxed primitives. `excluded` objects (a suite's
 * hostile inputs) count as not faithful.
 */
export function faithful(v: unknown, excluded: (o: object) => boolean = () => false, depth = 0): boolean {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return typeof v !== 'symbol';
  if (typeof v === 'function' || depth > 6 || excluded(v)) return false;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date) return true;
  if (v instanceof Number || v instanceof String || v instanceof Boolean || Object.prototype.toString.call(v) === '[object BigInt]') return true;
  const deeper = (x: unknown) => faithful(x, excluded, depth + 1);
  if (v instanceof Map) return [...v].every(([k, x]) => deeper(k) && deeper(x));
  if (v instanceof Set) return [...v].every(deeper);
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null && proto !== Array.prototype) return false;
  return Object.keys(v).every((k) => deeper((v as Record<string, unknown>)[k]));
}

/** Whether key `k` is an array index (0 to 2**32-2), not a named property. */
function isArrayIndex(k: string): boolean {
  const n = Number(k);
  return String(n >>> 0) === k && n < 2 ** 32 - 1;
}

/**
 * `v` with what a structured clone changes undone (null prototypes, invalid Dates), for a
 * deep comparison. Arrays are walked by their keys (a holey array's length may be
 * 2**32-1); `arrayNames` keeps their named (non-index) properties too, which the queue
 * codec's fast path drops by design.
 */
export function normalize(v: unknown, arrayNames: boolean, seen = new Map<object, unknown>()): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (seen.has(v)) return seen.get(v);
  const again = (x: unknown) => normalize(x, arrayNames, seen);
  if (v instanceof Date) return `Date(${v.getTime()})`;
  if (v instanceof Map) {
    const out = new Map();
    seen.set(v, out);
    for (const [k, x] of v) out.set(again(k), again(x));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(again(x));
    return out;
  }
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    seen.set(v, out);
    const from = v as unknown as Record<string, unknown>;
    const to = out as unknown as Record<string, unknown>;
    for (const k of Object.keys(v)) if (arrayNames || isArrayIndex(k)) to[k] = again(from[k]);
    return out;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const out: Record<string, unknown> = {};
    seen.set(v, out);
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: again((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}
