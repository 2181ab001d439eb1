// Regressions found by review: a ring attached after more than 2 GiB of traffic, Sync
// waits (joinSync, Event.waitSync) while this thread still holds puts the ring had no
// room for, and a ring whose shared memory was scribbled over (issue 8).
import { createRequire } from 'node:module';
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { fixturePath, fixtureUrl, startScript } from './helpers/scripts.js';

const T = (name: string) => ({ module: fixtureUrl('queue-targets.mjs'), name });

describe('queue regressions', () => {
  it('a queue object revived after 2.2 GiB went through the ring sees it empty, then works', () => {
    const q = new mp.Queue<Buffer>();
    const carrier = new mp.Queue<mp.Queue<Buffer>>();
    const chunk = Buffer.alloc(100_000, 7);
    // Through the ring itself (below half its size), so HEAD and TAIL pass 2^31.
    for (let i = 0; i < 22_000; i++) {
      q.putSync(chunk);
      q.getSync();
    }
    carrier.putSync(q);
    const again = carrier.getSync(); // a second Ring object over the same ring
    expect(() => again.getNowait()).toThrow(mp.Empty);
    again.putSync(Buffer.from('after'));
    expect(q.getSync().toString()).toBe('after');
    q.putSync(Buffer.from('back'));
    expect(again.getSync().toString()).toBe('back');
    for (const x of [q, again, carrier]) x.close();
  }, 60_000);

  it('a get from a queue whose ring was scribbled over throws a ValueError that says to recreate it, on every get (issue 8)', () => {
    const q = new mp.Queue<string>();
    q.putSync('hello');
    q.putSync('world');
    // The first record's header (the first data word, after the 768-byte ring header) now says 4096 bytes.
    const { header } = (q as unknown as { ring: { header: Int32Array } }).ring;
    new Int32Array(header.buffer, header.byteOffset + 768, 1)[0] = 4096;
    for (let i = 0; i < 2; i++) {
      // The same error again: the corrupt record is not consumed (HEAD stays before TAIL).
      expect(() => q.getSync()).toThrow(/ring is corrupted: record at offset 0 says 4096 bytes, only \d+ used; it cannot be recovered: close the queue or pipe and create a new one/);
    }
    expect(() => q.getNowait()).toThrow(mp.ValueError);
    expect(q.empty()).toBe(false);
    q.close();
  });

  it('a child that putSyncs a stream as fast as it can and returns: every message arrives, in order (15 rounds)', async () => {
    // A reader making room just as a Sync put had buffered its message used to leave that
    // message (and those after it) in the FIFO with no flush registered: the child's exit
    // then dropped the tail of the stream (found by bench W1, about 1 run in 8).
    const n = 60_000;
    for (let round = 0; round < 15; round++) {
      const q = new mp.Queue<number>();
      const p = new mp.Process({ target: T('putRange'), args: [q, n] });
      p.start();
      let next = 0;
      try {
        // A reader a little slower than the producer (2 us a message), so that the ring
        // hovers at full and the producer keeps buffering; a plain comparison, since an
        // expect() per message costs more than the message.
        for (; next < n; next++) {
          const got = q.getSync({ timeout: 10 });
          if (got !== next) throw new Error(`expected ${next}, got ${got}`);
          const until = performance.now() + 0.002;
          while (performance.now() < until);
        }
      } catch (err) {
        throw new Error(`round ${round}: got ${next} of ${n} messages, then ${String(err)}`);
      }
      await p.join(30);
      expect(p.exitcode).toBe(0);
      q.close();
    }
  }, 120_000);

  it('joinSync moves this thread’s pending puts while it waits (Python: put many, then join)', async () => {
    const q = new mp.JoinableQueue<string>();
    const done = mp.Array('i', 1);
    const p = new mp.Process({ target: T('joinableWorker'), args: [q, done, 0] });
    p.start();
    const big = 'j'.repeat(100_000); // 40 of them: about 16 times the ring
    for (let i = 0; i < 40; i++) q.putSync(big);
    expect(q.joinSync(30)).toBe(true);
    q.putSync(null as never); // the worker's stop signal
    await p.join(30);
    expect(p.exitcode).toBe(0);
    q.close();
  }, 60_000);

  it('Event.waitSync moves this thread’s pending puts while it waits (its consumer needs them)', async () => {
    const q = new mp.Queue<string>();
    const done = new mp.Event();
    const n = 40;
    const p = new mp.Process({ target: T('drainThenSet'), args: [q, n, done] });
    p.start();
    const big = 'e'.repeat(100_000); // about 16 times the ring: most stay pending here
    for (let i = 0; i < n; i++) q.putSync(big);
    expect(done.waitSync(30)).toBe(true);
    await p.join(30);
    expect(p.exitcode).toBe(0);
    q.close();
  }, 60_000);

  for (const mode of ['queue', 'pool']) {
    it(`a program whose puts are buffered with no reader ends after ${mode === 'queue' ? 'cancelJoinThread() + close()' : 'pool.terminate()'} (they are lost, as in Python)`, async () => {
      // The feeder waited for room no reader would make, holding the ring and the process.
      const run = startScript(fixturePath('cancel-close-exit.mjs'), [mode]);
      const timer = setTimeout(() => run.proc.kill('SIGKILL'), 20_000);
      const r = await run.done;
      clearTimeout(timer);
      expect(r.signal, `the program hung (killed after 20 s); stderr: ${r.stderr}`).toBe(null);
      expect(r.code, r.stderr).toBe(0);
      expect(r.reports).toEqual(['done']);
    }, 60_000);
  }

  it('connection.wait() ends when one of its connections is closed meanwhile, and stops its other polls', async () => {
    const [a1] = mp.Pipe();
    const [b1, b2] = mp.Pipe();
    setTimeout(() => a1.close(), 50);
    const ready = await mp.connection.wait([a1, b1]);
    expect(ready).toEqual([a1]);
    // b1's poll was told to stop: a message sent now is still there to read, and nothing waits on it.
    const native = createRequire(import.meta.url)('../dist/native.js').native as { pendingWaits(): number };
    expect(native.pendingWaits()).toBe(0);
    b2.sendSync('still there');
    expect(b1.recvSync()).toBe('still there');
    for (const c of [b1, b2]) c.close();
  });
});
