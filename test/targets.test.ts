// Targets: how a function (or a Process subclass instance) is described in one process
// and turned back into something to call in another. The two-process cases run real
// "user programs" (fixtures/targets-parent.{mjs,cjs,mts}) that describe targets in plain
// Node (and under tsx) and run each in a fresh child (fixtures/targets-run.mjs).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runInThisContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/assert.js';

const require = createRequire(import.meta.url);
const targets = require('../dist/targets.js') as typeof import('../dist/targets.js');
const { callerFile, describeInstance, describeTarget, mainModule, resolveInstance, resolveTarget, setMainModule } = targets;

// biome-ignore lint/suspicious/noExplicitAny: reports are JSON of every shape
type Any = any;

const fixtures = path.join(__dirname, 'fixtures');
const fixtureUrl = (name: string) => pathToFileURL(path.join(fixtures, name)).href;
const HERE = fileURLToPath(import.meta.url);

function runProgram(file: string, execArgv: string[] = []): Any {
  const out = execFileSync(process.execPath, [...execArgv, path.join(fixtures, file)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 60_000,
  });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

describe('describeTarget in this process', () => {
  it('refuses bound, native, class and super-using functions with a TypeError naming target', () => {
    function work(x: number) {
      return x;
    }
    const withSuper = {
      m() {
        return super.toString();
      },
    }.m;
    class Klass {}
    expectThrows(() => describeTarget(work.bind(null), HERE), TypeError, /^target 'bound work' is a bound function.*args/);
    expectThrows(() => describeTarget(Math.max, HERE), TypeError, /^target 'max' is a native .*function/);
    expectThrows(() => describeTarget(Array.prototype.map, HERE), TypeError, /^target 'map' is a native/);
    expectThrows(() => describeTarget(Klass, HERE), TypeError, /^target 'Klass' is a class constructor.*mp\.Process/);
    expectThrows(() => describeTarget(withSuper, HERE), TypeError, /^target 'm' uses super/);
    expectThrows(() => describeTarget(withSuper, HERE), TypeError, /^target 'm' uses super/); // (its text's verdict, kept)
  });

  it('refuses what is neither a function nor { module, name }', () => {
    for (const bad of [42, 'work', null, undefined, {}, { module: 'x' }, [1]]) {
      expectThrows(() => describeTarget(bad, HERE), TypeError, /^target must be a function or an explicit reference \{ module, name \}/);
    }
    expectThrows(() => describeTarget({ module: '', name: 'f' }, HERE), TypeError, /^target\.module must be a non-empty string/);
    expectThrows(() => describeTarget({ module: './m.mjs', name: 3 }, HERE), TypeError, /^target\.name must be/);
  });

  it('resolves explicit references: relative to the caller, absolute, URL, bare', () => {
    expect(describeTarget({ module: './fixtures/targets-esm.mjs', name: 'double' }, HERE)).toEqual({
      kind: 'export',
      module: fixtureUrl('targets-esm.mjs'),
      name: 'double',
    });
    // The caller may be given as a file URL too; '../' climbs from its directory.
    expect(describeTarget({ module: '../test/fixtures/targets-cjs.cjs', name: 'triple' }, pathToFileURL(HERE).href)).toEqual({
      kind: 'export',
      module: fixtureUrl('targets-cjs.cjs'),
      name: 'triple',
    });
    const abs = path.join(fixtures, 'targets-esm.mjs');
    expect(describeTarget({ module: abs, name: 'double' }, undefined)).toEqual({ kind: 'export', module: fixtureUrl('targets-esm.mjs'), name: 'double' });
    expect(describeTarget({ module: fixtureUrl('targets-esm.mjs'), name: 'x' }, undefined)).toMatchObject({ module: fixtureUrl('targets-esm.mjs') });
    expect(describeTarget({ module: 'node:os', name: 'cpus' }, HERE)).toEqual({ kind: 'export', module: 'node:os', name: 'cpus' });
    // No caller: relative to the working directory.
    expect(describeTarget({ module: './x.mjs', name: 'f' }, undefined)).toMatchObject({ module: pathToFileURL(path.resolve('x.mjs')).href });
  });

  it('sends anonymous and non-identifier-named functions as source, without candidates', () => {
    const anon = [(x: number) => x * 2][0]!;
    expect(describeTarget(anon, HERE)).toMatchObject({ kind: 'source', name: '', file: HERE });
    const odd = { 'not an identifier'(x: number) { return x; } }['not an identifier'];
    expect(describeTarget(odd, HERE)).toMatchObject({ kind: 'source', name: 'not an identifier' });
  });

  it('finds a function exported by a loaded CommonJS module (no import needed)', () => {
    const cjs = require('./fixtures/targets-cjs.cjs');
    const quadruple = require('./fixtures/targets-cjs-default.cjs');
    expect(describeTarget(cjs.triple, HERE)).toEqual({ kind: 'export', module: fixtureUrl('targets-cjs.cjs'), name: 'triple' });
    expect(describeTarget(cjs.greet, HERE)).toEqual({ kind: 'export', module: fixtureUrl('targets-cjs.cjs'), name: 'greet' });
    expect(describeTarget(quadruple, HERE)).toEqual({ kind: 'export', module: fixtureUrl('targets-cjs-default.cjs'), name: 'default' });
  });

  it('tells functions with the same text apart, and finds exports of modules loaded since the last start (as many modules as before)', () => {
    const a = path.join(fixtures, 'targets-same-text.cjs');
    const b = path.join(fixtures, 'targets-late.cjs');
    const sameText = () => runInThisContext('(x) => x + 1') as (x: number) => number;
    expect(describeTarget(sameText(), HERE)).toMatchObject({ kind: 'source', source: '(x) => x + 1' });
    const exported = require(a);
    expect(describeTarget(exported, HERE)).toEqual({ kind: 'export', module: pathToFileURL(a).href, name: 'default' });
    expect(describeTarget(sameText(), HERE)).toMatchObject({ kind: 'source' });
    // One module out, another in: require.cache holds as many modules as before.
    delete require.cache[a];
    const plus2 = require(b).plus2;
    expect(describeTarget(plus2, HERE)).toEqual({ kind: 'export', module: pathToFileURL(b).href, name: 'plus2' });
    // The last module loaded again: as many modules, the same last id, new functions.
    delete require.cache[b];
    const again = require(b).plus2;
    expect(again).not.toBe(plus2);
    expect(describeTarget(again, HERE)).toEqual({ kind: 'export', module: pathToFileURL(b).href, name: 'plus2' });
    delete require.cache[b];
  });

  it('finds exports of a module loaded while the last module was out of require.cache and put back (as many modules, the same last one)', () => {
    const gone = path.join(fixtures, 'targets-same-text.cjs');
    const last = path.join(fixtures, 'targets-late.cjs');
    const added = path.join(fixtures, 'targets-moved-past.cjs');
    require(gone);
    require(last);
    expect(describeTarget(require(last).plus2, HERE)).toMatchObject({ kind: 'export', name: 'plus2' });
    // One module out and one in, with the last module set aside meanwhile (as a test that
    // stubs it does) and put back after the new one.
    delete require.cache[gone];
    const kept = require.cache[last];
    delete require.cache[last];
    const plus3 = require(added).plus3;
    require.cache[last] = kept;
    try {
      expect(describeTarget(plus3, HERE)).toEqual({ kind: 'export', module: pathToFileURL(added).href, name: 'plus3' });
    } finally {
      delete require.cache[added];
      delete require.cache[last];
    }
  });

  it('a function described before a module that exports it was loaded is found there after (as many modules as before)', () => {
    const gone = path.join(fixtures, 'targets-same-text.cjs');
    const holder = path.join(fixtures, 'targets-holder.cjs');
    const g = globalThis as { __mpHeld?: unknown };
    const held = (x: number) => x * 7;
    require(gone);
    expect(describeTarget(held, HERE)).toMatchObject({ kind: 'source' });
    delete require.cache[gone];
    g.__mpHeld = held;
    try {
      expect(require(holder).held).toBe(held);
      expect(describeTarget(held, HERE)).toEqual({ kind: 'export', module: pathToFileURL(holder).href, name: 'held' });
    } finally {
      delete require.cache[holder];
      delete g.__mpHeld;
    }
  });

  it("finds the library's own functions, also in a library module loaded again (its require.cache entry replaced); a user module that re-exports one does not hide where it is defined", () => {
    const id = require.resolve('../dist/validate.js');
    const lib = pathToFileURL(id).href;
    const first = require(id) as typeof import('../dist/validate.js');
    expect(describeTarget(first.describe, HERE)).toEqual({ kind: 'export', module: lib, name: 'describe' });
    const kept = require.cache[id];
    delete require.cache[id];
    try {
      const again = require(id) as typeof import('../dist/validate.js');
      expect(again.describe).not.toBe(first.describe);
      expect(describeTarget(again.describe, HERE)).toEqual({ kind: 'export', module: lib, name: 'describe' });
    } finally {
      require.cache[id] = kept;
    }
    const user = require('./fixtures/targets-cjs-reexport.cjs');
    expect(user.check).toBe(first.checkString);
    // As Python pickles a function by its defining module: the child imports the library, not the user's module.
    expect(describeTarget(first.checkString, fixtureUrl('targets-cjs-reexport.cjs'))).toEqual({ kind: 'export', module: lib, name: 'checkString' });
  });

  it("finds a library function in a library module put under its id in place, not last (the id keeps its place in require.cache)", () => {
    const id = require.resolve('../dist/validate.js');
    const late = path.join(fixtures, 'targets-late.cjs');
    const kept = require.cache[id]!;
    delete require.cache[id];
    require(id);
    const fresh = require.cache[id]!;
    require.cache[id] = kept;
    delete require.cache[late];
    const plus2 = require(late).plus2;
    try {
      expect(describeTarget(plus2, HERE)).toMatchObject({ kind: 'export', name: 'plus2' }); // (require.cache listed)
      require.cache[id] = fresh;
      expect(Object.keys(require.cache).at(-1)).toBe(late);
      const { describe } = fresh.exports as typeof import('../dist/validate.js');
      expect(describe).not.toBe((kept.exports as typeof import('../dist/validate.js')).describe);
      expect(describeTarget(describe, HERE)).toEqual({ kind: 'export', module: pathToFileURL(id).href, name: 'describe' });
    } finally {
      require.cache[id] = kept;
      delete require.cache[late];
    }
  });

  it('refuses a Process-like instance whose class is not exported', () => {
    class Local {
      run() {}
    }
    expectThrows(() => describeInstance(new Local(), HERE), TypeError, /^Process subclass Local must be exported from the module that defines it/);
  });
});

describe('resolveTarget in this process', () => {
  it('rebuilds functions from source: arrows, async, generators, methods, accessors', async () => {
    const cases: [string, unknown[], unknown][] = [
      ['(a, b) => a * b', [6, 7], 42],
      ['function named(x) { return typeof named + x; }', ['!'], 'function!'],
      ['mul(a, b) { return a * b; }', [3, 4], 12],
      ['"quoted name"(x) { return -x; }', [1], -1],
      ['[Symbol.iterator](x) { return x + 1; }', [1], 2],
      ['get size() { return 5; }', [], 5],
      ['x => require("node:path").basename(x)', ['/a/b.c'], 'b.c'],
      ['() => [typeof module, typeof exports, path.basename(__filename)]', [], ['object', 'object', 'targets.test.ts']],
      // `require` is made on its first use, relative to the function's file
      ['() => path.basename(require.resolve("./fixtures/targets-cjs.cjs"))', [], 'targets-cjs.cjs'],
      ['() => require("./fixtures/targets-cjs.cjs") === require.cache[require.resolve("./fixtures/targets-cjs.cjs")].exports', [], true],
      ['() => [Array.isArray(require.resolve.paths("x")), typeof require.extensions[".js"], require.main === undefined || typeof require.main === "object"]', [], [true, 'function', true]],
      ['() => { require.main = 7; require.resolve = () => "r"; return [require.main, require.resolve("x")]; }', [], [7, 'r']],
    ];
    for (const [source, args, want] of cases) {
      const fn = await resolveTarget({ kind: 'source', source: source.replace('path.', 'require("node:path").'), name: 'x', file: HERE });
      expect(fn(...args), source).toEqual(want);
    }
    const asyncFn = await resolveTarget({ kind: 'source', source: 'async function (x) { await null; return x + 1; }', name: '' });
    await expect(asyncFn(1)).resolves.toBe(2);
    const asyncArrow = await resolveTarget({ kind: 'source', source: 'async x => x * 2', name: '' });
    await expect(asyncArrow(4)).resolves.toBe(8);
    const gen = await resolveTarget({ kind: 'source', source: '*count(n) { for (let i = 0; i < n; i++) yield i; }', name: 'count' });
    expect([...(gen(3) as Iterable<number>)]).toEqual([0, 1, 2]);
    const agen = await resolveTarget({ kind: 'source', source: 'async *count(n) { yield n; }', name: 'count' });
    const got: unknown[] = [];
    for await (const x of agen(9) as AsyncIterable<unknown>) got.push(x);
    expect(got).toEqual([9]);
  });

  it('names the captured variable when a rebuilt function uses its old scope', async () => {
    const fn = await resolveTarget({ kind: 'source', source: '(x) => x * factor', name: 'scale' });
    let caught: Any;
    try {
      fn(2);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ReferenceError);
    expect(caught.message).toMatch(/^factor is not defined: target 'scale' uses 'factor' .*Export the function from its module \(or pass factor in args\)/);
    expect(caught.variable).toBe('factor');
    expect(caught.cause).toBeInstanceOf(ReferenceError);
    // Async: the rejection is rewritten the same way.
    const afn = await resolveTarget({ kind: 'source', source: 'async (x) => { await null; return x * offset; }', name: '' });
    await expect(afn(1)).rejects.toThrow(/^offset is not defined: the target function uses 'offset'.*pass offset in args/);
    // Thrown while rebuilding (a computed method name from the old scope).
    await expect(resolveTarget({ kind: 'source', source: '[key]() { return 1; }', name: '' })).rejects.toThrow(/^key is not defined: .*Export the function/);
  });

  it('leaves other ReferenceErrors and global names alone', async () => {
    const other = await resolveTarget({ kind: 'source', source: '() => { throw new ReferenceError("zzz is not defined"); }', name: '' });
    expect(() => other()).toThrow(/^zzz is not defined$/);
    const globals = await resolveTarget({ kind: 'source', source: '() => [typeof process.pid, Math.max(1, 2), typeof setTimeout]', name: '' });
    expect(globals()).toEqual(['number', 2, 'function']);
  });

  it("imports 'export' refs; 'auto' takes the export with the same source, else rebuilds", async () => {
    const url = fixtureUrl('targets-esm.mjs');
    const double = await resolveTarget({ kind: 'export', module: url, name: 'double' });
    expect(double(4)).toBe(8);
    const source = 'function double(x) {\n  return x * 2;\n}';
    expect(await resolveTarget({ kind: 'auto', candidates: [url], name: 'double', source })).toBe(double);
    // Found under another export name by its source text.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a template literal
    const renamed = await resolveTarget({ kind: 'auto', candidates: [url], name: 'hidden', source: '(x) => `renamed:${x}`' });
    expect(renamed).toBe(await resolveTarget({ kind: 'export', module: url, name: 'renamed' }));
    // Same name, other source: not that export, the source is rebuilt.
    const shadow = await resolveTarget({ kind: 'auto', candidates: [url], name: 'double', source: '(x) => x * 100' });
    expect(shadow).not.toBe(double);
    expect(shadow(5)).toBe(500);
    // A candidate that cannot be loaded here is skipped.
    const missing = await resolveTarget({ kind: 'auto', candidates: [fixtureUrl('targets-nope.mjs'), url], name: 'double', source });
    expect(missing).toBe(double);
  });

  it("reports a candidate module's own error instead of skipping it", async () => {
    await expect(
      resolveTarget({ kind: 'auto', candidates: [fixtureUrl('targets-throws.mjs')], name: 'never', source: 'function never() {}' }),
    ).rejects.toThrow(/boom at import/);
  });

  it('rejects a missing export and an unknown ref kind with a TypeError', async () => {
    await expect(resolveTarget({ kind: 'export', module: fixtureUrl('targets-esm.mjs'), name: 'nope' })).rejects.toThrow(
      /^target: module .*targets-esm\.mjs has no exported function 'nope'; export it/,
    );
    await expect(resolveTarget({ kind: 'export', module: fixtureUrl('targets-esm.mjs'), name: 'arrowTriple' })).resolves.toBeTypeOf('function');
    await expect(resolveTarget({ kind: 'what' } as Any)).rejects.toThrow(TypeError);
  });

  it('rebuilds an instance without calling its constructor', async () => {
    const url = fixtureUrl('targets-esm.mjs');
    const Counter = await resolveTarget({ kind: 'export', module: url, name: 'Counter' });
    const source = Function.prototype.toString.call(Counter);
    const obj: Any = await resolveInstance({ candidates: [url], className: 'Counter', source, fields: { step: 3, data: { tags: new Set(['z']) } } });
    expect(Object.keys(obj)).toEqual(['step', 'data']);
    expect(typeof obj.run).toBe('function');
    expect(obj.step).toBe(3);
    await expect(resolveInstance({ candidates: [url], className: 'Counter', source: 'class Counter {}', fields: {} })).rejects.toThrow(
      /^Process subclass Counter was not found among the exports of .*export it/,
    );
    await expect(
      resolveInstance({ candidates: [url], className: 'double', source: 'function double(x) {\n  return x * 2;\n}', fields: {} }),
    ).rejects.toThrow(/not a Process subclass/);
  });
});

describe('callerFile and mainModule', () => {
  it('callerFile is the calling file, outside the library', () => {
    expect(callerFile()).toBe(HERE);
    expect(describeTarget((x: number) => x, callerFile())).toMatchObject({ file: HERE });
  });

  it('setMainModule overrides the entry module (as a file URL)', () => {
    const before = mainModule();
    try {
      setMainModule(path.join(fixtures, 'targets-esm.mjs'));
      expect(mainModule()).toBe(fixtureUrl('targets-esm.mjs'));
      setMainModule(undefined);
      expect(mainModule()).toBeUndefined();
    } finally {
      setMainModule(before);
    }
  });
});

describe('two processes: an ES module program', () => {
  let out: Any;
  beforeAll(() => {
    out = runProgram('targets-parent.mjs');
  });
  const report = (name: string) => {
    const c = out.cases[name];
    expect(c, name).toBeDefined();
    expect(c.harnessError, name).toBeUndefined();
    return c;
  };

  it('knows its caller and entry module', () => {
    expect(out.callerFile).toBe(fixtureUrl('targets-parent.mjs'));
    expect(out.mainModule).toBe(fixtureUrl('targets-parent.mjs'));
  });

  it('runs functions exported by ES modules, found by name and source', () => {
    const esm = fixtureUrl('targets-esm.mjs');
    expect(report('esmExport').ref).toMatchObject({ kind: 'auto', candidates: [esm], name: 'double' });
    expect(report('esmExport').report).toEqual({ ok: true, result: 42, loaded: ['targets-esm'] });
    expect(report('esmAsync').report).toMatchObject({ ok: true, result: 5 });
    // Exported by the program itself: the child imports it; the guard keeps main() from running.
    expect(report('localExported').ref).toMatchObject({ kind: 'auto', candidates: [fixtureUrl('targets-parent.mjs')] });
    expect(report('localExported').report).toMatchObject({ ok: true, result: 'local:y' });
    expect(report('localExported').report.loaded).toContain('targets-parent');
  });

  it('runs functions exported by CommonJS modules as export refs', () => {
    expect(report('cjsExport').ref).toEqual({ kind: 'export', module: fixtureUrl('targets-cjs.cjs'), name: 'triple' });
    expect(report('cjsExport').report).toEqual({ ok: true, result: 15, loaded: ['targets-cjs'] });
    expect(report('cjsMethod').report).toMatchObject({ ok: true, result: 'hi bob' });
    expect(report('cjsDefault').ref).toMatchObject({ kind: 'export', name: 'default' });
    expect(report('cjsDefault').report).toMatchObject({ ok: true, result: 20 });
  });

  it('rebuilds self-contained functions from source without importing anything', () => {
    const expected: Record<string, unknown> = {
      arrow: 2,
      asyncArrow: 40,
      method: 'HEY!',
      asyncMethod: 'abab',
      generator: [0, 1, 2],
      notExported: 'notExported:z',
    };
    for (const [name, result] of Object.entries(expected)) {
      expect(report(name).ref.kind, name).toBe('source');
      expect(report(name).report, name).toEqual({ ok: true, result, loaded: [] });
    }
  });

  it('falls back to the source when the export of that name is another function', () => {
    expect(report('shadowed').ref).toMatchObject({ kind: 'auto', name: 'double', source: '(x) => x * 100' });
    expect(report('shadowed').report).toMatchObject({ ok: true, result: 500 });
  });

  it('a closure fails in the child with an error naming the variable', () => {
    for (const name of ['closure', 'asyncClosure']) {
      const r = report(name).report;
      expect(r.ok, name).toBe(false);
      expect(r.name).toBe('ReferenceError');
      expect(r.variable).toBe('factor');
      expect(r.message).toMatch(/^factor is not defined: .*Export the function from its module \(or pass factor in args\)/);
    }
  });

  it('explicit references work, including the default export and a builtin module', () => {
    expect(report('explicitRelative').report).toMatchObject({ ok: true, result: 21 });
    expect(report('explicitDefault').report).toMatchObject({ ok: true, result: 'default:1' });
    expect(report('explicitBuiltin').report).toMatchObject({ ok: true, result: 'b.txt' });
    expect(report('explicitMissing').report).toMatchObject({ ok: false, name: 'TypeError' });
  });

  it('refuses bound, native and class targets before any child starts', () => {
    expect(report('bound').describeError).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/^target 'bound double' is a bound function/) });
    expect(report('native').describeError).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/native/) });
    expect(report('klass').describeError).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/class constructor/) });
  });

  it('arguments carry shared objects: the child mutates them, the parent sees it', () => {
    expect(report('wire').report).toMatchObject({
      ok: true,
      result: { sameValue: true, arrayIsTyped: true, lockAcquired: true, nested: true, plain: { big: '7n' } },
    });
    expect(out.after).toMatchObject({ value: 11, array: [99, 2, 3], raw: [0, 2.5, 0, 0], shm0: 7, list0: 'from child' });
  });

  it('a Process-like instance is rebuilt from its fields, constructor not called', () => {
    const r = report('instance');
    expect(r.instance).toEqual([fixtureUrl('targets-esm.mjs')]);
    expect(r.report).toEqual({
      ok: true,
      result: { constructedHere: 0, step: 5, tags: ['a', 'b'], isCounter: true },
      loaded: ['targets-esm'],
    });
    expect(out.after.count).toBe(5);
    expect(out.after.counterArr).toEqual([42, 0, 0]);
  });
});

