// Queue, SimpleQueue and JoinableQueue: in this process and across real child processes
// (targets in fixtures/queue-targets.mjs), over real shared memory. Covers API.md's
// "Queues and pipes" and the conventions (timeouts, Sync forms, errors, close/using).
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as mp from 'multiprocessing';
import { afterAll, describe, expect, it } from 'vitest';
import * as targets from './fixtures/queue-targets.mjs';
import { expectThrows } from './helpers/assert.js';
import { fixtureUrl } from './helpers/scripts.js';
import { failure, settles, sleep, until } from './helpers/async.js';
import { mappedSegments } from './helpers/shm_maps.js';

const T = (name: string) => ({ module: fixtureUrl('queue-targets.mjs'), name });

const started: mp.Process[] = [];
afterAll(() => {
  for (const p of started) {
    try {
      if (p.exitcode === null) p.kill();
    } catch {
      // already closed
    }
  }
});

function start(name: string, args: unknown[]): mp.Process {
  const p = new mp.Process({ target: T(name), args });
  p.start();
  started.push(p);
  return p;
}

async function joined(p: mp.Process, seconds = 30): Promise<number | null> {
  await p.join(seconds);
  return p.exitcode;
}

/** Milliseconds `fn` took (awaited). */
async function timed(fn: () => unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

interface Isolated {
  code: number | null;
  stderr: string;
  timedOut: boolean;
  report: unknown;
}

/**
 * Run `body` (ES module code with `mp`, `T(name)` and `report(value)` in scope) in a
 * separate node process, SIGKILLed after `ms`: for code that may block its thread forever.
 */
function runIsolated(body: string, ms = 6_000): Promise<Isolated> {
  const script = `
    import * as mp from ${JSON.stringify(new URL('../dist/index.mjs', import.meta.url).href)};
    const T = (name) => ({ module: ${JSON.stringify(fixtureUrl('queue-targets.mjs'))}, name });
    const report = (value) => console.log(JSON.stringify({ report: value }));
    ${body}
    process.exit(0);
  `;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: ms, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; killed?: boolean }) | null;
      const line = stdout
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"report"'));
      resolve({
        code: e ? (e.code ?? null) : 0,
        stderr,
        timedOut: e?.killed === true,
        report: line === undefined ? undefined : (JSON.parse(line) as { report: unknown }).report,
      });
    });
  });
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ARENA_BYTES = 1 << 20;

/**
 * Watches which segments this process maps while a test runs (other test files may use
 * /dev/shm at the same time, so segments are followed through this process's own maps).
 */
class SegmentWatch {
  private readonly before = mappedSegments();
  private readonly seen = new Set<string>();
  sample(): void {
    for (const name of mappedSegments()) if (!this.before.has(name)) this.seen.add(name);
  }
  get count(): number {
    return this.seen.size;
  }
  /** Those seen that still exist, but for 1 MiB arenas (this process keeps them for small blocks). */
  left(): string[] {
    return [...this.seen].filter((name) => existsSync(`/dev/shm/${name}`) && !isArena(name));
  }
  /** Those seen that this process still maps, but for arenas (which stay mapped while it lives). */
  mapped(): string[] {
    const now = mappedSegments();
    return [...this.seen].filter((name) => now.has(name) && !isArena(name));
  }
}

function isArena(name: string): boolean {
  try {
    return statSync(`/dev/shm/${name}`).size === ARENA_BYTES;
  } catch {
    return false; // unlinked
  }
}

// ------------------------------------------------------------------------------------------

