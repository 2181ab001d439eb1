// A private copy of the built package for the run: package.json, dist/, the native addon
// and these scripts, with node_modules linked. Other work in the tree rebuilds dist/ in
// place (every `npm test` does), and a process started while tsc rewrites a file loads it
// truncated; a run of several minutes would meet that. The copy is taken while dist/ is
// quiet and checked unchanged afterwards.
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Newest modification time (ms) of the files under `dir`. */
export function newest(dir) {
  let t = 0;
  for (const f of readdirSync(dir, { recursive: true })) {
    try {
      t = Math.max(t, statSync(join(dir, f)).mtimeMs);
    } catch {
      // removed meanwhile: the caller sees the change through another file
    }
  }
  return t;
}

export async function snapshot(root) {
  const dist = join(root, 'dist');
  for (let attempt = 0; attempt < 60; attempt++) {
    const before = newest(dist);
    if (Date.now() - before < 3000) {
      await sleep(1000);
      continue;
    }
    const dir = mkdtempSync(join(tmpdir(), 'mp-stress-'));
    cpSync(join(root, 'package.json'), join(dir, 'package.json'));
    cpSync(dist, join(dir, 'dist'), { recursive: true });
    for (const sub of ['build/Release', 'prebuilds']) {
      const from = join(root, sub);
      if (existsSync(from)) cpSync(from, join(dir, sub), { recursive: true, filter: (src) => !src.includes('obj.target') });
    }
    cpSync(join(root, 'scripts', 'stress'), join(dir, 'scripts', 'stress'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    if (newest(dist) === before) return { dir, builtAt: new Date(before) };
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('dist/ kept changing for a minute (a build running?); try again, or pass --in-place');
}

export function removeSnapshot(dir) {
  rmSync(dir, { recursive: true, force: true });
}
