// npm run fuzz: the fuzz suites of issue 8 (test/fuzz.args.test.ts: the argument
// validation of every public function and constructor; test/fuzz.wire.test.ts: the codec,
// the ring's record reader, connection framing, the authkey handshake and the manager
// protocol) with many runs per boundary, then a summary: cases tried per boundary, calls
// made, failures, crashes.
//
//   node scripts/fuzz.mjs [--runs N] [--seed S] [--only args|wire] [--ignore REGEX]...
//
// --runs     runs per boundary (scaled by each boundary's weight; npm test uses 30).
//            Default 1500: a few minutes on 2 cores.
// --seed     fast-check's seed (default: a random one, printed, to replay a failure).
// --only     one of the two files.
// --ignore   a regular expression: problems whose description matches are counted as
//            "ignored" instead of failing their boundary (to look past a known bug).
//
// The test files read MP_FUZZ_RUNS, MP_FUZZ_SEED and MP_FUZZ_IGNORE, and write their counts
// to MP_FUZZ_REPORT_DIR (a fresh directory under the OS temp dir), which this script reads.
// Exit code: 0 when every boundary passed and no test process crashed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FILES = { args: 'test/fuzz.args.test.ts', wire: 'test/fuzz.wire.test.ts' };

function usage(message) {
  if (message) console.error(`fuzz: ${message}`);
  console.error('usage: node scripts/fuzz.mjs [--runs N] [--seed S] [--only args|wire] [--ignore REGEX]...');
  process.exit(2);
}

let runs = 1500;
let seed = Math.floor(Math.random() * 2 ** 31);
let only = null;
const ignore = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const [flag, inline] = argv[i].split(/=(.*)/s, 2);
  const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
  if (flag === '--runs') {
    runs = Number(value());
    if (!Number.isInteger(runs) || runs < 1) usage('--runs must be a positive integer');
  } else if (flag === '--seed') {
    seed = Number(value());
    if (!Number.isInteger(seed)) usage('--seed must be an integer');
  } else if (flag === '--only') {
    only = value();
    if (!(only in FILES)) usage(`--only must be ${Object.keys(FILES).join(' or ')}`);
  } else if (flag === '--ignore') {
    const re = value();
    try {
      new RegExp(re);
    } catch (err) {
      usage(`--ignore ${re}: ${err.message}`);
    }
    ignore.push(re);
  } else if (flag === '--help' || flag === '-h') usage();
  else usage(`unknown argument ${argv[i]}`);
}

const files = only === null ? Object.values(FILES) : [FILES[only]];
const dir = mkdtempSync(join(tmpdir(), 'mp-fuzz-'));
const vitestJson = join(dir, 'vitest.json');
console.log(`fuzz: ${runs} runs per boundary (scaled by weight), seed ${seed}, ${files.join(' ')}; counts in ${dir}`);

const t0 = Date.now();
const run = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files, '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      MP_FUZZ_RUNS: String(runs),
      MP_FUZZ_SEED: String(seed),
      MP_FUZZ_REPORT_DIR: dir,
      MP_FUZZ_IGNORE: ignore.join('||'),
    },
  },
);
const seconds = (Date.now() - t0) / 1000;

// ------------------------------------------------------------------------------ summary

const readJson = (file) => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
};

const rows = [];
const missing = [];
for (const file of files) {
  const name = file.replace(/^test\//, '').replace(/\.test\.ts$/, '');
  const report = readJson(join(dir, `${name}.json`));
  if (report === null) {
    missing.push(file);
    continue;
  }
  for (const [boundary, c] of Object.entries(report.boundaries)) rows.push({ file: name, boundary, ...c });
}

// Crashes: a test file whose process died (no result for its tests, or vitest says so).
const vitest = readJson(vitestJson);
const crashes = [];
if (vitest !== null) {
  for (const r of vitest.testResults ?? []) {
    const died = /Worker exited unexpectedly|terminated|SIGSEGV|SIGABRT|SIGBUS|crash/i.test(r.message ?? '');
    if (died || (r.status === 'failed' && (r.assertionResults ?? []).length === 0)) crashes.push(`${r.name.replace(`${root}/`, '')}: ${(r.message ?? '').split('\n')[0]}`);
  }
}
for (const f of missing) if (!crashes.some((c) => c.startsWith(f))) crashes.push(`${f}: wrote no counts (crashed before its first boundary finished?)`);

const pad = (s, n) => String(s).padEnd(n);
const num = (s, n) => String(s).padStart(n);
console.log('');
console.log(`fuzz summary (seed ${seed}, ${runs} runs per boundary before weights, ${seconds.toFixed(0)} s)`);
console.log(`${pad('file', 11)} ${pad('boundary', 42)} ${num('cases', 8)} ${num('calls', 9)} ${num('shrinks', 8)} ${num('failed', 7)} ${num('ignored', 8)} ${num('s', 6)}`);
const total = { cases: 0, calls: 0, shrinks: 0, failures: 0, ignored: 0 };
for (const r of rows) {
  console.log(
    `${pad(r.file, 11)} ${pad(r.boundary, 42)} ${num(r.cases, 8)} ${num(r.calls, 9)} ${num(r.shrinks, 8)} ${num(r.failures, 7)} ${num(r.ignored ?? 0, 8)} ${num((r.ms / 1000).toFixed(1), 6)}`,
  );
  for (const k of Object.keys(total)) total[k] += r[k] ?? 0;
}
console.log(`${pad('', 11)} ${pad('total', 42)} ${num(total.cases, 8)} ${num(total.calls, 9)} ${num(total.shrinks, 8)} ${num(total.failures, 7)} ${num(total.ignored, 8)}`);
console.log(`crashes: ${crashes.length}`);
for (const c of crashes) console.log(`  ${c}`);

const failed = rows.filter((r) => r.failures > 0);
if (failed.length > 0) {
  console.log('\nfailures (first line of each; the full fast-check report, with the counterexample, is above):');
  for (const r of failed) {
    const lines = (r.problem ?? '').split('\n');
    const counterexample = lines.find((l) => l.startsWith('Counterexample:')) ?? '';
    const got = lines.find((l) => l.startsWith('Got:')) ?? lines[0];
    console.log(`  ${r.file} / ${r.boundary}\n    ${got.slice(0, 400)}\n    ${counterexample.slice(0, 400)}`);
  }
}
const ignoredRows = rows.filter((r) => (r.ignored ?? 0) > 0);
if (ignoredRows.length > 0) {
  console.log('\nignored (--ignore):');
  for (const r of ignoredRows) console.log(`  ${r.file} / ${r.boundary}: ${r.ignored}`);
}
console.log(`\nreplay: node scripts/fuzz.mjs --runs ${runs} --seed ${seed}${only === null ? '' : ` --only ${only}`}`);

const ok = run.status === 0 && failed.length === 0 && crashes.length === 0;
if (ok) rmSync(dir, { recursive: true, force: true });
else if (existsSync(dir)) console.log(`counts and vitest's JSON report kept in ${dir}`);
process.exit(ok ? 0 : 1);
