import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// prebuildify + npm pack + install of the tarball with no compiler, then use it.
it('installs from its tarball and runs on a machine with no compiler', () => {
  const script = fileURLToPath(new URL('../scripts/check-package.mjs', import.meta.url));
  const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
  expect(out).toMatch(/package ok: multiprocessing-.*\.tgz/);
}, 300_000);
