// npm run test:asan: build the addon with AddressSanitizer + UndefinedBehaviorSanitizer
// (cmake-js, CMakeLists.txt, into build-asan/) and run the tests that reach native code
// against it: the addon's own tests and those that drive it through the library.
//
// Node itself is not instrumented, so libasan must be loaded first (LD_PRELOAD) and leak
// detection is off (Node keeps memory alive at exit by design). The tests and the library
// load the sanitized addon through MP_ADDON_PATH (lib/native.ts, test/native-helpers.ts),
// and every process they start inherits it with LD_PRELOAD. Extra arguments replace the
// file list (e.g. `npm run test:asan -- test/queue.test.ts`). Linux (gcc or clang) only.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build-asan');

if (process.platform !== 'linux') {
  console.error('test:asan: Linux only (LD_PRELOAD of libasan)');
  process.exit(1);
}

// Compile against this Node's own headers when they are installed (no download);
// otherwise cmake-js falls back to the node-api-headers package.
const nodeInclude = join(dirname(process.execPath), '..', 'include', 'node');
const defines = ['--CDMP_SANITIZE=ON'];
if (existsSync(join(nodeInclude, 'node_api.h'))) defines.push(`--CDMP_NODE_INCLUDE=${nodeInclude}`);

console.log('test:asan: building build-asan/ with -fsanitize=address,undefined');
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'build', '--out', out, ...defines],
  { cwd: root, stdio: 'inherit' },
);
const addon = join(out, 'Release', 'multiprocessing.node');
if (!existsSync(addon)) {
  console.error(`test:asan: ${addon} was not built`);
  process.exit(1);
}

const cxx = process.env.CXX || 'c++';
const libasan = execFileSync(cxx, ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
if (!libasan.startsWith('/') || !existsSync(libasan)) {
  console.error(`test:asan: libasan.so not found (${cxx} -print-file-name=libasan.so gave "${libasan}")`);
  process.exit(1);
}

// The native tests, and the tests that drive the addon through the library (every process
// the library starts loads the addon named by MP_ADDON_PATH too).
const files = [
  'test/native.',
  'test/shared_memory.test.ts',
  'test/shareable_list.test.ts',
  'test/sharedctypes.test.ts',
  'test/heap.test.ts',
  'test/synchronize.test.ts',
  'test/semaphore.test.ts',
  'test/condition.test.ts',
  'test/event.test.ts',
  'test/barrier.test.ts',
  'test/queue.test.ts',
  'test/queue.regressions.test.ts',
  'test/pipe.test.ts',
  'test/connection.test.ts',
  'test/process.test.ts',
  'test/process.forkserver.test.ts',
  'test/forkserver.zygote.test.ts',
  'test/pool.test.ts',
  'test/resource_tracker.test.ts',
  'test/fuzz.args.test.ts',
  'test/fuzz.wire.test.ts',
];
// Arguments naming test files (test/...) replace the list; the others go to vitest.
const args = process.argv.slice(2);
const paths = args.filter((a) => a.startsWith('test/'));
const run = [...(paths.length > 0 ? paths : files), ...args.filter((a) => !a.startsWith('test/'))];
// Sanitized processes start and run slower: deadlines the tests set themselves
// (test/helpers/async.ts) and vitest's default timeouts get this factor.
const SLOWDOWN = 4;

// ASan writes its reports to files (log_path), so one from a process whose death a test
// tolerates (a pool worker, a killed child) is still seen. gcc's separate libubsan ignores
// log_path next to ASan: its reports go to the process's stderr (and abort it), so vitest's
// output, where the stderr of most processes ends up, is scanned for them too.
const logs = mkdtempSync(join(tmpdir(), 'mp-asan-'));
const audit = join(logs, 'addon-loads.jsonl');
const env = {
  ...process.env,
  MP_ADDON_PATH: addon,
  MP_ASAN_AUDIT: audit,
  MP_TEST_SLOWDOWN: String(SLOWDOWN),
  NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require ${JSON.stringify(join(root, 'scripts', 'asan-audit.cjs'))}`]
    .filter(Boolean)
    .join(' '),
  LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(':'),
  // detect_leaks=0: Node's own allocations at exit are not ours to judge.
  ASAN_OPTIONS: `detect_leaks=0:abort_on_error=1:halt_on_error=1:print_summary=1:log_path=${join(logs, 'asan')}`,
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1:abort_on_error=1',
};
console.log(`test:asan: vitest run ${run.join(' ')}\n  with LD_PRELOAD=${libasan}, reports in ${logs}`);
const started = Date.now();
const vitest = spawn(
  process.execPath,
  [
    join(root, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    `--testTimeout=${60_000 * SLOWDOWN}`,
    `--hookTimeout=${60_000 * SLOWDOWN}`,
    ...run,
  ],
  { cwd: root, env, stdio: ['inherit', 'pipe', 'pipe'] },
);
const SANITIZER_LINE = /runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer/;
const seen = [];
for (const [from, to] of [
  [vitest.stdout, process.stdout],
  [vitest.stderr, process.stderr],
]) {
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => {
    to.write(`${line}\n`);
    if (SANITIZER_LINE.test(line)) seen.push(line);
  });
}
const [status] = await once(vitest, 'close');
console.log(`test:asan: vitest took ${Math.round((Date.now() - started) / 1000)} s`);

let failed = status !== 0;
const reports = readdirSync(logs).filter((f) => f !== 'addon-loads.jsonl');
for (const f of reports) console.error(`test:asan: sanitizer report ${f}:\n${readFileSync(join(logs, f), 'utf8')}`);
for (const line of seen) console.error(`test:asan: sanitizer output: ${line}`);
if (reports.length > 0 || seen.length > 0) failed = true;

// Every load of the addon must be the sanitized build, with libasan in the process.
const loads = existsSync(audit)
  ? readFileSync(audit, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((l) => basename(l.addon) === 'multiprocessing.node')
  : [];
const wrong = loads.filter((l) => resolve(l.addon) !== addon || !l.asan);
for (const l of wrong) console.error(`test:asan: pid ${l.pid} loaded ${l.addon} (libasan mapped: ${l.asan})`);
const pids = new Set(loads.map((l) => l.pid)).size;
console.log(
  `test:asan: ${loads.length} addon loads in ${pids} processes, ${loads.length - wrong.length} of them the sanitized build; ${reports.length} sanitizer report files, ${seen.length} sanitizer lines in the output`,
);
if (loads.length === 0 || wrong.length > 0) failed = true;
if (!failed) rmSync(logs, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