describe('Queue in one process', () => {
  it('is FIFO across messages small, ring-sized and bigger than the ring, as the ring wraps', () => {
    const q = new mp.Queue<{ i: number; s: string }>();
    const sizes = [1, 30_000, 17, 90_000, 300_000, 5, 1000, 60_000, 2_000_000, 33];
    const msg = (i: number) => ({ i, s: String.fromCharCode(65 + (i % 26)).repeat(sizes[i % sizes.length]!) });
    let next = 0;
    let expectNext = 0;
    // In batches whose in-ring bytes stay well under the ring (256 KiB): sync puts never wait.
    for (let round = 0; round < 60; round++) {
      for (let k = 0; k < 3; k++) q.putSync(msg(next++));
      expect(q.qsize()).toBe(3);
      for (let k = 0; k < 3; k++) {
        const got = q.getSync({ timeout: 5 });
        expect(got.i).toBe(expectNext);
        expect(got.s).toBe(msg(expectNext).s);
        expectNext++;
      }
    }
    expect(q.empty()).toBe(true);
    q.close();
  });

  it('qsize, empty and full on unbounded and bounded queues', async () => {
    const q = new mp.Queue();
    expect(q.qsize()).toBe(0);
    expect(q.empty()).toBe(true);
    expect(q.full()).toBe(false);
    for (let i = 0; i < 100; i++) q.putSync(i);
    expect(q.qsize()).toBe(100);
    expect(q.empty()).toBe(false);
    expect(q.full()).toBe(false); // never, unbounded
    for (let i = 0; i < 100; i++) expect(q.getNowait()).toBe(i);
    expect(q.qsize()).toBe(0);
    expect(q.empty()).toBe(true);

    const b = new mp.Queue(2);
    expect(b.full()).toBe(false);
    await b.put('a');
    expect([b.qsize(), b.full(), b.empty()]).toEqual([1, false, false]);
    b.putSync('b');
    expect([b.qsize(), b.full()]).toEqual([2, true]);
    expect(b.getSync()).toBe('a');
    expect([b.qsize(), b.full()]).toEqual([1, false]);
    expect(await b.get()).toBe('b');
    expect([b.qsize(), b.full(), b.empty()]).toEqual([0, false, true]);
    // maxsize <= 0 means unbounded
    for (const m of [0, -1, -100]) {
      const u = new mp.Queue(m);
      for (let i = 0; i < 50; i++) u.putNowait(i);
      expect(u.full()).toBe(false);
      expect(u.qsize()).toBe(50);
      u.close();
    }
    q.close();
    b.close();
  });

  it('maxsize counts messages, not bytes: big messages count one each', async () => {
    const big = Buffer.alloc(300_000, 7); // bigger than the ring: travels in its own block
    const q = new mp.Queue(3);
    q.putSync(big);
    await q.put(big);
    q.putNowait('small');
    expect(q.qsize()).toBe(3);
    expect(q.full()).toBe(true);
    expectThrows(() => q.putNowait('one more'), mp.Full, /full/i);
    expect((q.getSync() as Buffer).equals(big)).toBe(true);
    expect(q.full()).toBe(false);
    q.putNowait(big);
    expect(q.full()).toBe(true);
    expect((q.getSync() as Buffer).length).toBe(300_000);
    expect(q.getSync()).toBe('small');
    expect((q.getSync() as Buffer).equals(big)).toBe(true);
    expect(q.empty()).toBe(true);
    q.close();
  });

  it('a put without blocking succeeds while qsize() < maxsize, however big the messages (Python: only maxsize makes it Full)', async () => {
    // 100 KB messages: two fill the 256 KiB ring by bytes, but the queue holds 10 messages.
    const q = new mp.Queue<string>(10);
    const big = 'x'.repeat(100_000);
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      const fullBefore = q.full();
      try {
        q.putNowait(big + i);
        results.push('ok');
      } catch (err) {
        results.push(`${(err as Error).name} (full() said ${fullBefore}, qsize ${q.qsize()})`);
      }
    }
    let asyncResult = 'ok';
    try {
      await q.put(big, { block: false });
    } catch (err) {
      asyncResult = `${(err as Error).name} (qsize ${q.qsize()})`;
    }
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(asyncResult).toBe('ok');
    q.close();
  });

  it('Full: put/putSync with block false, putNowait, and after a timeout of about the right length', async () => {
    const q = new mp.Queue<number>(2);
    q.putSync(1);
    q.putSync(2);
    const full = (await failure(() => q.put(3, { block: false }))) as mp.Full;
    expect(full).toBeInstanceOf(mp.Full);
    expect(full).toBeInstanceOf(mp.MultiprocessingError);
    expect(full.code).toBe('ERR_MP_FULL');
    expectThrows(() => q.putSync(3, { block: false }), mp.Full, /full/i);
    expectThrows(() => q.putNowait(3), mp.Full, /full/i);
    // block: false ignores the timeout
    expectThrows(() => q.putSync(3, { block: false, timeout: 10 }), mp.Full, /full/i);

    let ms = await timed(async () => expect(await failure(() => q.put(3, { timeout: 0.25 }))).toBeInstanceOf(mp.Full));
    expect(ms).toBeGreaterThanOrEqual(240);
    expect(ms).toBeLessThan(2000);
    ms = await timed(() => expectThrows(() => q.putSync(3, { timeout: 0.25 }), mp.Full, /full/i));
    expect(ms).toBeGreaterThanOrEqual(240);
    expect(ms).toBeLessThan(2000);
    // a negative timeout is 0
    ms = await timed(async () => expect(await failure(() => q.put(3, { timeout: -1 }))).toBeInstanceOf(mp.Full));
    expect(ms).toBeLessThan(100);
    ms = await timed(() => expectThrows(() => q.putSync(3, { timeout: -5 }), mp.Full, /full/i));
    expect(ms).toBeLessThan(100);
    ms = await timed(() => expectThrows(() => q.putSync(3, { timeout: 0 }), mp.Full, /full/i));
    expect(ms).toBeLessThan(100);
    // nothing of the failed puts went in
    expect(q.qsize()).toBe(2);
    expect([q.getSync(), q.getSync()]).toEqual([1, 2]);
    expect(q.empty()).toBe(true);
    q.close();
  });

  it('a waiting put goes in once a get makes room, in time', async () => {
    const q = new mp.Queue<number>(1);
    q.putSync(1);
    const waiting = q.put(2, { timeout: 5 });
    await sleep(50);
    expect(q.qsize()).toBe(1);
    expect(await q.get()).toBe(1);
    await waiting;
    expect(await q.get({ timeout: 1 })).toBe(2);
    q.close();
  });

  it('an awaited put() on a full bounded queue settles when a consumer in another process makes room, every time', async () => {
    const q = new mp.Queue<number>(4);
    const out = new mp.Queue<number>();
    const n = 3000;
    const p = start('forwardIndexes', [q, out, n]);
    for (let i = 0; i < n; i++) {
      await settles(q.put(i), `put(${i}) [qsize ${q.qsize()}]`, 5_000);
    }
    let last = -1;
    for (let i = 0; i < n; i++) last = await out.get({ timeout: 10 });
    expect(last).toBe(n - 1);
    expect(await joined(p)).toBe(0);
    q.close();
    out.close();
  });

  it('a put() whose first try finds the queue full but whose message goes in a moment later still resolves', async () => {
    // White-box, deterministic: the ring says "full" to the first try only, as when a
    // consumer in another process takes a message just after it (the race of the test above).
    const q = new mp.Queue<number>(2);
    const ring = (q as unknown as { ring: { tryPut(...a: unknown[]): boolean } }).ring;
    const tryPut = ring.tryPut;
    let calls = 0;
    ring.tryPut = function (this: unknown, ...a: unknown[]) {
      return calls++ === 0 ? false : tryPut.apply(this, a);
    };
    await settles(q.put(1), 'put(1)', 2_000);
    expect(q.getSync({ timeout: 1 })).toBe(1);
    q.close();
  });

  it('Empty: getNowait, get/getSync with block false, and after a timeout of about the right length', async () => {
    const q = new mp.Queue();
    const empty = (await failure(() => q.get({ block: false }))) as mp.Empty;
    expect(empty).toBeInstanceOf(mp.Empty);
    expect(empty).toBeInstanceOf(mp.MultiprocessingError);
    expect(empty.code).toBe('ERR_MP_EMPTY');
    expectThrows(() => q.getNowait(), mp.Empty, /empty/i);
    expectThrows(() => q.getSync({ block: false }), mp.Empty, /empty/i);
    expectThrows(() => q.getSync({ block: false, timeout: 10 }), mp.Empty, /empty/i);

    let ms = await timed(async () => expect(await failure(() => q.get({ timeout: 0.25 }))).toBeInstanceOf(mp.Empty));
    expect(ms).toBeGreaterThanOrEqual(240);
    expect(ms).toBeLessThan(2000);
    ms = await timed(() => expectThrows(() => q.getSync({ timeout: 0.25 }), mp.Empty, /empty/i));
    expect(ms).toBeGreaterThanOrEqual(240);
    expect(ms).toBeLessThan(2000);
    ms = await timed(async () => expect(await failure(() => q.get({ timeout: -1 }))).toBeInstanceOf(mp.Empty));
    expect(ms).toBeLessThan(100);
    ms = await timed(() => expectThrows(() => q.getSync({ timeout: -0.5 }), mp.Empty, /empty/i));
    expect(ms).toBeLessThan(100);
    q.close();
  });

  it('a waiting get() keeps the event loop turning and gets a message put later', async () => {
    const q = new mp.Queue<string>();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    setTimeout(() => q.putSync('late'), 150);
    expect(await q.get({ timeout: 5 })).toBe('late');
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(10);
    q.close();
  });

  it('getSync with a timeout gets a message another process puts meanwhile', async () => {
    const q = new mp.Queue<string>();
    const p = start('putLater', [q, 200, 'from the child']);
    expect(q.getSync({ timeout: 20 })).toBe('from the child');
    expect(await joined(p)).toBe(0);
    q.close();
  });

  it('every method has its async and sync forms, mixed freely', async () => {
    const q = new mp.Queue<unknown>(5);
    q.putSync('putSync');
    await q.put('put');
    q.putNowait('putNowait');
    await q.put('put block', { block: true, timeout: 1 });
    q.putSync('putSync block', { block: true, timeout: null });
    expect(q.getSync()).toBe('putSync');
    expect(await q.get()).toBe('put');
    expect(q.getNowait()).toBe('putNowait');
    expect(await q.get({ block: true, timeout: null })).toBe('put block');
    expect(q.getSync({ block: true, timeout: 1 })).toBe('putSync block');
    const pending = q.get();
    expect(pending).toBeInstanceOf(Promise);
    await q.put('last');
    expect(await pending).toBe('last');
    q.close();
  });

  it('un-awaited put() calls keep their order, also past the ring and maxsize', async () => {
    const sizes = [3, 150_000, 10, 80_000, 400_000, 7, 100_000, 20];
    const msg = (i: number) => ({ i, s: 'q'.repeat(sizes[i % sizes.length]!) });
    for (const maxsize of [0, 4]) {
      const q = new mp.Queue<{ i: number; s: string }>(maxsize);
      const puts = Array.from({ length: 80 }, (_, i) => q.put(msg(i)));
      const got: number[] = [];
      for (let i = 0; i < 80; i++) {
        const m = await q.get({ timeout: 10 });
        expect(m.s.length).toBe(msg(m.i).s.length);
        got.push(m.i);
      }
      await Promise.all(puts);
      expect(got).toEqual(Array.from({ length: 80 }, (_, i) => i));
      q.close();
    }
  });

  it('a putSync after un-awaited puts goes after them (a consumer in another process)', async () => {
    const q = new mp.Queue<{ i: number; s: string }>(3);
    const out = new mp.Queue<number>();
    const n = 60;
    const p = start('forwardIndexes', [q, out, n]);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const m = { i, s: 'z'.repeat(i % 3 === 0 ? 120_000 : 50) };
      if (i % 10 === 9) q.putSync(m);
      else pending.push(q.put(m));
    }
    await Promise.all(pending);
    const got: number[] = [];
    for (let i = 0; i < n; i++) got.push(await out.get({ timeout: 20 }));
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(await joined(p)).toBe(0);
    q.close();
    out.close();
  });

  it('getSync sees the messages this process put with un-awaited put() (Python: the feeder thread flushes them)', async () => {
    const q = new mp.Queue<number>();
    const big = 'b'.repeat(100_000); // two of them fill the ring
    for (let i = 0; i < 5; i++) void q.put({ i, big } as never);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) {
      try {
        got.push((q.getSync({ timeout: 0.2 }) as unknown as { i: number }).i);
      } catch (err) {
        got.push(-1);
        expect(err).toBeInstanceOf(mp.Empty);
      }
    }
    // the rest, the async way, so that nothing stays pending here
    const rest: number[] = [];
    for (let i = got.filter((x) => x >= 0).length; i < 5; i++) rest.push(((await q.get({ timeout: 5 })) as unknown as { i: number }).i);
    q.close();
    await q.joinThread();
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(rest).toEqual([]);
  });

  it('one process puts more than the ring holds with putSync, then gets it all with getSync (as Python\'s put never blocks on an unbounded queue)', async () => {
    const result = await runIsolated(`
      const q = new mp.Queue();
      for (let i = 0; i < 2000; i++) q.putSync({ i, s: 'p'.repeat(1000) }); // 2 MB, the ring is 256 KiB
      report({ putsDone: true });
      let ok = 0;
      for (let i = 0; i < 2000; i++) if (q.getSync({ timeout: 1 }).i === i) ok++;
      report({ ok });
    `);
    const stuckIn = result.report === undefined ? 'putSync (nobody else reads this queue)' : 'getSync';
    expect(result.timedOut, `blocked for good in ${stuckIn}`).toBe(false);
    expect(result.code, result.stderr).toBe(0);
    expect(result.report).toEqual({ ok: 2000 });
  });

  it('get({ signal }): an abort rejects a waiting get with the reason, and no message is lost', async () => {
    const q = new mp.Queue<string>();
    const ac = new AbortController();
    const waiting = q.get({ signal: ac.signal });
    await sleep(30);
    const reason = new Error('stop waiting');
    ac.abort(reason);
    expect(await failure(() => waiting)).toBe(reason);
    // the default reason
    const ac2 = new AbortController();
    const waiting2 = q.get({ signal: ac2.signal, timeout: 10 });
    setTimeout(() => ac2.abort(), 20);
    const err = (await failure(() => waiting2)) as Error;
    expect(err.name).toBe('AbortError');
    // already aborted, on an empty queue
    expect(await failure(() => q.get({ signal: AbortSignal.abort(reason) }))).toBe(reason);
    // the aborted gets took nothing
    q.putSync('kept');
    expect(await q.get({ signal: new AbortController().signal, timeout: 1 })).toBe('kept');
    // a get that got its message is not affected by a later abort
    const ac3 = new AbortController();
    const ok = q.get({ signal: ac3.signal });
    q.putSync('delivered');
    expect(await ok).toBe('delivered');
    ac3.abort();
    // AbortSignal.timeout
    const ms = await timed(async () => {
      const e = (await failure(() => q.get({ signal: AbortSignal.timeout(100) }))) as Error;
      expect(e.name).toBe('TimeoutError');
    });
    expect(ms).toBeGreaterThanOrEqual(90);
    expect(q.empty()).toBe(true);
    q.close();
  });

  it('bad argument types are TypeErrors naming the argument', async () => {
    expectThrows(() => new mp.Queue('3' as never), TypeError, /maxsize/);
    expectThrows(() => new mp.Queue(1.5), TypeError, /maxsize/);
    expectThrows(() => new mp.Queue(null as never), TypeError, /maxsize/);
    const q = new mp.Queue(1);
    expectThrows(() => q.putSync(1, { timeout: '1' as never }), TypeError, /timeout/);
    expectThrows(() => q.putSync(1, { timeout: Number.NaN }), TypeError, /timeout/);
    expectThrows(() => q.putSync(1, 5 as never), TypeError, /options/);
    expectThrows(() => q.getSync({ timeout: '1' as never }), TypeError, /timeout/);
    expectThrows(() => q.getSync('fast' as never), TypeError, /options/);
    expectThrows(() => q.getSync([1] as never), TypeError, /options/);
    // the async forms fail with the same TypeError (thrown or rejected)
    const e1 = await failure(() => q.put(1, { timeout: {} as never }));
    expect(e1).toBeInstanceOf(TypeError);
    expect((e1 as Error).message).toMatch(/timeout/);
    const e2 = await failure(() => q.get({ timeout: true as never }));
    expect(e2).toBeInstanceOf(TypeError);
    expect((e2 as Error).message).toMatch(/timeout/);
    const e3 = await failure(() => q.get(7 as never));
    expect(e3).toBeInstanceOf(TypeError);
    expect((e3 as Error).message).toMatch(/options/);
    const j = new mp.JoinableQueue();
    expectThrows(() => j.joinSync('1' as never), TypeError, /timeout/);
    // nothing went in
    expect(q.qsize()).toBe(0);
    q.close();
    j.close();
  });

  it('a non-boolean block option is a TypeError naming block, not a silent wait', async () => {
    const q = new mp.Queue();
    expectThrows(() => q.getSync({ block: 'no' as never, timeout: 0.05 }), TypeError, /block/);
    expectThrows(() => q.getSync({ block: 0 as never, timeout: 0.05 }), TypeError, /block/);
    const e = await failure(() => q.put(1, { block: 1 as never }));
    expect(e).toBeInstanceOf(TypeError);
    q.close();
  });

  it('close(): later use is a ValueError, close is idempotent, joinThread resolves', async () => {
    const q = new mp.Queue<number>(3);
    q.putSync(1);
    expectThrows(() => q.joinThread(), mp.ValueError, /close/);
    q.close();
    q.close();
    const cases: [string, () => unknown][] = [
      ['putSync', () => q.putSync(1)],
      ['putNowait', () => q.putNowait(1)],
      ['getSync', () => q.getSync()],
      ['getNowait', () => q.getNowait()],
      ['qsize', () => q.qsize()],
      ['empty', () => q.empty()],
      ['full', () => q.full()],
    ];
    for (const [name, fn] of cases) {
      const err = await failure(fn);
      expect(err, name).toBeInstanceOf(mp.ValueError);
      expect((err as mp.ValueError).code, name).toBe('ERR_MP_VALUE');
      expect((err as Error).message, name).toMatch(/closed/);
    }
    expect(await failure(() => q.put(1))).toBeInstanceOf(mp.ValueError);
    expect(await failure(() => q.get())).toBeInstanceOf(mp.ValueError);
    expect(await failure(() => q.get({ timeout: 0 }))).toBeInstanceOf(mp.ValueError);
    await expect(q.joinThread()).resolves.toBeUndefined();
    q.cancelJoinThread();
    q.close();
    // a closed queue cannot be sent to a child
    expect(() => new mp.Process({ target: T('putRange'), args: [q, 1] }).start()).toThrow(mp.ValueError);
  });

  it('joinThread() after close() waits for this process\'s pending puts', async () => {
    const q = new mp.Queue<{ i: number; s: string }>();
    const out = new mp.Queue<number>();
    const p = start('forwardIndexes', [q, out, 20]);
    for (let i = 0; i < 20; i++) void q.put({ i, s: 'j'.repeat(100_000) });
    q.close();
    await q.joinThread();
    const got: number[] = [];
    for (let i = 0; i < 20; i++) got.push(await out.get({ timeout: 20 }));
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await joined(p)).toBe(0);
    out.close();
  });

  it('using and await using close the queue', async () => {
    let kept: mp.Queue<number>;
    {
      using q = new mp.Queue<number>();
      q.putSync(1);
      kept = q;
    }
    expectThrows(() => kept.qsize(), mp.ValueError, /closed/);
    {
      await using q = new mp.JoinableQueue<number>();
      await q.put(2);
      expect(q.getSync()).toBe(2);
      q.taskDone();
      kept = q;
    }
    expectThrows(() => kept.putSync(3), mp.ValueError, /closed/);
    {
      using s = new mp.SimpleQueue<number>();
      s.putSync(1);
      expect(s.getSync()).toBe(1);
      expect(typeof s[Symbol.dispose]).toBe('function');
      expect(typeof s[Symbol.asyncDispose]).toBe('function');
    }
  });
});

