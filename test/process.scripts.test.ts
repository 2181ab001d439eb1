// Process as a user runs it: main programs (fixtures/process-*.mjs|cjs) started with plain
// node, their children's output captured through the stdout/stderr the children inherit.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as v8 from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturePath, hasProc, runScript, taggedProcessesAfter, waitGone } from './helpers/scripts.js';

const MAIN = fixturePath('process-main.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'mp-process-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Report = Record<string, unknown>;
const find = (reports: unknown[], key: string) => reports.find((r) => typeof r === 'object' && r !== null && key in r) as Report;

describe('exit protocol', () => {
  it('stderr gets `Process <name>:` and the stack; exit codes 0, 1, n', async () => {
    const r = await runScript(MAIN, ['exitcodes']);
    expect(r.code, r.stderr).toBe(0);
    expect(find(r.reports, 'ok')).toEqual({
      ok: 0,
      fail: 1,
      failAsync: 1,
      uncaught: 1,
      unhandled: 1,
      throwString: 1,
      never: 1,
      exit: 7,
      exitCode: 4,
    });
    // Python's "Process <name>:" line, then the error with its stack (function and file).
    expect(r.stderr).toMatch(/^Process boom:\nError: failed on purpose\n\s+at .*fail.*process-targets\.mjs:\d+/m);
    expect(r.stderr).toMatch(/^Process async-boom:\nTypeError: rejected on purpose\n\s+at .*failAsync/m);
    expect(r.stderr).toMatch(/^Process timer-boom:\nRangeError: thrown from a timer\n\s+at /m);
    expect(r.stderr).toMatch(/^Process unhandled:\nError: nobody handles this\n/m);
    expect(r.stderr).toMatch(/^Process stringy:\nUncaught 'a string, not an Error'/m);
    expect(r.stderr).toMatch(/^Process never:\nError: run\(\) returned a promise that never settled/m);
    // Nothing else: a child that succeeds prints nothing, and no Node.js crash banner.
    expect(r.stderr).not.toMatch(/Node\.js v\d/);
  });

  it('a child ends its daemon children and waits for the others before it exits', async () => {
    const r = await runScript(MAIN, ['leave']);
    expect(r.code, r.stderr).toBe(0);
    const { daemon, worker } = find(r.reports, 'daemon') as { daemon: number; worker: number };
    expect(find(r.reports, 'exitcode')).toEqual({ exitcode: 0 });
    // By the time the child has exited, its daemon is gone and its worker has finished.
    expect(await waitGone(daemon, 5000)).toBe(true);
    expect(await waitGone(worker, 100)).toBe(true);
  });

  it('non-daemon children keep the main program alive until they end', async () => {
    const t0 = Date.now();
    const r = await runScript(MAIN, ['keepalive']);
    expect(r.code, r.stderr).toBe(0);
    const { mainDone } = find(r.reports, 'mainDone') as { mainDone: number };
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(mainDone - t0).toBeLessThan(Date.now() - t0);
    expect(r.reports.length).toBe(2); // the echo of the non-joined child arrived
  });
});

describe('arguments', () => {
  it('every structured-clone type round-trips through args', async () => {
    const r = await runScript(MAIN, ['args']);
    expect(r.code, r.stderr).toBe(0);
    const sent = v8.deserialize(Buffer.from(find(r.reports, 'sent').sent as string, 'base64')) as unknown[];
    const echoed = r.reports.find((x) => typeof x === 'string') as string;
    const got = v8.deserialize(Buffer.from(echoed, 'base64')) as unknown[];
    expect(got.length).toBe(sent.length);
    for (let i = 0; i < sent.length; i++) {
      expect(isDeepStrictEqual(got[i], sent[i]), `arg ${i}: ${String(sent[i])}`).toBe(true);
    }
    // Identity inside the args survives (a cycle, an object referenced twice).
    const cyclic = got[21] as { self: unknown };
    expect(cyclic.self).toBe(cyclic);
    const obj = got[9] as { nested: { b: unknown[] } };
    expect(obj.nested.b[0]).toBe(obj.nested.b[1]);
    expect(got[20]).toBeInstanceOf(RangeError);
    expect(find(r.reports, 'exitcode')).toEqual({ exitcode: 0 });
  });
});

describe('targets', () => {
  it('an anonymous arrow and a plain function expression travel as source', async () => {
    const r = await runScript(MAIN, ['arrow']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ sum: 5 }, { exitcode: 0 }, { plain: 42 }, { exitcode: 0 }]);
  });

  it('a closure over an outer variable fails in the child with an error naming the variable', async () => {
    const r = await runScript(MAIN, ['closure']);
    expect(r.reports).toEqual([{ exitcode: 1 }]);
    expect(r.stderr).toMatch(/^Process closure:\nReferenceError: secret is not defined: .*uses 'secret'.*Export the function/m);
  });

  it('a function exported from the entry module, with the guard', async () => {
    const r = await runScript(MAIN, ['entry']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ entryTarget: 'hello', isMain: false, name: 'Process-1' }, { exitcode: 0 }]);
  });

  it('an explicit { module, name } reference', async () => {
    const r = await runScript(MAIN, ['explicit']);
    expect(r.code, r.stderr).toBe(0);
    expect(find(r.reports, 'tag')).toMatchObject({ tag: 'explicit', name: 'Process-1' });
  });

  it('a CommonJS entry module guarded with require.main === module', async () => {
    const r = await runScript(fixturePath('process-guard.cjs'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([
      { mainIsMain: true, byPath: true },
      { work: 'cjs', isMain: false, requireMain: false },
      { exitcode: 0 },
    ]);
  });

  it('a Process subclass: own fields reach the child, run() may be async, the instance is currentProcess()', async () => {
    const r = await runScript(MAIN, ['subclass']);
    expect(r.code, r.stderr).toBe(0);
    expect(find(r.reports, 'worker')).toEqual({
      worker: { n: 3, extra: { label: 'x', list: [1, 2] }, when: '1970-01-01T00:00:00.000Z', keys: ['n', 'extra', 'when'] },
      name: 'Worker-1',
      current: true,
    });
    expect(find(r.reports, 'asyncWorker')).toEqual({ asyncWorker: 'AsyncWorker-2' });
    expect(find(r.reports, 'exitcodes')).toEqual({ exitcodes: [0, 0], names: ['Worker-1', 'AsyncWorker-2'] });
  });
});

