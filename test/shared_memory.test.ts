import { afterEach, describe, expect, it } from 'vitest';
import * as mp from 'multiprocessing';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { inspect } from 'node:util';
import { createRequire } from 'node:module';
import { segmentExists } from './helpers/assert.js';

// Internal module, loaded through Node's own require: the same instance as the package's.
const { handleOf, isShareable, revive, toHandle } = createRequire(import.meta.url)('../dist/reduction.js') as typeof import('../dist/reduction.js');

const fixtures = path.join(__dirname, 'fixtures');
const hasPython = spawnSync('python3', ['-c', 'import multiprocessing.shared_memory'], { stdio: 'ignore' }).status === 0;

// Every segment a test makes is closed and unlinked here, whatever the test did.
const made: mp.SharedMemory[] = [];
function track<T extends mp.SharedMemory>(shm: T): T {
  made.push(shm);
  return shm;
}
afterEach(() => {
  for (const shm of made.splice(0)) {
    shm.close();
    try {
      shm.unlink();
    } catch {}
  }
});

function uniqueName(): string {
  return `mpt_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
}

const exists = (name: string) => segmentExists(name, (n) => new mp.SharedMemory({ name: n }).close());

function catchError(fn: () => unknown): Error & { code?: string; syscall?: string; path?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('SharedMemory', () => {
  it('creates a segment with a random name', () => {
    const shm = track(new mp.SharedMemory({ create: true, size: 100 }));
    expect(typeof shm.name).toBe('string');
    expect(shm.name.startsWith('/')).toBe(false);
    expect(shm.name.length).toBeLessThanOrEqual(30);
    expect(shm.size).toBe(100);
    expect(shm.buf).toBeInstanceOf(Uint8Array);
    expect(shm.buf.length).toBe(100);
    expect(shm.buf.every((b) => b === 0)).toBe(true);
    expect(exists(shm.name)).toBe(true);
    const other = track(new mp.SharedMemory({ create: true, size: 100 }));
    expect(other.name).not.toBe(shm.name);
  });

  it('creates under a given name and attaches to it by name', () => {
    const name = uniqueName();
    const a = track(new mp.SharedMemory({ name, create: true, size: 4096 }));
    expect(a.name).toBe(name);
    const b = track(new mp.SharedMemory({ name }));
    expect(b.name).toBe(name);
    expect(b.size).toBe(4096);
    a.buf[0] = 42;
    a.buf[4095] = 7;
    expect(b.buf[0]).toBe(42);
    expect(b.buf[4095]).toBe(7);
    b.buf.set([1, 2, 3], 10);
    expect([...a.buf.subarray(10, 13)]).toEqual([1, 2, 3]);
  });

  it("accepts Python's positional form and a leading slash", () => {
    const name = uniqueName();
    const a = track(new mp.SharedMemory(name, { create: true, size: 16 }));
    const b = track(new mp.SharedMemory(`/${name}`));
    expect(b.name).toBe(name);
    a.buf[3] = 9;
    expect(b.buf[3]).toBe(9);
  });

  it('create with a taken name fails with EEXIST', () => {
    const name = uniqueName();
    track(new mp.SharedMemory({ name, create: true, size: 10 }));
    const err = catchError(() => new mp.SharedMemory({ name, create: true, size: 10 }));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('EEXIST');
    expect(err.path).toBe(name);
    expect(err.message).toContain(name);
  });

  it('attach to a missing name fails with ENOENT', () => {
    const name = uniqueName();
    const err = catchError(() => new mp.SharedMemory({ name }));
    expect(err.code).toBe('ENOENT');
    expect(err.syscall).toBe('shm_open');
    expect(err.message).toMatch(/^ENOENT: no such file or directory/);
    expect(err.message).toContain(name);
  });

  it('unlink removes the name; a second unlink fails with ENOENT', () => {
    const shm = track(new mp.SharedMemory({ create: true, size: 10 }));
    shm.buf[0] = 5;
    shm.unlink();
    expect(exists(shm.name)).toBe(false);
    expect(shm.buf[0]).toBe(5); // still mapped here
    expect(catchError(() => new mp.SharedMemory({ name: shm.name })).code).toBe('ENOENT');
    const err = catchError(() => shm.unlink());
    expect(err.code).toBe('ENOENT');
    expect(err.syscall).toBe('shm_unlink');
  });

  it('close detaches every view and is idempotent', () => {
    const shm = track(new mp.SharedMemory({ create: true, size: 64 }));
    const view = shm.buf.subarray(8, 16);
    const f64 = new Float64Array(shm.buf.buffer, 0, 8);
    f64[0] = 1.5;
    shm.close();
    expect(shm.closed).toBe(true);
    expect(shm.buf.length).toBe(0);
    expect(view.length).toBe(0);
    expect(f64.length).toBe(0);
    expect(f64[0]).toBeUndefined(); // no dangling read
    f64[0] = 2; // a write to a detached view goes nowhere
    expect(shm.size).toBe(64);
    shm.close();
    shm[Symbol.dispose]();
    // closing does not destroy: attach again and find the data
    const again = track(new mp.SharedMemory({ name: shm.name }));
    expect(new Float64Array(again.buf.buffer, 0, 1)[0]).toBe(1.5);
    shm.unlink(); // unlink after close works, as in Python
    expect(exists(shm.name)).toBe(false);
  });

  it('Symbol.dispose closes', () => {
    const shm = track(new mp.SharedMemory({ create: true, size: 8 }));
    {
      const scope = { [Symbol.dispose]: () => shm[Symbol.dispose]() };
      scope[Symbol.dispose]();
    }
    expect(shm.buf.length).toBe(0);
  });

  it("prints like Python's repr", () => {
    const name = uniqueName();
    const shm = track(new mp.SharedMemory({ name, create: true, size: 123 }));
    expect(String(shm)).toBe(`SharedMemory('${name}', size=123)`);
    expect(inspect(shm)).toBe(`SharedMemory('${name}', size=123)`);
  });

  it('travels as a handle and is revived by attaching', () => {
    const shm = track(new mp.SharedMemory({ create: true, size: 32 }));
    shm.buf[1] = 99;
    expect(isShareable(shm)).toBe(true);
    const handle = handleOf(shm as never);
    expect(handle).toEqual({ $mpHandle: 'SharedMemory', name: shm.name, size: 32 });
    expect(shm[toHandle as never]).toBeTypeOf('function');
    // a handle is plain data: it survives structured clone
    const copy = track(revive(structuredClone(handle)) as mp.SharedMemory);
    expect(copy).toBeInstanceOf(mp.SharedMemory);
    expect(copy).not.toBe(shm);
    expect(copy.name).toBe(shm.name);
    expect(copy.buf[1]).toBe(99);
    copy.buf[2] = 100;
    expect(shm.buf[2]).toBe(100);
  });

  it('an attached instance does not own the segment: closing it leaves the segment', () => {
    const owner = track(new mp.SharedMemory({ create: true, size: 8 }));
    const att = new mp.SharedMemory({ name: owner.name });
    att.close();
    expect(exists(owner.name)).toBe(true);
    owner.buf[0] = 1;
    expect(owner.buf[0]).toBe(1);
  });

  it('a separate node process attaches by name', () => {
    const shm = track(new mp.SharedMemory({ create: true, size: 64 }));
    shm.buf.set(Buffer.from('hello node'));
    const stdout = execFileSync(process.execPath, [path.join(fixtures, 'shm-peer.cjs'), 'shm-attach', shm.name, '10', 'peer!'], {
      encoding: 'utf8',
    });
    const r = JSON.parse(stdout);
    expect(r).toEqual({ name: shm.name, size: 64, head: Buffer.from('hello node').toString('hex') });
    expect(Buffer.from(shm.buf.subarray(10, 15)).toString()).toBe('peer!');
    expect(exists(shm.name)).toBe(true); // the peer's exit did not unlink it
  });

  it('a separate node process gets ENOENT for a missing name', () => {
    const stdout = execFileSync(process.execPath, [path.join(fixtures, 'shm-peer.cjs'), 'attach-missing', uniqueName()], {
      encoding: 'utf8',
    });
    expect(JSON.parse(stdout).code).toBe('ENOENT');
  });

  describe.skipIf(!hasPython)('interop with CPython', () => {
    it('python attaches to our segment, reads and writes', () => {
      const shm = track(new mp.SharedMemory({ create: true, size: 100 }));
      shm.buf.set(Buffer.from('from node'));
      const stdout = execFileSync('python3', [path.join(fixtures, 'shm-peer.py'), 'shm-attach', shm.name, '9', 'py wrote'], {
        encoding: 'utf8',
      });
      const r = JSON.parse(stdout);
      expect(r.name).toBe(shm.name);
      expect(r.size).toBe(100);
      expect(Buffer.from(r.head, 'hex').toString()).toBe('from node');
      expect(Buffer.from(shm.buf.subarray(9, 17)).toString()).toBe('py wrote');
      expect(exists(shm.name)).toBe(true);
    });

    it('we attach to a python segment while python runs, both see the writes', async () => {
      const py = spawn('python3', [path.join(fixtures, 'shm-peer.py'), 'shm-create', '256'], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = readline.createInterface({ input: py.stdout })[Symbol.asyncIterator]();
      try {
        const first = JSON.parse((await lines.next()).value);
        expect(first.size).toBe(256);
        const shm = new mp.SharedMemory({ name: first.name });
        expect(shm.size).toBe(256);
        expect(Buffer.from(shm.buf.subarray(0, 11)).toString()).toBe('from python');
        shm.buf.set(Buffer.from('node was here!!!'), 32);
        shm.close();
        py.stdin.write('go\n');
        const second = JSON.parse((await lines.next()).value);
        expect(Buffer.from(second.tail, 'hex').toString()).toBe('node was here!!!');
        const code = await new Promise((resolve) => py.once('exit', resolve));
        expect(code).toBe(0);
        expect(exists(first.name)).toBe(false); // python unlinked its own
      } finally {
        py.kill();
      }
    });
  });

  describe('bad input', () => {
    it('size', () => {
      const e0 = catchError(() => new mp.SharedMemory({ create: true, size: 0 }));
      expect(e0).toBeInstanceOf(mp.ValueError);
      expect(e0.message).toBe("'size' must be a positive number different from zero");
      expect(() => new mp.SharedMemory({ create: true })).toThrow(mp.ValueError);
      const neg = catchError(() => new mp.SharedMemory({ create: true, size: -1 }));
      expect(neg).toBeInstanceOf(mp.ValueError);
      expect(neg.message).toBe("'size' must be a positive integer");
      for (const size of ['10', 1.5, Number.NaN, Infinity, 10n, {}, true]) {
        const err = catchError(() => new mp.SharedMemory({ create: true, size: size as never }));
        expect(err).toBeInstanceOf(TypeError);
        expect(err.message).toMatch(/^size must be an integer/);
      }
    });

    it('an impossible size is a clean error with a code', () => {
      const err = catchError(() => new mp.SharedMemory({ create: true, size: 2 ** 52 }));
      expect(err).toBeInstanceOf(Error);
      expect(typeof (err as { code?: unknown }).code).toBe('string');
    });

    it('name', () => {
      for (const name of [42, {}, [], true, Symbol('x')]) {
        const err = catchError(() => new mp.SharedMemory({ name: name as never }));
        expect(err).toBeInstanceOf(TypeError);
        expect(err.message).toMatch(/^name must be a string/);
      }
      for (const name of ['', '/', 'a/b', 'a\0b', 'x'.repeat(300)]) {
        const err = catchError(() => new mp.SharedMemory({ name, create: true, size: 1 }));
        expect(err).toBeInstanceOf(mp.ValueError);
        expect(err.message).toMatch(/name/);
      }
      expect(() => new mp.SharedMemory({ name: 'with space', create: true, size: 1 })).toThrow(mp.ValueError);
      const none = catchError(() => new mp.SharedMemory({}));
      expect(none).toBeInstanceOf(mp.ValueError);
      expect(none.message).toMatch(/'name' can only be null if create is true/);
      expect(() => new mp.SharedMemory()).toThrow(mp.ValueError);
    });

    it('create, track and the options object', () => {
      const e = catchError(() => new mp.SharedMemory({ create: 'yes' as never, size: 1 }));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toMatch(/^create must be a boolean/);
      expect(() => new mp.SharedMemory({ create: true, size: 1, track: 1 as never })).toThrow(/track must be a boolean/);
      expect(() => new mp.SharedMemory(5 as never)).toThrow(TypeError);
      expect(() => new mp.SharedMemory([] as never)).toThrow(/options must be an options object/);
      expect(() => new mp.SharedMemory({ create: true, size: 1, sise: 2 } as never)).toThrow(/unknown option 'sise'/);
      expect(() => new mp.SharedMemory({ create: true, size: 1 }, {} as never)).toThrow(TypeError);
      expect(() => new mp.SharedMemory('x', 3 as never)).toThrow(/options must be an options object/);
      expect(() => new mp.SharedMemory('x', { name: 'y' })).toThrow(/name twice/);
    });
  });

  it('track: false leaves a created segment out of the tracker', () => {
    const shm = track(new mp.SharedMemory({ create: true, size: 8, track: false }));
    shm.unlink(); // no unregister is sent; still fine
    expect(exists(shm.name)).toBe(false);
  });
});