// ------------------------------------------------------------------------------------------

describe('structured clone through a queue', () => {
  const names = Object.keys(targets.samples());

  it('every sample round-trips within one process, sync and async, bare and inside one object', async () => {
    const q = new mp.Queue();
    const problems: string[] = [];
    const all = targets.samples();
    for (const name of names) q.putSync(all[name]);
    for (const name of names) {
      const p = targets.sampleProblem(name, q.getSync());
      if (p) problems.push(`sync ${p}`);
    }
    for (const name of names) await q.put(all[name]);
    for (const name of names) {
      const p = targets.sampleProblem(name, await q.get());
      if (p) problems.push(`async ${p}`);
    }
    q.putSync(all);
    const whole = q.getSync() as Record<string, unknown>;
    for (const name of names) {
      const p = targets.sampleProblem(name, whole[name]);
      if (p) problems.push(`whole ${p}`);
    }
    expect(problems).toEqual([]);
    // spot checks that do not go through isDeepStrictEqual
    q.putSync(-0);
    expect(Object.is(q.getSync(), -0)).toBe(true);
    q.putSync([Number.NaN, -0]);
    const [nan, negZero] = q.getSync() as number[];
    expect(Number.isNaN(nan)).toBe(true);
    expect(Object.is(negZero, -0)).toBe(true);
    q.putSync(Buffer.from('buf'));
    const b = q.getSync();
    expect(Buffer.isBuffer(b)).toBe(true);
    expect((b as Buffer).toString()).toBe('buf');
    q.putSync(new Uint8Array([1, 2]));
    expect(Buffer.isBuffer(q.getSync())).toBe(false);
    q.close();
  });

  it('every sample goes from here to a child intact', async () => {
    const q = new mp.Queue();
    const out = new mp.Queue<string[]>();
    const p = start('checkSamples', [q, out]);
    const all = targets.samples();
    for (const name of names) await q.put(all[name]);
    await q.put(all);
    expect(await out.get({ timeout: 30 })).toEqual([]);
    expect(await joined(p)).toBe(0);
    q.close();
    out.close();
  });

  it('every sample comes from a child intact', async () => {
    const q = new mp.Queue();
    const p = start('sendSamples', [q]);
    const problems: string[] = [];
    for (const name of names) {
      const pr = targets.sampleProblem(name, await q.get({ timeout: 30 }));
      if (pr) problems.push(pr);
    }
    const whole = (await q.get({ timeout: 30 })) as Record<string, unknown>;
    for (const name of names) {
      const pr = targets.sampleProblem(name, whole[name]);
      if (pr) problems.push(`(in one object) ${pr}`);
    }
    expect(problems).toEqual([]);
    expect(await joined(p)).toBe(0);
    q.close();
  });

  it('typed arrays, Buffers and DataViews received inside any message stay intact as more messages pass', async () => {
    const q = new mp.Queue();
    const make = () => ({
      inMap: new Map<string, unknown>([
        ['u8', new Uint8Array([1, 2, 3, 4])],
        ['f64', new Float64Array([1.5, -2.25])],
        ['buf', Buffer.from('buffer in a map')],
        ['dv', new DataView(new Uint8Array([9, 8, 7, 6]).buffer)],
      ]),
      withCycle: (() => {
        const o: Record<string, unknown> = { u32: new Uint32Array([0xdeadbeef, 7]) };
        o.self = o;
        return o;
      })(),
      withBigInt: { n: 5n, i16: new Int16Array([-1, 2, -3]) },
    });
    const sent = make();
    q.putSync(sent.inMap);
    q.putSync(sent.withCycle);
    await q.put(sent.withBigInt);
    const got = [q.getSync(), q.getSync(), await q.get()] as [Map<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    // traffic that overwrites the ring where those messages were
    for (let i = 0; i < 3000; i++) {
      q.putSync(`overwrite ${'~'.repeat(i % 200)} ${i}`);
      q.getSync();
    }
    const want = make();
    const problems: string[] = [];
    for (const [key, v] of want.inMap) {
      const g = got[0].get(key) as ArrayBufferView;
      if (!isDeepStrictEqual(g, v)) problems.push(`${key}: bytes now ${Buffer.from(g.buffer, g.byteOffset, g.byteLength).toString('hex')}`);
    }
    if (!isDeepStrictEqual([...(got[1].u32 as Uint32Array)], [0xdeadbeef, 7])) problems.push(`u32: ${[...(got[1].u32 as Uint32Array)]}`);
    if (!isDeepStrictEqual([...(got[2].i16 as Int16Array)], [-1, 2, -3])) problems.push(`i16: ${[...(got[2].i16 as Int16Array)]}`);
    expect(problems).toEqual([]);
    expect(Buffer.isBuffer(got[0].get('buf'))).toBe(true);
    expect(got[1].self).toBe(got[1]);
    // and writing to what was received touches nothing else
    (got[0].get('u8') as Uint8Array).fill(0xff);
    q.putSync('after');
    expect(q.getSync()).toBe('after');
    q.close();
  });

  it('class instances arrive as plain objects (structured clone), Errors keep their class', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    const q = new mp.Queue();
    q.putSync(new Point(1, 2));
    const p = q.getSync();
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(p).toEqual({ x: 1, y: 2 });
    q.putSync(new RangeError('r'));
    const e = q.getSync() as Error;
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toBe('r');
    q.close();
  });

  it('functions, symbols and other uncloneables are a TypeError at put, and the queue goes on', async () => {
    const q = new mp.Queue();
    const bad: unknown[] = [
      () => 1,
      function named() {},
      Symbol('s'),
      { f: () => 1 },
      [1, Symbol.iterator],
      new Map([[1, () => 2]]),
      { nested: { deeper: [async () => 3] } },
      new WeakMap(),
      Promise.resolve(1),
    ];
    for (const v of bad) {
      expectThrows(() => q.putSync(v), TypeError, /./);
      expectThrows(() => q.putNowait(v), TypeError, /./);
      expect(await failure(() => q.put(v))).toBeInstanceOf(TypeError);
    }
    expect(q.qsize()).toBe(0);
    q.putSync('still works');
    expect(q.getSync()).toBe('still works');
    q.close();
    const j = new mp.JoinableQueue();
    expectThrows(() => j.putSync(() => 1), TypeError, /./);
    expect(await failure(() => j.put(Symbol('x')))).toBeInstanceOf(TypeError);
    expect(j.joinSync(0)).toBe(true); // the failed puts left no unfinished task
    await j.join();
    const s = new mp.SimpleQueue();
    expectThrows(() => s.putSync(() => 1), TypeError, /./);
    expect(await failure(() => s.put(Symbol('x')))).toBeInstanceOf(TypeError);
    expect(s.empty()).toBe(true);
    s.close();
    j.close();
  });

  it('shared objects inside a message arrive as the same shared objects (one process)', () => {
    const q = new mp.Queue();
    const value = mp.Value('i', 1);
    const array = mp.Array('d', 3);
    const lock = new mp.Lock();
    const inner = new mp.Queue();
    q.putSync({ value, array, lock, inner, again: value, list: [value] });
    const got = q.getSync() as { value: typeof value; array: typeof array; lock: mp.Lock; inner: mp.Queue; again: unknown; list: unknown[] };
    expect(got.again).toBe(got.value);
    expect(got.list[0]).toBe(got.value);
    got.value.value = 9;
    expect(value.value).toBe(9);
    got.array[2] = 4.5;
    expect(array[2]).toBe(4.5);
    expect(got.lock.acquireSync({ block: false })).toBe(true);
    expect(lock.acquireSync({ block: false })).toBe(false);
    got.lock.release();
    got.inner.putSync('through the copy');
    expect(inner.getSync({ timeout: 1 })).toBe('through the copy');
    q.close();
    inner.close();
  });

  it('shared objects inside a message reach a child as the same shared objects, and come back', async () => {
    const q = new mp.Queue();
    const out = new mp.Queue();
    const value = mp.Value('i', 1);
    const array = mp.Array('d', [0, 0, 0]);
    const lock = new mp.Lock();
    const inner = new mp.Queue<string>();
    const p = start('useShared', [q, out]);
    await q.put({ value, array, lock, queue: inner, again: value });
    const reply = (await out.get({ timeout: 30 })) as {
      took: boolean;
      sameObject: boolean;
      back: { value: typeof value; array: typeof array; queue: mp.Queue<string> };
    };
    expect(reply.took).toBe(true);
    expect(reply.sameObject).toBe(true);
    expect(value.value).toBe(42);
    expect(array[1]).toBe(2.5);
    expect(await inner.get({ timeout: 5 })).toBe('from the child through the inner queue');
    expect(lock.acquireSync({ block: false })).toBe(false); // the child holds it
    // what came back is the same shared memory again
    expect(reply.back.value.value).toBe(42);
    reply.back.value.value = 43;
    expect(value.value).toBe(43);
    expect(reply.back.array[1]).toBe(2.5);
    reply.back.queue.putSync('via the returned queue');
    expect(inner.getSync({ timeout: 1 })).toBe('via the returned queue');
    await q.put('release');
    expect(await out.get({ timeout: 30 })).toBe('released');
    expect(lock.acquireSync({ timeout: 5 })).toBe(true);
    lock.release();
    expect(await joined(p)).toBe(0);
    for (const x of [q, out, inner]) x.close();
  });
});

