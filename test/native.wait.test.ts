// Cross-process blocking wait/wake on 32-bit words of a segment.
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, cleanupShm, create, native, sleep, until } from './native-helpers.js';
import { expectEachThrows } from './helpers/assert.js';

afterEach(() => cleanupShm());

describe('native: wait/wake', () => {
  it('not-equal at once when the word differs; timed-out with timeout 0', () => {
    const { buffer } = create(64);
    const v = new Int32Array(buffer);
    v[0] = 5;
    expect(native.wait(v, 0, 4, 1000)).toBe('not-equal');
    expect(native.wait(v, 0, 5, 0)).toBe('timed-out');
    expect(native.wake(v, 0, 1)).toBe(0);
    // expected is ToInt32'd, so the uint32 spelling of a negative word works.
    v[1] = -1;
    expect(native.wait(v, 1, 0xffffffff, 0)).toBe('timed-out');
    expect(native.wait(v, 1, 0, 0)).toBe('not-equal');
  });

  it('times out after roughly the timeout', () => {
    const { buffer } = create(64);
    const v = new Int32Array(buffer);
    const t0 = performance.now();
    expect(native.wait(v, 3, 0, 150)).toBe('timed-out');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
  });

  it('a wake from another process ends a blocking wait (no timeout)', async () => {
    const { name, buffer } = create(64);
    const v = new Int32Array(buffer);
    const peer = new Peer();
    try {
      await peer.call('attach', name);
      const done = peer.call<{ result: string }>('wait', name, 0, 0, -1, 1);
      let woke = 0;
      let finished = false;
      void done.then(() => {
        finished = true;
      });
      await until(() => Atomics.load(v, 1) === 1);
      // The value stays 0, so only a real wake can end the sleep with 'ok'.
      for (let i = 0; i < 500 && !finished; i++) {
        await sleep(20);
        woke += native.wake(v, 0, 1);
      }
      expect((await done).result).toBe('ok');
      expect(woke).toBe(1);
    } finally {
      peer.kill();
    }
  });

  it('a wake from this process ends a wait in another one, through different views', async () => {
    const { name, buffer } = create(64);
    const peer = new Peer();
    try {
      await peer.call('attach', name);
      // peer waits on word 6 (its view starts at 0); we wake through a view at offset 16.
      const done = peer.call<{ result: string; ms: number }>('wait', name, 6, 0, 30_000, 1);
      const flag = new Int32Array(buffer);
      await until(() => Atomics.load(flag, 1) === 1);
      await sleep(50);
      const shifted = new Int32Array(buffer, 16, 4);
      Atomics.store(shifted, 2, 1);
      let woke = native.wake(shifted, 2, Infinity);
      const r = await Promise.race([done, sleep(100).then(() => null)]);
      if (r === null) woke += native.wake(shifted, 2, Infinity); // it was not asleep yet
      expect(['ok', 'not-equal']).toContain((await done).result);
      expect(woke).toBeLessThanOrEqual(1);
    } finally {
      peer.kill();
    }
  });

  it('another process times out and reports not-equal like this one', async () => {
    const { name, buffer } = create(64);
    const v = new Int32Array(buffer);
    const peer = new Peer();
    try {
      await peer.call('attach', name);
      const t = await peer.call<{ result: string; ms: number }>('wait', name, 2, 0, 200);
      expect(t.result).toBe('timed-out');
      expect(t.ms).toBeGreaterThanOrEqual(195);
      Atomics.store(v, 2, 9);
      expect((await peer.call<{ result: string }>('wait', name, 2, 0, 5000)).result).toBe('not-equal');
    } finally {
      peer.kill();
    }
  });

  it('wake returns how many woke, across several processes', async () => {
    const { name, buffer } = create(64);
    const v = new Int32Array(buffer);
    const peers = [new Peer(), new Peer(), new Peer()];
    try {
      await Promise.all(peers.map((p) => p.call('attach', name)));
      const flags = [4, 5, 6];
      const done = peers.map((p, i) => p.call<{ result: string }>('wait', name, 0, 0, 60_000, flags[i]));
      await until(() => flags.every((f) => Atomics.load(v, f) === 1));
      await sleep(200);
      let woke = native.wake(v, 0, 2);
      expect(woke).toBeLessThanOrEqual(2);
      await sleep(100);
      woke += native.wake(v, 0, Infinity);
      for (let i = 0; i < 100 && woke < 3; i++) {
        await sleep(50);
        woke += native.wake(v, 0, Infinity);
      }
      expect(woke).toBe(3);
      for (const d of done) expect((await d).result).toBe('ok');
    } finally {
      for (const p of peers) p.kill();
    }
  });

  it('rejects views outside this addon\'s mappings and bad arguments, naming them', () => {
    const { buffer } = create(64);
    const v = new Int32Array(buffer);
    const detachedSeg = create(64);
    const dv = new Int32Array(detachedSeg.buffer);
    native.shmClose(detachedSeg.buffer);
    const w = native.wait as (...a: unknown[]) => unknown;
    const k = native.wake as (...a: unknown[]) => unknown;
    const cases: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => w(), TypeError, /view/],
      [() => w(new Int32Array(4), 0, 0, 0), TypeError, /view/],
      [() => w(new Int32Array(new SharedArrayBuffer(16)), 0, 0, 0), TypeError, /view/],
      [() => w(new Uint32Array(buffer), 0, 0, 0), TypeError, /view/],
      [() => w(new Float64Array(buffer), 0, 0, 0), TypeError, /view/],
      [() => w(buffer, 0, 0, 0), TypeError, /view/],
      [() => w([1, 2], 0, 0, 0), TypeError, /view/],
      [() => w(v, -1, 0, 0), RangeError, /index/],
      [() => w(v, 16, 0, 0), RangeError, /index/],
      [() => w(v, 1.5, 0, 0), TypeError, /index/],
      [() => w(v, Number.NaN, 0, 0), TypeError, /index/],
      [() => w(v, '0', 0, 0), TypeError, /index/],
      [() => w(v, 0, '0', 0), TypeError, /expected/],
      [() => w(v, 0, undefined, 0), TypeError, /expected/],
      [() => w(v, 0, 0, Number.NaN), TypeError, /timeoutMs/],
      [() => w(v, 0, 0, 'soon'), TypeError, /timeoutMs/],
      [() => w(v, 0, 0), TypeError, /timeoutMs/],
      [() => w(dv, 0, 0, 0), RangeError, /index/],
      [() => k(v, 0, -1), RangeError, /count/],
      [() => k(v, 0, Number.NaN), TypeError, /count/],
      [() => k(v, 0), TypeError, /count/],
      [() => k(new Int32Array(4), 0, 1), TypeError, /view/],
      [() => k(v, 99, 1), RangeError, /index/],
    ];
    expectEachThrows(cases);
    expect(native.wait(v, 15, 0, 0)).toBe('timed-out');
  });
});
