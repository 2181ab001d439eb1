// Prove the published package works without a compiler: prebuild, pack, install the
// tarball into a fresh app with CC/CXX/python pointing at /bin/false, and use it there.
// Run by test/package.test.ts; also handy by hand: `node scripts/check-package.mjs`.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

const work = mkdtempSync(join(tmpdir(), 'mp-pack-'));
try {
  // Build and pack a staged copy, so that the checkout's build/ and dist/ (which other
  // tests may be using right now) are never rebuilt under them.
  const stage = join(work, 'pkg');
  mkdirSync(stage);
  for (const entry of ['package.json', 'binding.gyp', 'CMakeLists.txt', 'README.md', 'native', 'dist']) {
    cpSync(join(root, entry), join(stage, entry), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');
  run(npm, ['run', 'prebuild'], { cwd: stage });
  const prebuilt = readdirSync(join(stage, 'prebuilds'), { recursive: true }).filter((f) => String(f).endsWith('.node'));
  if (prebuilt.length === 0) throw new Error('prebuildify made no binary');
  const packed = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: stage }));
  const tarball = join(work, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const must of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'binding.gyp']) {
    if (!files.includes(must)) throw new Error(`tarball lacks ${must}`);
  }
  if (!files.some((f) => f.startsWith('prebuilds/') && f.endsWith('.node'))) throw new Error('tarball lacks prebuilds');
  if (files.some((f) => f.startsWith('build/'))) throw new Error('tarball contains build/');

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const noCompiler = {
    ...process.env,
    CC: '/bin/false',
    CXX: '/bin/false',
    npm_config_python: '/bin/false',
    PYTHON: '/bin/false',
  };
  run(npm, ['install', '--no-audit', '--no-fund', tarball], { cwd: app, env: noCompiler });
  const out = run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import * as mp from 'multiprocessing';
       import { createRequire } from 'node:module';
       const cjs = createRequire(import.meta.url)('multiprocessing');
       const shm = new mp.SharedMemory({ create: true, size: 16 });
       shm.buf[0] = 7;
       const v = mp.Value('d', 1.5);
       const a = mp.Array('i', [1, 2, 3]);
       const lock = new cjs.Lock();
       lock.acquireSync(); lock.release();
       console.log(JSON.stringify({ byte: shm.buf[0], value: v.value, sum: a[0] + a[1] + a[2], same: cjs.Lock === mp.Lock }));
       shm.close(); shm.unlink();`,
    ],
    { cwd: app, env: { ...noCompiler, PREBUILDS_ONLY: '1' } },
  );
  const result = JSON.parse(out.trim().split('\n').pop());
  if (result.byte !== 7 || result.value !== 1.5 || result.sum !== 6 || !result.same) {
    throw new Error(`installed package misbehaved: ${out}`);
  }
  console.log(`package ok: ${packed[0].filename}, ${files.length} files, prebuilt: ${prebuilt.join(', ')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