// ------------------------------------------------------------------------------------------

describe('messages bigger than the ring', () => {
  const MiB = 1 << 20;

  it('1 MiB and 64 MiB messages go to a child and back intact', async () => {
    const q = new mp.Queue();
    const back = new mp.Queue();
    const p = start('echoAsync', [q, back, 5]);
    const oneMiB = Buffer.alloc(MiB);
    for (let i = 0; i < oneMiB.length; i++) oneMiB[i] = (i * 131) & 0xff;
    const big = Buffer.alloc(64 * MiB);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const str = 'é😀x'.repeat(300_000); // ~2.7 MB of UTF-8
    const obj = { list: Array.from({ length: 40_000 }, (_, i) => ({ i, s: `item ${i}` })), map: new Map([[1, 2]]) };
    await q.put(oneMiB);
    await q.put(big);
    await q.put(str);
    await q.put(obj);
    await q.put(new Float64Array(MiB / 8).fill(0.5));
    const r1 = (await back.get({ timeout: 60 })) as Buffer;
    expect(Buffer.isBuffer(r1)).toBe(true);
    expect(r1.equals(oneMiB)).toBe(true);
    const r2 = (await back.get({ timeout: 60 })) as Buffer;
    expect(r2.length).toBe(64 * MiB);
    expect(r2.equals(big)).toBe(true);
    expect(await back.get({ timeout: 60 })).toBe(str);
    expect(isDeepStrictEqual(await back.get({ timeout: 60 }), obj)).toBe(true);
    const f = (await back.get({ timeout: 60 })) as Float64Array;
    expect(f).toBeInstanceOf(Float64Array);
    expect(f.length).toBe(MiB / 8);
    expect(f.every((x) => x === 0.5)).toBe(true);
    expect(await joined(p)).toBe(0);
    q.close();
    back.close();
  });

  it('a 1 GiB Buffer goes to a child', { timeout: 120_000 }, async () => {
    const GiB = 1 << 30;
    const at = [0, 1, 4095, 4096, 123_456_789, GiB - 2, GiB - 1];
    const q = new mp.Queue();
    const out = new mp.Queue();
    const p = start('describeOne', [q, out, at]);
    {
      const b = Buffer.alloc(GiB);
      for (const i of at) b[i] = (i * 7) & 0xff;
      await q.put(b);
    }
    expect(await out.get({ timeout: 120 })).toEqual({
      isBuffer: true,
      type: '[object Uint8Array]',
      length: GiB,
      bytes: at.map((i) => (i * 7) & 0xff),
    });
    expect(await joined(p, 60)).toBe(0);
    q.close();
    out.close();
    gc();
  });

  it('leaves no shared-memory segment behind, and none mapped here, once the queues are closed (no GC needed)', async () => {
    gc();
    const watch = new SegmentWatch();
    await (async () => {
      const q = new mp.Queue();
      const back = new mp.Queue();
      const p = start('echo', [q, back, 6]);
      watch.sample();
      for (const size of [200_000, MiB, 8 * MiB, 70_000, 10, 3 * MiB]) {
        await q.put(Buffer.alloc(size, 1));
        watch.sample();
      }
      for (let i = 0; i < 6; i++) {
        await back.get({ timeout: 30 });
        watch.sample();
      }
      expect(await joined(p)).toBe(0);
      // (A big message's block is mapped here only while it is written or read.)
      expect(watch.count).toBeGreaterThanOrEqual(2); // the two rings, at least
      expect(watch.mapped().length).toBeGreaterThanOrEqual(2);
      q.close();
      back.close();
      // At once: nothing pending, so close() released the rings, and this process's
      // mappings (their pages) went with them, not at a GC.
      expect({ left: watch.left(), mapped: watch.mapped() }).toEqual({ left: [], mapped: [] });
    })();
  });

  it('a big message still in the queue when it is closed does not leave its segment behind (no GC needed)', () => {
    const watch = new SegmentWatch();
    const q = new mp.Queue();
    q.putSync(Buffer.alloc(2 * MiB, 1));
    q.putSync('small');
    watch.sample();
    // The record names the message's block (peekNow: the record as read, not consumed).
    const block = ((q.peekNow() as { value: { d?: string } }).value.d ?? '') as string;
    expect(block).toMatch(/\S/);
    expect(existsSync(`/dev/shm/${block}`)).toBe(true);
    expect(mappedSegments().has(block)).toBe(false); // unmapped once written
    expect(watch.count).toBe(1); // the ring
    q.close();
    expect(existsSync(`/dev/shm/${block}`)).toBe(false);
    expect({ left: watch.left(), mapped: watch.mapped() }).toEqual({ left: [], mapped: [] });
  });
});

