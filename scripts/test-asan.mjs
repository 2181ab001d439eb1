// npm run test:asan: build the addon with AddressSanitizer + UndefinedBehaviorSanitizer
// (cmake-js, CMakeLists.txt, into build-asan/) and run the native tests against it.
//
// Node itself is not instrumented, so libasan must be loaded first (LD_PRELOAD) and leak
// detection is off (Node keeps memory alive at exit by design). The tests load the
// sanitized addon through MP_ADDON_PATH (test/native-helpers.ts), and every fixture
// process they start inherits both variables. Linux (gcc or clang) only.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  [join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'rebuild', '--out', out, ...defines],
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

const env = {
  ...process.env,
  MP_ADDON_PATH: addon,
  LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(':'),
  // detect_leaks=0: Node's own allocations at exit are not ours to judge.
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1:print_summary=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
console.log(`test:asan: running test/native.* with LD_PRELOAD=${libasan}`);
const r = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/native', ...process.argv.slice(2)],
  { cwd: root, env, stdio: 'inherit' },
);
process.exit(r.status ?? 1);
