// { progress: true } draws a bar (done/total, rate, ETA) on a TTY stderr, and nothing
// when stderr is not a TTY. The TTY comes from util-linux's `script`.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixturePath } from './helpers/scripts.js';

const run = promisify(execFile);
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const prog = fixturePath('progress-script.mjs');

describe('Pool progress bar', () => {
  it.skipIf(!hasScript)('on a TTY: a bar that ends at 60/60 with a rate and an ETA', async () => {
    const { stdout } = await run('script', ['-qfec', `${process.execPath} ${prog}`, '/dev/null'], { timeout: 60_000 });
    expect(stdout).toMatch(/\[#+\.*\] \d+\/60 [\d.]+\/s ETA \S+/);
    expect(stdout).toMatch(/\[#{30}\] 60\/60/);
    expect(stdout).toMatch(/sum \S*1770/);
  }, 70_000);

  it('without a TTY: nothing on stderr', async () => {
    const { stdout, stderr } = await run(process.execPath, [prog], { timeout: 60_000 });
    expect(stdout).toMatch(/sum 1770/);
    expect(stderr).toBe('');
  }, 70_000);
});