// ------------------------------------------------------------------------------------------

describe('many producers and consumers in many processes', () => {
  it('4 producers x 2 consumers, 20,000 messages each: nothing lost, nothing twice, FIFO per producer', async () => {
    const N = 20_000;
    const P = 4;
    const q = new mp.Queue();
    const seen = mp.RawArray('i', P * N);
    const stats = mp.RawArray('i', 4);
    const consumers = [start('consume', [q, seen, stats, 0, N, P]), start('consumeAsync', [q, seen, stats, 1, N, P])];
    const producers = [0, 1, 2, 3].map((id) => start(id % 2 === 0 ? 'produce' : 'produceAsync', [q, id, N]));
    for (const p of producers) expect(await joined(p, 60)).toBe(0);
    await q.put(null);
    await q.put(null);
    for (const c of consumers) expect(await joined(c, 60)).toBe(0);
    let missing = 0;
    let twice = 0;
    const missingBy = [0, 0, 0, 0];
    for (let i = 0; i < P * N; i++) {
      if (seen[i] === 0) {
        missing++;
        missingBy[Math.floor(i / N)]!++;
      } else if (seen[i]! > 1) twice++;
    }
    expect({ missing, twice }, `missing per producer: ${missingBy.join(', ')}`).toEqual({ missing: 0, twice: 0 });
    expect(stats[0]! + stats[2]!).toBe(P * N);
    expect(stats[0]).toBeGreaterThan(0);
    expect(stats[2]).toBeGreaterThan(0);
    expect([stats[1], stats[3]]).toEqual([0, 0]); // order violations
    expect(q.empty()).toBe(true);
    expect(q.qsize()).toBe(0);
    q.close();
  });
});