describe('own fields of a Process object', () => {
  it('p.run = fn and data fields reach the child, for Process and for a subclass', async () => {
    const r = await runScript(MAIN, ['runOverride']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([
      { extra: { a: 1 }, name: 'Process-1', isCurrent: true },
      { extra: 'sub', name: 'Worker-2', isCurrent: true },
      { exitcodes: [0, 0] },
    ]);
  });
});

describe('the entry-module guard', () => {
  for (const file of ['process-noguard.mjs', 'process-noguard.cjs']) {
    it(`a missing guard gives the explaining ProcessError and no runaway processes (${file})`, async () => {
      const log = join(tmp, `${file}.log`);
      const tag = `noguard-${file}-${process.pid}`;
      const r = await runScript(fixturePath(file), [], { env: { MP_TEST_LOG: log, MP_TEST_TAG: tag } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.reports).toEqual([{ exitcode: 1 }]);
      expect(r.stderr).toMatch(/^Process Process-1:\nProcessError: An attempt has been made to start a new process/m);
      expect(r.stderr).toContain('if (mp.isMainModule(import.meta))');
      expect(r.stderr).toContain('require.main === module');
      expect(r.stderr).not.toContain('work ran');
      // The module ran twice: in the main program and in its one child. Nothing else runs.
      expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(2);
      if (hasProc) expect(await taggedProcessesAfter(tag)).toEqual([]);
    });
  }
});

describe('the process tree', () => {
  it('nested children are Process-1:1, Process-1:2; parentProcess() and currentProcess() in children', async () => {
    const r = await runScript(MAIN, ['nested']);
    expect(r.code, r.stderr).toBe(0);
    const byTag = new Map((r.reports as Report[]).filter((x) => 'tag' in x).map((x) => [x.tag, x]));
    const main = byTag.get('main')!;
    const child = byTag.get('nested-parent')!;
    expect(main).toMatchObject({ name: 'MainProcess', parent: null });
    expect(child).toMatchObject({
      name: 'Process-1',
      daemon: false,
      alive: true,
      isProcess: true,
      isMain: false,
      argv: ['nested'],
      startMethod: 'spawn',
      parent: { name: 'MainProcess', pid: main.pid, alive: true },
    });
    expect(child.pid).toBe(child.osPid);
    const names = [byTag.get('nested-0')!.name, byTag.get('nested-1')!.name].sort();
    expect(names).toEqual(['Process-1:1', 'Process-1:2']);
    expect(byTag.get('nested-0')).toMatchObject({ parent: { name: 'Process-1', pid: child.pid } });
    // The authkey is inherited all the way down.
    for (const x of byTag.values()) expect(x.authkey).toBe(main.authkey);
    expect(find(r.reports, 'nestedExitcodes')).toEqual({ nestedExitcodes: [0, 0] });
  });

  it("the child's pid is the one start() returned; the authkey is the parent's", async () => {
    const r = await runScript(MAIN, ['whoami']);
    expect(r.code, r.stderr).toBe(0);
    const parent = find(r.reports, 'childPid');
    const child = find(r.reports, 'tag');
    expect(child.pid).toBe(parent.childPid);
    expect(child.authkey).toBe(parent.authkey);
  });

  it('join() of a daemon keeps the program alive until the daemon ends', async () => {
    const r = await runScript(MAIN, ['daemonJoin']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ exitcode: 0 }]);
  });

  it('isMainModule() is true in the entry module, by import.meta, URL or path', async () => {
    const r = await runScript(MAIN, ['isMain']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ meta: true, url: true, urlObject: true, path: true, other: false }, { bad: 'TypeError' }]);
  });

  it('a daemon cannot start children (ProcessError)', async () => {
    const r = await runScript(MAIN, ['daemonChild']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([
      { error: 'ProcessError', code: 'ERR_MP_PROCESS', message: 'daemonic processes are not allowed to have children' },
      { exitcode: 0 },
    ]);
  });
});
