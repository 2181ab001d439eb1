// The forkserver's zygote (Linux): warm children are fork()s of a Node process that has
// the library and earlier targets' modules loaded (lib/zygote.ts). These tests check what
// a forked child must be: its own process (pid, randomness, execArgv), with every runtime
// feature working, and what happens when the zygote dies.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { cmdlineOf, fixturePath, fixtureUrl, isRunning, isZygote, ppidOf, runScript, taggedProcessesAfter, waitGone } from './helpers/scripts.js';

const TARGETS = fixtureUrl('zygote-targets.mjs');
const T = (name: string) => ({ module: TARGETS, name });
const linux = process.platform === 'linux';

interface Probe {
  pid: number;
  ppid: number;
  osPid: number;
  osPpid: number;
  random: number[];
  bytes: string;
  uuid: string;
  int: number;
  fromWorker: number;
  timer: string;
  file: boolean;
  echoed: string;
  kept: number;
  execArgv: string[];
}

describe.skipIf(!linux)('forkserver zygote', () => {
  const ctx = mp.getContext('forkserver');

  it('forked children are their own processes: pid, ppid, randomness, execArgv; workers, timers, fs, child processes and GC work', async () => {
    const q = new mp.Queue<Probe>();
    const ps = Array.from({ length: 4 }, () => new ctx.Process({ target: T('probe'), args: [q] }));
    for (const p of ps) p.start();
    const probes: Probe[] = [];
    for (let i = 0; i < ps.length; i++) probes.push(await q.get({ timeout: 60 }));
    for (const p of ps) await p.join();
    expect(ps.map((p) => p.exitcode)).toEqual([0, 0, 0, 0]);
    const zygote = probes[0]!.osPpid;
    expect(isZygote(zygote)).toBe(true);
    expect(ppidOf(ppidOf(zygote))).toBe(process.pid); // zygote -> server -> this process
    for (const x of probes) {
      expect(x.pid).toBe(x.osPid);
      expect(x.ppid).toBe(x.osPpid);
      expect(x.osPpid).toBe(zygote);
      expect(ps.map((p) => p.pid)).toContain(x.pid);
      expect(x.execArgv).not.toContain('--single-threaded');
      expect(x.execArgv).not.toContain('--use-largepages=silent');
      expect(x.execArgv).not.toContain('--no-short-builtin-calls');
      expect([x.fromWorker, x.timer, x.file, x.echoed, x.kept]).toEqual([2999997, 'fired', true, 'child ok', 200 * 50_000]);
    }
    // Each child draws its own random numbers (V8's generator state is copied by fork).
    const randoms = new Set(probes.flatMap((x) => x.random));
    expect(randoms.size).toBe(probes.length * 2);
    for (const r of randoms) expect(r >= 0 && r < 1).toBe(true);
    expect(new Set(probes.map((x) => x.bytes)).size).toBe(probes.length);
    // Node's caches of random bytes (randomUUID, randomInt) are copied by fork too.
    expect(new Set(probes.map((x) => x.uuid)).size).toBe(probes.length);
    expect(new Set(probes.map((x) => x.int)).size).toBe(probes.length);
    q.close();
  });

  it('a lock held by a forked child that exits is taken over (its owner word names the child, not the zygote)', async () => {
    const lock = new mp.Lock();
    const p = new ctx.Process({ target: T('holdLockAndExit'), args: [lock] });
    p.start();
    await p.join();
    expect(p.exitcode).toBe(0);
    // Taken over about a second after the holder's death is noticed; had the word named the
    // zygote (alive), never.
    const t0 = Date.now();
    expect(await lock.acquire({ timeout: 30 })).toBe(true);
    expect(Date.now() - t0).toBeLessThan(15_000);
    lock.release();
  });

  it('a killed server: running children are reported lost (255), no error escapes, later starts work', async () => {
    const started = new mp.Event();
    const ps = [0, 1].map(() => new ctx.Process({ target: T('sleepFor'), args: [3, started] }));
    for (const p of ps) p.start();
    expect(await started.wait(30)).toBe(true);
    const server = ppidOf(ppidOf(ps[0]!.pid!));
    expect(cmdlineOf(server).some((a) => a.endsWith('forkserver_main.js'))).toBe(true);
    process.kill(server, 'SIGKILL');
    await Promise.all(ps.map((p) => p.join(30)));
    expect(ps.map((p) => p.exitcode)).toEqual([255, 255]);
    const q = new ctx.Process({ target: T('exitWith'), args: [4] });
    q.start();
    await q.join();
    expect(q.exitcode).toBe(4);
  });

  it("a killed zygote: a running child's exit code is still reported, later starts work", async () => {
    const started = new mp.Event();
    const p = new ctx.Process({ target: T('sleepFor'), args: [1, started] });
    p.start();
    // Killed before it took its job, the child would die with the zygote (as it should).
    expect(await started.wait(30)).toBe(true);
    const zygote = ppidOf(p.pid!);
    expect(isZygote(zygote)).toBe(true);
    process.kill(zygote, 'SIGKILL');
    expect(await waitGone(zygote)).toBe(true);
    // The child outlives its zygote and is reparented to the server, which reaps it.
    expect(isRunning(p.pid!)).toBe(true);
    await p.join();
    expect(p.exitcode).toBe(0);
    const q = new ctx.Process({ target: T('exitWith'), args: [5] });
    q.start();
    await q.join();
    expect(q.exitcode).toBe(5);
  });

  // A forked child's exit hands the unmapping of its memory to a holder process
  // (zygote_linux.cc): the child itself is reaped, and joined, sooner. Its files must still
  // be closed by then, and the holders must not pile up.
  it("a forked child's files are closed when join returns: the port it listened on is free at once", async () => {
    for (let round = 0; round < 5; round++) {
      const port = await freePort();
      const listening = new mp.Event();
      const p = new ctx.Process({ target: T('listenAndReturn'), args: [port, listening] });
      p.start();
      expect(await listening.wait(30)).toBe(true);
      await p.join();
      expect(p.exitcode).toBe(0);
      expect(await canListen(port)).toBe(true);
    }
  });

  it('the memory holders of exited children are reaped: no zombie or holder stays under the server', async () => {
    const started = new mp.Event();
    const first = new ctx.Process({ target: T('sleepFor'), args: [0.2, started] });
    first.start();
    expect(await started.wait(30)).toBe(true);
    const zygote = ppidOf(first.pid!);
    const server = ppidOf(zygote);
    await first.join();
    const ps: mp.Process[] = [first];
    for (let i = 0; i < 20; i++) {
      const p = new ctx.Process({ target: T('exitWith'), args: [0] });
      p.start();
      await p.join();
      expect(p.exitcode).toBe(0);
      ps.push(p);
    }
    // The server's children: the zygote and, for a moment, holders and their zombies.
    const end = Date.now() + 10_000;
    let others = childrenOf(server).filter((pid) => pid !== zygote);
    while (others.length > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      others = childrenOf(server).filter((pid) => pid !== zygote);
    }
    expect(others).toEqual([]);
    for (const p of ps) expect(isRunning(p.pid!)).toBe(false);
  });

  it("a killed zygote whose server has not looked at the slots since the fork: the running child's exit is still reported", async () => {
    // With more than LOW_POOL warm children ready nobody wakes the server at a fork, a
    // ready post or a claim: it may not know the running child's pid when the zygote dies.
    for (let round = 0; round < 3; round++) {
      const burst = Array.from({ length: 6 }, () => new ctx.Process({ target: T('exitWith'), args: [0] }));
      for (const p of burst) p.start();
      for (const p of burst) await p.join();
      await new Promise((r) => setTimeout(r, 300)); // the pool refills, beyond LOW_POOL
      const running = Array.from({ length: 4 }, () => {
        const started = new mp.Event();
        const p = new ctx.Process({ target: T('sleepFor'), args: [0.5, started] });
        p.start();
        return { p, started };
      });
      for (const { started } of running) expect(await started.wait(30)).toBe(true);
      // (After a zygote's death the server boots warm children until the next zygote is
      // up: only zygotes are killed, never the server that is the parent of booted ones.)
      const zygotes = [...new Set(running.map(({ p }) => ppidOf(p.pid!)))].filter(isZygote);
      if (round === 0) expect(zygotes.length).toBe(1);
      for (const zygote of zygotes) process.kill(zygote, 'SIGKILL');
      for (const zygote of zygotes) expect(await waitGone(zygote)).toBe(true);
      for (const { p } of running) await p.join(20);
      expect(running.map(({ p }) => p.exitcode)).toEqual([0, 0, 0, 0]);
    }
  });

  it('MP_FORKSERVER_ZYGOTE=0 (warm children booted, as where there is no zygote): a program\'s starts, burst and nesting work the same', async () => {
    const r = await runScript(fixturePath('process-main.mjs'), ['forkserver'], { env: { MP_FORKSERVER_ZYGOTE: '0' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports.find((x) => typeof x === 'object' && x !== null && 'codes' in x)).toEqual({ codes: [0, 1, 9], burst: [0, 0, 0, 0, 0, 0] });
  });

  it('module hooks registered in the zygote (a preloaded module): no child is forked, warm children are booted', async () => {
    const r = await runScript(fixturePath('zygote-hooks-main.mjs'), []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ codes: [0, 0, 0, 0], forked: [false, false, false, false] }]);
  });

  it('programs that end while the zygote refills the pool leave no process behind', async () => {
    const tag = `zygote-churn-${process.pid}-${Date.now()}`;
    const run = () => runScript(fixturePath('zygote-churn-main.mjs'), ['30'], { env: { MP_TEST_TAG: tag } });
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([run(), run()]);
      for (const r of results) expect([r.code, r.reports], r.stderr).toEqual([0, [{ ok: true }]]);
    }
    expect(await taggedProcessesAfter(tag)).toEqual([]);
  });

  // What a preloaded module may do that a zygote must not fork over: it stops forking (the
  // server boots warm children instead), or, for async work, waits for it first.
  const unfitCases = [
    { preload: 'value', does: 'makes a shared Value', forked: false, value: [1, 1, 1] }, // each process its own Value
    { preload: 'spawn', does: 'runs a command', forked: false },
    { preload: 'async', does: 'leaves async file work running', forked: true },
    { preload: 'crypto-async', does: 'leaves crypto work on the thread pool (pbkdf2, async randomInt)', forked: true },
  ] as const;
  for (const c of unfitCases) {
    it(`a preloaded module that ${c.does} at its top level: children ${c.forked ? 'forked once it is done' : 'booted'}, and they work`, async () => {
      const r = await runScript(fixturePath('zygote-unfit-main.mjs'), [c.preload]);
      expect(r.code, r.stderr).toBe(0);
      const { codes, seen } = r.reports[0] as { codes: number[]; seen: { forked: boolean; value: number | null; async: string | null; child: string }[] };
      expect(codes).toEqual([0, 0, 0]);
      for (const x of seen) expect(x.child).toBe('ok');
      // The first start may come before the zygote has imported the preload.
      expect(seen.slice(1).map((x) => x.forked)).toEqual([c.forked, c.forked]);
      if (c.preload === 'value') expect(seen.map((x) => x.value)).toEqual(c.value);
      if (c.preload === 'async' || c.preload === 'crypto-async') for (const x of seen) expect(x.async).toBe('done');
    });
  }

  it("a preloaded module that fills Node's caches of random bytes (randomInt, randomUUID, crypto.randomUUID): forked children still draw their own values", async () => {
    const r = await runScript(fixturePath('zygote-unfit-main.mjs'), ['random']);
    expect(r.code, r.stderr).toBe(0);
    const { codes, seen } = r.reports[0] as { codes: number[]; seen: { forked: boolean; draw: { int: number; uuid: string; webUuid: string } }[] };
    expect(codes).toEqual([0, 0, 0]);
    // The first start may come before the zygote has imported the preload.
    const forked = seen.slice(1);
    expect(forked.map((x) => x.forked)).toEqual([true, true]);
    for (const key of ['int', 'uuid', 'webUuid'] as const) {
      expect(new Set(forked.map((x) => x.draw[key])).size, key).toBe(forked.length);
    }
  });

  // A NODE_OPTIONS --require module runs before the watcher: whatever it drew, unseen, every
  // child drains. Node reads NODE_OPTIONS with quotes ("--require=/a b/x.js" is one flag).
  for (const form of ['--require PATH', '"--require=PATH"']) {
    it(`a NODE_OPTIONS ${form} module that fills Node's caches of random bytes before the watcher: forked children still draw their own values`, async () => {
      const r = await runScript(fixturePath('zygote-unfit-main.mjs'), ['draw'], {
        env: { NODE_OPTIONS: form.replace('PATH', fixturePath('zygote-fill-random.cjs')) },
      });
      expect(r.code, r.stderr).toBe(0);
      const { codes, seen } = r.reports[0] as { codes: number[]; seen: { forked: boolean; draw: { int: number; uuid: string; webUuid: string } }[] };
      expect(codes).toEqual([0, 0, 0]);
      const forked = seen.filter((x) => x.forked);
      expect(forked.length).toBeGreaterThanOrEqual(2);
      for (const key of ['int', 'uuid', 'webUuid'] as const) {
        expect(new Set(forked.map((x) => x.draw[key])).size, key).toBe(forked.length);
      }
    });
  }

  it('a quoted NODE_OPTIONS "--experimental-loader=..." (module hooks on a thread of their own): no child is forked', async () => {
    const r = await runScript(fixturePath('zygote-unfit-main.mjs'), ['none'], {
      env: { NODE_OPTIONS: `"--experimental-loader=${fixtureUrl('zygote-loader-hooks.mjs')}"` },
    });
    expect(r.code, r.stderr).toBe(0);
    const { codes, seen } = r.reports[0] as { codes: number[]; seen: { forked: boolean }[] };
    expect(codes).toEqual([0, 0, 0]);
    expect(seen.map((x) => x.forked)).toEqual([false, false, false]);
  });

  it("the zygote's watcher notes each way into Node's caches of random bytes; what it watches keeps its name and length", () => {
    const watcher = fileURLToPath(new URL('../dist/zygote_watch.js', import.meta.url));
    const KEY = "Symbol.for('multiprocessing.zygote.randomCachesUsed')";
    const run = (code: string, watched = true) => {
      const r = spawnSync(process.execPath, [...(watched ? ['--require', watcher] : []), '--input-type=module', '-e', code], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as unknown;
    };
    const ways: [string, string, { int: boolean; uuid: boolean }][] = [
      ['nothing', '', { int: false, uuid: false }],
      ["import { randomInt } from 'node:crypto'", "import { randomInt } from 'node:crypto'; randomInt(10);", { int: true, uuid: false }],
      ['randomInt(max, callback)', "import c from 'node:crypto'; await new Promise((r) => c.randomInt(10, r));", { int: true, uuid: false }],
      ['a FormData body (its boundary)', "const f = new FormData(); f.append('a', 'b'); new Response(f);", { int: true, uuid: false }],
      ["import { randomUUID } from 'node:crypto'", "import { randomUUID } from 'node:crypto'; randomUUID();", { int: false, uuid: true }],
      ["require('node:crypto').webcrypto.randomUUID", "import c from 'node:crypto'; c.webcrypto.randomUUID();", { int: false, uuid: true }],
      ['globalThis.crypto.randomUUID', 'globalThis.crypto.randomUUID();', { int: false, uuid: true }],
      ['URL.createObjectURL', "URL.createObjectURL(new Blob(['x']));", { int: false, uuid: true }],
    ];
    for (const [way, code, used] of ways) expect(run(`${code}\nconsole.log(JSON.stringify(globalThis[${KEY}]));`), way).toEqual(used);
    const shape =
      "import c from 'node:crypto'; import m from 'node:module';" +
      'const fns = [c.randomInt, c.randomUUID, Object.getPrototypeOf(c.webcrypto).randomUUID, URL.createObjectURL, m.register];' +
      'console.log(JSON.stringify(fns.map((f) => [f.name, f.length])));';
    expect(run(shape)).toEqual(run(shape, false));
  });

  it('a --require module that registers module hooks: no child is forked', async () => {
    const r = await runScript(fixturePath('zygote-unfit-main.mjs'), ['none'], {
      execArgv: ['--require', fixturePath('zygote-preloads/register.cjs')],
    });
    expect(r.code, r.stderr).toBe(0);
    const { codes, seen } = r.reports[0] as { codes: number[]; seen: { forked: boolean }[] };
    expect(codes).toEqual([0, 0, 0]);
    expect(seen.map((x) => x.forked)).toEqual([false, false, false]);
  });

  // The zygote adds --use-largepages=silent and --no-short-builtin-calls for itself, unless
  // the program chose (Node takes the last value, and the command line's over
  // NODE_OPTIONS', where V8's flags are not allowed); a child drops only what the zygote added.
  const largePageCases = [
    { given: 'execArgv', value: '--use-largepages=off', flag: /^--use-largepages/ },
    { given: 'execArgv', value: '--use-largepages=silent', flag: /^--use-largepages/ },
    { given: 'NODE_OPTIONS', value: '--use-largepages=off', flag: /^--use-largepages/ },
    { given: 'execArgv', value: '--short-builtin-calls', flag: /^--(no-)?short-builtin-calls$/ },
    { given: 'execArgv', value: '--no-short-builtin-calls', flag: /^--(no-)?short-builtin-calls$/ },
  ] as const;
  for (const c of largePageCases) {
    it(`a program run with ${c.value} in its ${c.given}: the zygote runs with it, forked children keep it`, async () => {
      const options = c.given === 'execArgv' ? { execArgv: [c.value] } : { env: { NODE_OPTIONS: c.value } };
      const r = await runScript(fixturePath('zygote-flags-main.mjs'), [], options);
      expect(r.code, r.stderr).toBe(0);
      const seen = r.reports[0] as { forked: boolean; parentArgs: string[]; execArgv: string[] }[];
      // The first start may come before the zygote is ready.
      const forked = seen.slice(1);
      expect(forked.map((x) => x.forked)).toEqual([true, true]);
      for (const x of forked) {
        const chosen = x.parentArgs.filter((a) => c.flag.test(a));
        expect(chosen.at(-1)).toBe(c.given === 'execArgv' ? c.value : undefined);
        expect(x.execArgv).toEqual(c.given === 'execArgv' ? [c.value] : []);
      }
    });
  }

  it('a zygote that becomes unfit to fork stays to reap its children: a daemon it forked finishes its work', async () => {
    const r = await runScript(fixturePath('zygote-daemon-main.mjs'), []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.reports).toEqual([{ daemon: 0, later: 0 }]);
  });
});

/** A port free on 127.0.0.1 now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether this process can listen on `port` (no other process holds it). */
async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

/** The children of `pid` (every thread's), running or zombie. */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (text !== '') found.push(...text.split(' ').map(Number));
  }
  return found;
}