// ------------------------------------------------------------------------------------------

describe('processes killed mid-stream', () => {
  it('a producer SIGKILLed while it puts: everything received is whole and a prefix; the queue goes on', { timeout: 60_000 }, async () => {
    const q = new mp.Queue<unknown>();
    for (let round = 0; round < 3; round++) {
      const progress = mp.RawArray('i', 1);
      const p = start('produceForever', [q, progress]);
      const got: unknown[] = [];
      // read while it writes, then kill it at a moment it is busy putting
      while (got.length < 40 + round * 17) got.push(await q.get({ timeout: 20 }));
      p.kill();
      await p.join(10);
      expect(p.exitcode).toBe(-9);
      // the rest that made it in
      for (;;) {
        try {
          got.push(q.getNowait());
        } catch (err) {
          expect(err).toBeInstanceOf(mp.Empty);
          break;
        }
      }
      const bad = got.filter((m) => !targets.wellFormed(m));
      expect(bad.length, `round ${round}: malformed messages`).toBe(0);
      const indexes = got.map((m) => (m as { i: number }).i);
      expect(indexes, `round ${round}`).toEqual(Array.from({ length: got.length }, (_, i) => i));
      // An unbounded putSync may return with its message still pending in the producer
      // (Python's feeder buffer), lost with it: what arrived is at most what it put, plus
      // the one it was putting when killed.
      expect(got.length).toBeLessThanOrEqual(progress[0]! + 1);
    }
    // new producers and consumers in other processes, and this one, all still work
    const out = new mp.Queue<number>();
    const consumer = start('forwardIndexes', [q, out, 500]);
    const producer = start('putRange', [q, 500]);
    const got: number[] = [];
    for (let i = 0; i < 500; i++) got.push(await out.get({ timeout: 30 }));
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(await joined(producer)).toBe(0);
    expect(await joined(consumer)).toBe(0);
    await q.put('here');
    expect(await q.get({ timeout: 10 })).toBe('here');
    expect(q.empty()).toBe(true);
    q.close();
    out.close();
  });

  it('a producer killed holding the writers\' lock with a half-written record: the next put takes over, no garbage is read', { timeout: 60_000 }, async () => {
    const q = new mp.Queue<string>();
    q.putSync('before');
    expect(q.getSync()).toBe('before');
    const flag = mp.RawArray('i', 1);
    const p = start('dieWhileWriting', [q, flag]);
    expect(await until(() => flag[0] === 1, 20_000)).toBe(true);
    p.kill();
    await p.join(10);
    expect(q.empty()).toBe(true); // the half-written record was never committed
    expect(q.qsize()).toBe(0);
    // this put waits for the dead writer's lock, then takes it over
    const ms = await timed(() => q.put('after the crash'));
    expect(ms).toBeLessThan(5000);
    expect(await q.get({ timeout: 5 })).toBe('after the crash');
    q.putSync('and again');
    expect(q.getSync({ timeout: 5 })).toBe('and again');
    expect(q.empty()).toBe(true);
    q.close();
  });

  it('a consumer SIGKILLed mid-stream: the other consumer goes on; nothing is taken twice, at most one is lost', { timeout: 60_000 }, async () => {
    // This process produces into a bounded queue, so the consumers set the pace and the
    // victim is surely taking messages when it is killed, however late it started.
    const MAX = 200_000;
    const q = new mp.Queue<number | null>(64);
    const seen = mp.RawArray('i', MAX);
    const stats = mp.RawArray('i', 2);
    const victim = start('consumeNumbers', [q, seen, stats, 0]);
    const survivor = start('consumeNumbers', [q, seen, stats, 1]);
    let n = 0;
    const t0 = Date.now();
    while (stats[0]! < 2000 && n < MAX - 10_000 && Date.now() - t0 < 20_000) await settles(q.put(n++), `put(${n - 1})`, 5_000);
    expect(stats[0], 'the victim never got going').toBeGreaterThanOrEqual(2000);
    victim.kill();
    const afterKill = n + 10_000;
    while (n < afterKill) await settles(q.put(n++), `put(${n - 1})`, 5_000);
    await victim.join(10);
    expect(victim.exitcode).toBe(-9);
    await q.put(null);
    expect(await joined(survivor, 60)).toBe(0);
    let missing = 0;
    let twice = 0;
    for (let i = 0; i < n; i++) {
      if (seen[i] === 0) missing++;
      else if (seen[i]! > 1) twice++;
    }
    expect(twice).toBe(0);
    expect(missing).toBeLessThanOrEqual(1);
    expect(stats[1]).toBeGreaterThanOrEqual(10_000 - 64);
    expect(stats[0]! + stats[1]! + missing).toBe(n);
    expect(q.empty()).toBe(true);
    q.close();
  });

  it('a consumer killed holding the readers\' lock: the others take it over within a few seconds', { timeout: 60_000 }, async () => {
    const q = new mp.Queue<number>();
    const flag = mp.RawArray('i', 1);
    const p = start('dieWhileReading', [q, flag]);
    expect(await until(() => flag[0] === 1, 20_000)).toBe(true);
    q.putSync(1);
    q.putSync(2);
    p.kill();
    await p.join(10);
    const ms = await timed(async () => expect(await q.get({ timeout: 10 })).toBe(1));
    expect(ms).toBeLessThan(5000);
    // a consumer in another process too
    const out = new mp.Queue<number>();
    const c = start('forwardIndexes', [q, out, 1]);
    expect(await out.get({ timeout: 10 })).toBe(2);
    expect(await joined(c)).toBe(0);
    q.close();
    out.close();
  });

  it('a blocking putSync right after p.kill() (the dead writer not yet reaped) still takes the lock over', { timeout: 60_000 }, async () => {
    // In its own process: if the takeover never comes, the sync put blocks that thread
    // forever, and only a timeout on the whole process can tell.
    const result = await runIsolated(`
      const q = new mp.Queue();
      const flag = mp.RawArray('i', 1);
      const p = new mp.Process({ target: T('dieWhileWriting'), args: [q, flag] });
      p.start();
      while (Atomics.load(flag, 0) === 0) await new Promise((r) => setTimeout(r, 10));
      p.kill();
      const t = performance.now();
      q.putSync('after');
      const ms = performance.now() - t;
      report({ ms, got: q.getSync({ timeout: 5 }) });
    `);
    expect(result.timedOut, `the put hung (stderr: ${result.stderr})`).toBe(false);
    expect(result.code, result.stderr).toBe(0);
    const report = result.report as { ms: number; got: string };
    expect(report.got).toBe('after');
    expect(report.ms).toBeLessThan(5000);
  });
});