describe('two processes: a CommonJS program', () => {
  let out: Any;
  beforeAll(() => {
    out = runProgram('targets-parent.cjs');
  });

  it('knows its caller (a path) and entry module', () => {
    expect(out.callerFile).toBe(path.join(fixtures, 'targets-parent.cjs'));
    expect(out.mainModule).toBe(fixtureUrl('targets-parent.cjs'));
  });

  it('runs exports of loaded modules and of the program itself', () => {
    expect(out.cases.cjsExport.report).toMatchObject({ ok: true, result: 6 });
    expect(out.cases.ownExport.ref).toEqual({ kind: 'export', module: fixtureUrl('targets-parent.cjs'), name: 'ownExport' });
    expect(out.cases.ownExport.report).toMatchObject({ ok: true, result: 'own:a' });
    expect(out.cases.explicit.report).toMatchObject({ ok: true, result: 'hi cjs' });
  });

  it('rebuilds source with require() of the sending file; closures name their variable', () => {
    expect(out.cases.notExported.report).toEqual({ ok: true, result: 'notExported:b', loaded: [] });
    expect(out.cases.arrow.report).toMatchObject({ ok: true, result: 4 });
    expect(out.cases.usesRequire.report).toMatchObject({ ok: true, result: 9 });
    expect(out.cases.closure.report).toMatchObject({ ok: false, name: 'ReferenceError', variable: 'offset' });
    expect(out.cases.closure.report.message).toMatch(/target 'addOffset' uses 'offset'/);
  });
});

describe('two processes: a TypeScript program under tsx', () => {
  let out: Any;
  beforeAll(() => {
    out = runProgram('targets-parent.mts', ['--import', 'tsx']);
  });

  it('callerFile is the .mts file', () => {
    expect(out.callerFile).toBe(fixtureUrl('targets-parent.mts'));
  });

  it('finds exports of TypeScript modules in a child that inherits the loader', () => {
    expect(out.cases.square.ref).toMatchObject({ kind: 'auto', candidates: [fixtureUrl('targets-ts.mts')] });
    expect(out.cases.square.report).toMatchObject({ ok: true, result: 49 });
    expect(out.cases.arrowExport.report).toMatchObject({ ok: true, result: '3 sides' });
    expect(out.cases.tsLocal.report).toMatchObject({ ok: true, result: 'ts:1.0' });
  });

  it('rebuilds transpiled source; closures name their variable', () => {
    expect(out.cases.typedArrow.report).toMatchObject({ ok: true, result: 16, loaded: [] });
    expect(out.cases.closure.report).toMatchObject({ ok: false, name: 'ReferenceError', variable: 'scale' });
  });
});
