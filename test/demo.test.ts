// The `npm start` demo runs to the end, its two renders agree, and it reports a speed-up.
// (How large the speed-up is belongs to the benchmarks, not to a test.)
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const demo = fileURLToPath(new URL('../examples/demo.mjs', import.meta.url));

it('the demo renders with one process and with a Pool, and the images agree', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [demo], { timeout: 120_000 });
  expect(stdout).toMatch(/results agree: yes/);
  expect(stdout).toMatch(/speed-up:\s+\d+\.\d+x on \d+ cores/);
  expect(stdout).toMatch(/mp\.Pool/);
}, 130_000);