// ------------------------------------------------------------------------------------------

describe('SimpleQueue', () => {
  it('put, putSync, get, getSync, empty, close in one process', async () => {
    const s = new mp.SimpleQueue<unknown>();
    expect(s.empty()).toBe(true);
    await s.put(1);
    s.putSync({ two: 2 });
    s.putSync(Buffer.alloc(400_000, 3)); // bigger than the ring
    expect(s.empty()).toBe(false);
    expect(s.getSync()).toBe(1);
    expect(await s.get()).toEqual({ two: 2 });
    const b = s.getSync() as Buffer;
    expect(Buffer.isBuffer(b) && b.length === 400_000 && b[399_999] === 3).toBe(true);
    expect(s.empty()).toBe(true);
    // un-awaited puts keep their order
    const puts = Array.from({ length: 30 }, (_, i) => s.put({ i, pad: 'p'.repeat(i % 4 === 0 ? 100_000 : 1) }));
    for (let i = 0; i < 30; i++) expect(((await s.get()) as { i: number }).i).toBe(i);
    await Promise.all(puts);
    // get waits, and can be aborted
    const later = s.get();
    setTimeout(() => s.putSync('later'), 30);
    expect(await later).toBe('later');
    const ac = new AbortController();
    const aborted = s.get({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('enough')), 20);
    expect(((await failure(() => aborted)) as Error).message).toBe('enough');
    s.close();
    s.close();
    expectThrows(() => s.empty(), mp.ValueError, /closed/);
    expectThrows(() => s.putSync(1), mp.ValueError, /closed/);
    expectThrows(() => s.getSync(), mp.ValueError, /closed/);
    expect(await failure(() => s.put(1))).toBeInstanceOf(mp.ValueError);
    expect(await failure(() => s.get())).toBeInstanceOf(mp.ValueError);
  });

  it('works across processes', async () => {
    const qin = new mp.SimpleQueue<number | null>();
    const qout = new mp.SimpleQueue<number>();
    const p = start('squares', [qin, qout]);
    for (let i = 0; i < 200; i++) {
      if (i % 2 === 0) qin.putSync(i);
      else await qin.put(i);
    }
    await qin.put(null);
    const got: number[] = [];
    for (let i = 0; i < 200; i++) got.push(i % 2 === 0 ? await qout.get() : qout.getSync());
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i * i));
    expect(await joined(p)).toBe(0);
    expect(qout.empty()).toBe(true);
    qin.close();
    qout.close();
  });
});

