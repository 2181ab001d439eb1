// Shared memory segments: create, attach from another process, unlink, close, errors.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { ADDON_PATH, Peer, cleanupShm, create, isLinux, native, shmExists, track } from './native-helpers.js';
import { expectEachThrows } from './helpers/assert.js';

afterEach(() => cleanupShm());

function mapped(name: string): boolean {
  return fs.readFileSync('/proc/self/maps', 'utf8').includes(`/dev/shm/${name}`);
}

describe('native: shared memory', () => {
  it('exports the contract', () => {
    expect(native.abiVersion).toBe(1);
    expect(native.platform).toBe(process.platform);
    expect(native.shmPrefix).toBe('mp_');
  });

  it('creates a segment with a short random name and exactly the requested size', () => {
    const { name, buffer } = create(100);
    expect(name).toMatch(/^mp_[a-z0-9]{10}$/);
    expect(buffer).toBeInstanceOf(ArrayBuffer);
    expect(buffer.byteLength).toBe(100);
    expect(new Uint8Array(buffer).every((b) => b === 0)).toBe(true);
    if (isLinux) expect(fs.statSync(`/dev/shm/${name}`).mode & 0o777).toBe(0o600);
    const names = new Set(Array.from({ length: 20 }, () => create(8).name));
    expect(names.size).toBe(20);
  });

  it('another process attaching sees the same bytes, both ways', async () => {
    const { name, buffer } = create(4096 * 3 + 5);
    const bytes = new Uint8Array(buffer);
    bytes.set([1, 2, 3, 250], 0);
    bytes[4096 * 3 + 4] = 77;
    const peer = new Peer();
    try {
      const size = await peer.call<number>('attach', name);
      expect(size).toBe(4096 * 3 + 5);
      expect(await peer.call('readBytes', name, 4)).toEqual([1, 2, 3, 250]);
      await peer.call('writeBytes', name, 4096 * 2, [9, 8, 7]);
      expect(Array.from(bytes.subarray(4096 * 2, 4096 * 2 + 3))).toEqual([9, 8, 7]);
      // Atomics across processes on the external (non-shared) ArrayBuffer.
      const words = new Int32Array(buffer, 0, 16);
      Atomics.store(words, 5, 123456);
      expect(await peer.call('load', name, 5)).toBe(123456);
    } finally {
      peer.kill();
    }
  });

  it('attaches in the same process to a second, independent mapping', () => {
    const { name, buffer } = create(64);
    const { buffer: b2, size } = native.shmAttach(name);
    expect(size).toBe(64);
    new Uint8Array(buffer)[10] = 42;
    expect(new Uint8Array(b2)[10]).toBe(42);
    native.shmClose(buffer);
    expect(new Uint8Array(b2)[10]).toBe(42);
    native.shmClose(b2);
  });

  it('an explicit name is used as given, and taken names give EEXIST', () => {
    const name = track(`mp_test_${process.pid}_x`);
    const a = native.shmCreate(16, name);
    expect(a.name).toBe(name);
    let err: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
    try {
      native.shmCreate(16, name);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err?.code).toBe('EEXIST');
    expect(err?.errno).toBe(os.constants.errno.EEXIST);
    expect(err?.syscall).toBe('shm_open');
    expect(err?.message).toContain(name);
    native.shmClose(a.buffer);
  });

  it('unlink removes the name; twice gives ENOENT; the mapping stays usable', () => {
    const { name, buffer } = create(32);
    native.shmUnlink(name);
    expect(shmExists(name)).toBe(false);
    expect(() => native.shmUnlink(name)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'shm_unlink' }));
    expect(() => native.shmAttach(name)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'shm_open' }));
    new Uint8Array(buffer)[0] = 1;
    native.shmClose(buffer);
  });

  it('close detaches every view, unmaps, and is idempotent', () => {
    const { name, buffer } = create(8192);
    const u8 = new Uint8Array(buffer);
    const i32 = new Int32Array(buffer, 16, 4);
    const dv = new DataView(buffer);
    u8[0] = 1;
    if (isLinux) expect(mapped(name)).toBe(true);
    native.shmClose(buffer);
    expect(buffer.byteLength).toBe(0);
    expect(u8.length).toBe(0);
    expect(i32.length).toBe(0);
    expect(u8[0]).toBeUndefined();
    expect(() => dv.getUint8(0)).toThrow();
    if (isLinux) expect(mapped(name)).toBe(false);
    native.shmClose(buffer);
    native.shmClose(buffer);
    expect(shmExists(name)).toBe(true); // close is not unlink
  });

  it('rejects bad arguments with TypeError/RangeError naming the argument', () => {
    const cases: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => (native.shmCreate as (...a: unknown[]) => unknown)(), TypeError, /size/],
      [() => native.shmCreate('10' as unknown as number), TypeError, /size/],
      [() => native.shmCreate(Number.NaN), TypeError, /size/],
      [() => native.shmCreate(1.5), TypeError, /size/],
      [() => native.shmCreate(Number.POSITIVE_INFINITY), TypeError, /size/],
      [() => native.shmCreate(10n as unknown as number), TypeError, /size/],
      [() => native.shmCreate({} as unknown as number), TypeError, /size/],
      [() => native.shmCreate(0), RangeError, /size/],
      [() => native.shmCreate(-1), RangeError, /size/],
      [() => native.shmCreate(2 ** 60), RangeError, /size/],
      [() => native.shmCreate(8, 42 as unknown as string), TypeError, /name/],
      [() => native.shmCreate(8, ''), RangeError, /name/],
      [() => native.shmCreate(8, 'a/b'), TypeError, /name/],
      [() => native.shmCreate(8, '/leading'), TypeError, /name/],
      [() => native.shmCreate(8, 'nul\0byte'), TypeError, /name/],
      [() => native.shmCreate(8, '..'), TypeError, /name/],
      [() => native.shmCreate(8, 'x'.repeat(300)), RangeError, /name/],
      [() => native.shmAttach(undefined as unknown as string), TypeError, /name/],
      [() => native.shmAttach('a/b'), TypeError, /name/],
      [() => native.shmUnlink(7 as unknown as string), TypeError, /name/],
      [() => native.shmClose(undefined as unknown as ArrayBuffer), TypeError, /buffer/],
      [() => native.shmClose(new Uint8Array(8) as unknown as ArrayBuffer), TypeError, /buffer/],
      [() => native.shmClose(new ArrayBuffer(8)), TypeError, /buffer/],
      [() => native.shmClose(new SharedArrayBuffer(8) as unknown as ArrayBuffer), TypeError, /buffer/],
    ];
    expectEachThrows(cases);
    // A detached foreign buffer is "already closed": nothing to do, no crash.
    const foreign = new ArrayBuffer(8);
    structuredClone(foreign, { transfer: [foreign] });
    expect(() => native.shmClose(foreign)).not.toThrow();
  });

  it('sizes beyond what one ArrayBuffer can hold are a RangeError, not a crash', () => {
    if (!isLinux) return;
    const name = track(`mp_test_${process.pid}_big`);
    fs.writeFileSync(`/dev/shm/${name}`, '');
    fs.truncateSync(`/dev/shm/${name}`, 2 ** 33); // sparse: costs nothing
    expect(() => native.shmAttach(name)).toThrow(expect.objectContaining({ code: 'ERR_BUFFER_TOO_LARGE' }));
    fs.truncateSync(`/dev/shm/${name}`, 0);
    expect(() => native.shmAttach(name)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('an enormous segment fails cleanly at create and leaves nothing behind', () => {
    // 2**45 bytes: ENOSPC from posix_fallocate where Node can wrap it (22+), a RangeError
    // naming size where it cannot (Node 20: 4 GiB). Never SIGBUS, never a leftover.
    const before = new Set(fs.readdirSync('/dev/shm'));
    let err: (Error & { code?: string }) | undefined;
    try {
      create(2 ** 45);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toBeInstanceOf(Error);
    if (err instanceof RangeError) {
      expect(err.message).toMatch(/size/);
    } else {
      expect(err?.code).toBe('ENOSPC');
      const name = /"(mp_[a-z0-9]+)"/.exec(err?.message ?? '')?.[1];
      expect(name && !before.has(name) && shmExists(name)).toBe(false);
    }
  });

  it('ENOSPC on a full /dev/shm, never SIGBUS (private mount namespace with a 1 MiB tmpfs)', () => {
    if (!isLinux || process.getuid?.() !== 0) return;
    const script = `
      const n = require(process.env.MP_ADDON_PATH);
      const fs = require('fs');
      const out = {};
      try { n.shmCreate(2 * 1024 * 1024); } catch (e) { out.big = e.code; out.msg = e.message; }
      out.afterBig = fs.readdirSync('/dev/shm');
      const a = n.shmCreate(600 * 1024);
      try { n.shmCreate(600 * 1024); } catch (e) { out.second = e.code; }
      new Uint8Array(a.buffer).fill(7); // every page of the first: must not SIGBUS
      out.filled = new Uint8Array(a.buffer)[600 * 1024 - 1];
      out.left = fs.readdirSync('/dev/shm');
      n.shmUnlink(a.name);
      console.log(JSON.stringify(out));`;
    let stdout: string;
    try {
      stdout = execFileSync(
        'unshare',
        ['-m', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "$0" -e "$1"', process.execPath, script],
        { env: { ...process.env, MP_ADDON_PATH: ADDON_PATH }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } catch (e) {
      const msg = String((e as { stderr?: string }).stderr ?? e);
      if (/unshare|mount|Operation not permitted/.test(msg) && !/posix_fallocate|SIGBUS/.test(msg)) return;
      throw e;
    }
    const out = JSON.parse(stdout.trim().split('\n').pop() as string);
    expect(out.big).toBe('ENOSPC');
    expect(out.msg).toMatch(/\/dev\/shm is full/);
    expect(out.afterBig).toEqual([]);
    expect(out.second).toBe('ENOSPC');
    expect(out.filled).toBe(7);
    expect(out.left).toHaveLength(1);
  });

  it('a garbage-collected buffer is unmapped by its finalizer', async () => {
    if (!isLinux) return;
    const script = `
      const n = require(process.env.MP_ADDON_PATH);
      const fs = require('fs');
      const mapped = (name) => fs.readFileSync('/proc/self/maps', 'utf8').includes(name);
      let s = n.shmCreate(65536);
      const name = s.name;
      n.shmUnlink(name);
      const before = mapped(name);
      s = null;
      (async () => {
        for (let i = 0; i < 50 && mapped(name); i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)); }
        console.log(JSON.stringify({ before, after: mapped(name) }));
      })();`;
    const stdout = execFileSync(process.execPath, ['--expose-gc', '-e', script], {
      env: { ...process.env, MP_ADDON_PATH: ADDON_PATH },
      encoding: 'utf8',
    });
    expect(JSON.parse(stdout.trim().split('\n').pop() as string)).toEqual({ before: true, after: false });
  });
});
