// Children inherit execArgv, so a program run under a TypeScript loader starts children
// that can import its .mts/.ts modules and run typed targets and subclasses.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { fixturePath, runScript } from './helpers/scripts.js';

const require = createRequire(import.meta.url);
const TYPED = fixturePath('process-typed.mts');
const expected = [{ norm: 10, name: 'Process-1' }, { total: 10 }, { exitcodes: [0, 0, -15] }];

function tsxCli(): string | null {
  try {
    const pkg = require.resolve('tsx/package.json');
    const cli = pkg.replace(/package\.json$/, 'dist/cli.mjs');
    return existsSync(cli) ? cli : null;
  } catch {
    return null;
  }
}

/** Whether this node can run .mts files itself (--experimental-strip-types, Node >= 22.6). */
function stripTypesFlag(): string | null {
  if ((process.features as { typescript?: unknown }).typescript) return null; // on by default
  try {
    execFileSync(process.execPath, ['--experimental-strip-types', '-e', '0'], { stdio: 'ignore' });
    return '--experimental-strip-types';
  } catch {
    return null;
  }
}

const cli = tsxCli();
const stripTypes = stripTypesFlag();
const nativeTs = Boolean((process.features as { typescript?: unknown }).typescript);

describe('TypeScript loaders reach children', () => {
  it.skipIf(cli === null)('tsx CLI: a typed target and a typed subclass run in children', async () => {
    // `tsx file.mts` runs node with tsx's loader flags; the children inherit them.
    const r = await runScript(TYPED, [], { execArgv: [cli!] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual(expected);
  });

  it('node --import tsx: the same through execArgv', async () => {
    const r = await runScript(TYPED, [], { execArgv: ['--import', 'tsx'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual(expected);
  });

  it.skipIf(process.platform === 'win32')('node --import tsx with the forkserver start method', async () => {
    const r = await runScript(TYPED, ['forkserver'], { execArgv: ['--import', 'tsx'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual(expected);
  });

  it.skipIf(stripTypes === null && !nativeTs)(
    `node --experimental-strip-types (skipped: node ${process.version} has no type stripping)`,
    async () => {
      const r = await runScript(TYPED, [], { execArgv: stripTypes === null ? [] : [stripTypes] });
      expect(r.code, r.stderr).toBe(0);
      expect(r.reports).toEqual(expected);
    },
  );
});