// ------------------------------------------------------------------------------------------

describe('JoinableQueue', () => {
  it('taskDone() more times than items were put is a ValueError; join resolves when all are done', async () => {
    const q = new mp.JoinableQueue<number>();
    expectThrows(() => q.taskDone(), mp.ValueError, /too many/);
    expect(q.joinSync()).toBe(true);
    await q.join();
    q.putSync(1);
    await q.put(2);
    q.putNowait(3);
    expect(q.joinSync(0.1)).toBe(false);
    let ms = await timed(() => expect(q.joinSync(0.2)).toBe(false));
    expect(ms).toBeGreaterThanOrEqual(190);
    ms = await timed(() => expect(q.joinSync(-1)).toBe(false));
    expect(ms).toBeLessThan(100);
    let joinedYet = false;
    const joining = q.join().then(() => {
      joinedYet = true;
    });
    for (let i = 0; i < 3; i++) {
      q.getSync();
      await sleep(20);
      expect(joinedYet).toBe(false);
      q.taskDone();
    }
    await joining;
    expect(joinedYet).toBe(true);
    expect(q.joinSync(0)).toBe(true);
    expectThrows(() => q.taskDone(), mp.ValueError, /too many/);
    // a failed put counts nothing
    const b = new mp.JoinableQueue<number>(1);
    b.putSync(1);
    expectThrows(() => b.putNowait(2), mp.Full, /full/i);
    expect(await failure(() => b.put(2, { timeout: 0.05 }))).toBeInstanceOf(mp.Full);
    b.getSync();
    b.taskDone();
    expect(b.joinSync(0)).toBe(true);
    expectThrows(() => b.taskDone(), mp.ValueError, /too many/);
    q.close();
    b.close();
    expectThrows(() => q.taskDone(), mp.ValueError, /closed/);
    expect(await failure(() => q.join())).toBeInstanceOf(mp.ValueError);
  });

  it('join() and joinSync() wait until workers in other processes marked everything done', async () => {
    const q = new mp.JoinableQueue<number | null>();
    const done = mp.RawArray('i', 1);
    const workers = [start('joinableWorker', [q, done, 5]), start('joinableWorker', [q, done, 5])];
    for (let i = 0; i < 40; i++) await q.put(i);
    await q.join();
    expect(done[0]).toBe(40);
    for (let i = 0; i < 20; i++) q.putSync(i);
    expect(q.joinSync(30)).toBe(true);
    expect(done[0]).toBe(60);
    q.putSync(null);
    q.putSync(null);
    expect(q.joinSync(30)).toBe(true);
    for (const w of workers) expect(await joined(w)).toBe(0);
    q.close();
  });

  it('a producer in a child joins while this process does the work', async () => {
    const q = new mp.JoinableQueue<number>();
    const out = mp.RawArray('i', 1);
    const p = start('joinableProducer', [q, 10, out]);
    for (let i = 0; i < 10; i++) {
      expect(await q.get({ timeout: 20 })).toBe(i);
      await sleep(10);
      expect(out[0]).toBe(0);
      q.taskDone();
    }
    expect(await joined(p)).toBe(0);
    expect(out[0]).toBe(1);
    q.close();
  });
});

// ------------------------------------------------------------------------------------------

describe('a queue passed to a child', () => {
  it('the child puts, this process gets', async () => {
    const q = new mp.Queue<number>();
    const p = start('putRange', [q, 2000]);
    for (let i = 0; i < 2000; i++) expect(await q.get({ timeout: 20 })).toBe(i);
    expect(await joined(p)).toBe(0);
    expect(q.empty()).toBe(true);
    q.close();
  });

  it('a bounded queue passed to a child keeps its maxsize there', async () => {
    const q = new mp.Queue<number>(3);
    const p = start('putRange', [q, 50]);
    // The child may take a while to start under load: wait until it filled the queue,
    // then check that it stops there.
    expect(await until(() => q.qsize() === 3, 20_000)).toBe(true);
    await sleep(300);
    expect(q.qsize()).toBe(3);
    expect(q.full()).toBe(true);
    for (let i = 0; i < 50; i++) expect(await q.get({ timeout: 20 })).toBe(i);
    expect(await joined(p)).toBe(0);
    q.close();
  });

  it('a child that returns with un-awaited puts pending (more than the ring holds) exits only once they are flushed', async () => {
    const q = new mp.Queue<{ i: number; s: string }>();
    const count = 40;
    const p = start('putAndReturn', [q, count, 30_000]); // 1.2 MB through a 256 KiB ring
    // Read only once the child's target has surely returned (the ring is full by then).
    await sleep(500);
    const got: number[] = [];
    let err: unknown = null;
    try {
      for (let i = 0; i < count; i++) {
        const m = await q.get({ timeout: 3 });
        expect(m.s.length).toBe(30_000);
        got.push(m.i);
      }
    } catch (e) {
      err = e;
    }
    expect(await joined(p)).toBe(0);
    expect(err).toBeNull();
    expect(got).toEqual(Array.from({ length: count }, (_, i) => i));
    q.close();
  });

  it('after cancelJoinThread() a child exits without flushing; what arrived is a prefix', async () => {
    const q = new mp.Queue<{ i: number; s: string }>();
    const p = start('putCancelAndReturn', [q, 40, 30_000]);
    expect(await joined(p, 20)).toBe(0); // nobody reads: it did not wait
    const got: number[] = [];
    for (;;) {
      try {
        got.push(q.getNowait().i);
      } catch {
        break;
      }
    }
    expect(got.length).toBeLessThan(40);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
    q.close();
  });

  it('a child that close()s and awaits joinThread() has its puts in the queue', async () => {
    const q = new mp.Queue<{ i: number; s: string }>();
    const out = mp.RawArray('i', 1);
    const p = start('putCloseJoin', [q, 30, 30_000, out]);
    const got: number[] = [];
    for (let i = 0; i < 30; i++) got.push((await q.get({ timeout: 20 })).i);
    expect(await joined(p)).toBe(0);
    expect(out[0]).toBe(1);
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => i));
    q.close();
  });
});
