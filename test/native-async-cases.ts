// The async-wait cases, run once per waiter backend: native.waitasync.test.ts (the
// platform's own: futex_waitv on Linux) and native.waitasync-thread.test.ts (the portable
// one-thread-per-wait backend that macOS and Windows use).
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { afterEach, expect, it } from 'vitest';
import { Peer, cleanupShm, create, isLinux, native, sleep, until } from './native-helpers.js';
import { expectEachThrows } from './helpers/assert.js';

function mapped(name: string): boolean {
  return fs.readFileSync('/proc/self/maps', 'utf8').includes(`/dev/shm/${name}`);
}

let nextId = 1;
const id = () => nextId++;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what}: not done within ${ms} ms`)))]);
}

export function asyncCases(backend: string, many: number): void {
  afterEach(() => {
    cleanupShm();
    expect(native.pendingWaits()).toBe(0);
  });

  it(`uses the ${backend} backend`, () => {
    expect(native.waiterBackend()).toBe(backend);
  });

  it('resolves at once: not-equal when the word differs, timed-out with timeout 0', async () => {
    const { buffer } = create(64);
    const v = new Int32Array(buffer);
    v[0] = 3;
    expect(await native.waitAsync(id(), v, 0, 2, -1)).toBe('not-equal');
    expect(await native.waitAsync(id(), v, 0, 3, 0)).toBe('timed-out');
    expect(native.pendingWaits()).toBe(0);
  });

  it('is resolved by a wake from another process, while the event loop keeps ticking', async () => {
    const { name, buffer } = create(64);
    const v = new Int32Array(buffer);
    const peer = new Peer();
    try {
      await peer.call('attach', name);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const p = native.waitAsync(id(), v, 0, 0, -1);
      expect(native.pendingWaits()).toBe(1);
      await sleep(150);
      expect(ticks).toBeGreaterThan(0);
      await peer.call('storeWake', name, 0, 1, 1);
      expect(await within(p, 20_000, 'waitAsync')).toBe('ok');
      clearInterval(timer);
      expect(native.pendingWaits()).toBe(0);
    } finally {
      peer.kill();
    }
  });

  it('times out each wait at its own deadline, including waits that share a word', async () => {
    const { buffer } = create(64);
    const v = new Int32Array(buffer);
    const t0 = performance.now();
    const at = (p: Promise<string>) => p.then((r) => ({ r, ms: performance.now() - t0 }));
    const a = at(native.waitAsync(id(), v, 0, 0, 60));
    const b = at(native.waitAsync(id(), v, 1, 0, 120));
    const c = at(native.waitAsync(id(), v, 1, 0, 200)); // same word and value as b
    const longId = id();
    const d = native.waitAsync(longId, v, 1, 0, 60_000);
    for (const [p, ms] of [
      [a, 60],
      [b, 120],
      [c, 200],
    ] as const) {
      const r = await p;
      expect(r.r).toBe('timed-out');
      expect(r.ms).toBeGreaterThanOrEqual(ms - 2);
    }
    expect(native.pendingWaits()).toBe(1);
    Atomics.store(v, 1, 1);
    native.wake(v, 1, 1);
    expect(await d).toBe('ok');
  });

  it('cancelWait resolves with cancelled, once; ids are reusable afterwards', async () => {
    const { buffer } = create(64);
    const v = new Int32Array(buffer);
    const n = id();
    const p = native.waitAsync(n, v, 0, 0, -1);
    expect(() => native.waitAsync(n, v, 1, 0, -1)).toThrow(RangeError);
    expect(native.cancelWait(n)).toBe(true);
    expect(native.cancelWait(n)).toBe(false);
    expect(native.cancelWait(987654321)).toBe(false);
    expect(await p).toBe('cancelled');
    // The same id again, on the same word: a stale completion must not resolve it.
    const again = native.waitAsync(n, v, 0, 0, 150);
    expect(await again).toBe('timed-out');
  });

  it(`${many} pending waits on distinct words and ${many} on one word leave libuv's pool free`, async () => {
    const { buffer } = create(4 * (many + 16));
    const v = new Int32Array(buffer);
    const ids: number[] = [];
    const ps: Promise<string>[] = [];
    for (let i = 0; i < many; i++) {
      ids.push(id());
      ps.push(native.waitAsync(ids[ids.length - 1], v, i, 0, -1));
    }
    for (let i = 0; i < many; i++) {
      ids.push(id());
      ps.push(native.waitAsync(ids[ids.length - 1], v, many, 0, Number.POSITIVE_INFINITY));
    }
    expect(native.pendingWaits()).toBe(2 * many);
    const pool = Promise.all([
      fs.promises.readFile(new URL(import.meta.url)),
      dns.promises.lookup('localhost'),
      promisify(zlib.gzip)(Buffer.alloc(1 << 20, 7)),
      fs.promises.stat('/'),
      promisify(zlib.gunzip)(zlib.gzipSync('x')),
    ]);
    const [file, addr, gz] = await within(pool, 30_000, 'fs/dns/zlib with waits pending');
    expect(file.length).toBeGreaterThan(0);
    expect(addr.address).toBeTruthy();
    expect(gz.length).toBeGreaterThan(0);
    expect(native.pendingWaits()).toBe(2 * many);
    for (const n of ids) expect(native.cancelWait(n)).toBe(true);
    expect(native.pendingWaits()).toBe(0);
    const results = await within(Promise.all(ps), 30_000, 'cancelled waits');
    expect(results.every((r) => r === 'cancelled')).toBe(true);
  });

  it(`${many} pending waits are all resolved by wakes from another process`, async () => {
    const { name, buffer } = create(4 * (many + 16));
    const v = new Int32Array(buffer);
    const peer = new Peer();
    try {
      await peer.call('attach', name);
      const ps: Promise<string>[] = [];
      for (let i = 0; i < many; i++) ps.push(native.waitAsync(id(), v, i, 0, -1));
      for (let i = 0; i < many; i++) ps.push(native.waitAsync(id(), v, many, 0, -1));
      await sleep(100);
      await peer.call('storeWakeRange', name, 0, many + 1, 1);
      const results = await within(Promise.all(ps), 60_000, 'woken waits');
      expect(results.filter((r) => r !== 'ok')).toEqual([]);
    } finally {
      peer.kill();
    }
  });

  it('shmClose while a wait is pending: the memory stays mapped until the wait ends', async () => {
    const { name, buffer } = create(4096);
    const v = new Int32Array(buffer);
    const peer = new Peer();
    try {
      await peer.call('attach', name);
      const forever = native.waitAsync(id(), v, 0, 0, -1);
      const short = native.waitAsync(id(), v, 1, 0, 100);
      native.shmClose(buffer);
      expect(v.length).toBe(0);
      expect(() => native.waitAsync(id(), v, 0, 0, -1)).toThrow(RangeError); // detached view
      if (isLinux) expect(mapped(name)).toBe(true);
      expect(await short).toBe('timed-out');
      if (isLinux) expect(mapped(name)).toBe(true);
      await peer.call('storeWake', name, 0, 5, 1);
      expect(await within(forever, 20_000, 'wait on a closed buffer')).toBe('ok');
      if (isLinux) expect(await until(() => !mapped(name))).toBe(true);
    } finally {
      peer.kill();
    }
  });

  it('shmClose then cancel: no crash, and the mapping goes away', async () => {
    const { name, buffer } = create(4096);
    const v = new Int32Array(buffer);
    const ids = [id(), id(), id()];
    const ps = ids.map((n, i) => native.waitAsync(n, v, i, 0, -1));
    native.shmClose(buffer);
    for (const n of ids) native.cancelWait(n);
    expect(await Promise.all(ps)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    if (isLinux) expect(await until(() => !mapped(name))).toBe(true);
  });

  it('rejects bad arguments, naming them', () => {
    const { buffer } = create(64);
    const v = new Int32Array(buffer);
    const wa = native.waitAsync as (...a: unknown[]) => unknown;
    const cases: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => wa('1', v, 0, 0, 0), TypeError, /id/],
      [() => wa(1.5, v, 0, 0, 0), TypeError, /id/],
      [() => wa(Number.NaN, v, 0, 0, 0), TypeError, /id/],
      [() => wa(1, new Int32Array(4), 0, 0, 0), TypeError, /view/],
      [() => wa(1, v, 99, 0, 0), RangeError, /index/],
      [() => wa(1, v, 0, null, 0), TypeError, /expected/],
      [() => wa(1, v, 0, 0, Number.NaN), TypeError, /timeoutMs/],
      [() => (native.cancelWait as (...a: unknown[]) => unknown)('x'), TypeError, /id/],
    ];
    expectEachThrows(cases);
  });
}
