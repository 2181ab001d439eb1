// The shared heap: arena blocks, dedicated segments, cross-process reference counts,
// reuse after GC, and what is left in /dev/shm.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as mp from 'multiprocessing';
import { runScript, startChild } from './fixtures/sharedctypes-helper.mjs';

const require = createRequire(import.meta.url);
const heap = require('../dist/heap.js') as typeof import('../dist/heap.js');
// biome-ignore lint/suspicious/noExplicitAny: handles are poked at
type Any = any;

function bytes(b: import('../dist/heap.js').Block): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

describe('heap in one process', () => {
  it('allocates zero-filled, 16-byte aligned blocks from a shared arena', () => {
    const a = heap.allocate(10);
    const b = heap.allocate(100, 8);
    const c = heap.allocate(0);
    expect(a.byteLength).toBe(10);
    expect(a.byteOffset % 16).toBe(0);
    expect(b.byteOffset % 16).toBe(0);
    expect(c.byteLength).toBe(0);
    expect(a.buffer).toBe(b.buffer); // same arena
    expect(a.buffer.byteLength).toBe(heap.ARENA_SIZE);
    expect([...bytes(a)].every((x) => x === 0)).toBe(true);
    expect(heap.refcount(a)).toBe(1);
    for (const x of [a, b, c]) heap.releaseBlock(x);
  });

  it('reuses a released block, cleared', () => {
    const a = heap.allocate(48);
    bytes(a).fill(0xab);
    const where = a.byteOffset;
    heap.releaseBlock(a);
    heap.releaseBlock(a); // idempotent
    const b = heap.allocate(40); // same size class
    expect(b.byteOffset).toBe(where);
    expect([...bytes(b)].every((x) => x === 0)).toBe(true);
    heap.releaseBlock(b);
  });

  it('counts references: retain, handles and their adoption', () => {
    const a = heap.allocate(8);
    const a2 = heap.retainBlock(a);
    expect(heap.refcount(a)).toBe(2);
    const h = heap.blockHandle(a);
    expect(heap.refcount(a)).toBe(3);
    expect(structuredClone(h)).toEqual(h);
    const a3 = heap.attachBlock(structuredClone(h));
    expect(heap.refcount(a)).toBe(3); // adopted the transit reference
    new Int32Array(a3.buffer, a3.byteOffset, 2)[1] = 5;
    expect(new Int32Array(a.buffer, a.byteOffset, 2)[1]).toBe(5);
    heap.releaseBlock(a);
    heap.releaseBlock(a2);
    expect(heap.refcount(a3)).toBe(1);
    heap.releaseBlock(a3);
    expect(heap.refcount(a3)).toBe(0);
    // the handle is stale now
    expect(() => heap.attachBlock(h)).toThrow(mp.ValueError);
    expect(() => heap.retainBlock(a)).toThrow(mp.ValueError);
    expect(() => heap.blockHandle(a)).toThrow(mp.ValueError);
  });

  it('attaching the same handle object twice takes a second reference', () => {
    const a = heap.allocate(8);
    const h = heap.blockHandle(a);
    const x = heap.attachBlock(h);
    const y = heap.attachBlock(h);
    expect(heap.refcount(a)).toBe(3);
    for (const b of [a, x, y]) heap.releaseBlock(b);
  });

  it('refuses bad handles with a ValueError, never a crash', () => {
    const a = heap.allocate(8);
    const good = heap.blockHandle(a) as Any;
    const bad: Any[] = [
      null,
      42,
      {},
      { ...good, a: 123 },
      { ...good, a: 'mp_does_not_exist' },
      { ...good, a: 'a/b' },
      { ...good, a: 'x'.repeat(300) },
      { ...good, o: 3 },
      { ...good, o: -16 },
      { ...good, o: heap.ARENA_SIZE + 64 },
      { ...good, o: 2 ** 40 },
      { ...good, g: good.g + 1 },
      { ...good, g: 'x' },
      { ...good, n: -1 },
      { ...good, n: 1 << 20 },
      { ...good, d: 'mp_nope' },
      { ...good, d: 5 },
    ];
    for (const h of bad) expect(() => heap.attachBlock(h), JSON.stringify(h)).toThrow(mp.ValueError);
    const ok = heap.attachBlock(good);
    heap.releaseBlock(ok);
    heap.releaseBlock(a);
  });

  it('checks its arguments', () => {
    expect(() => heap.allocate(-1)).toThrow(RangeError);
    expect(() => heap.allocate(1.5)).toThrow(TypeError);
    expect(() => heap.allocate('8' as Any)).toThrow(TypeError);
    expect(() => heap.allocate(8, 3)).toThrow(RangeError);
    expect(() => heap.allocate(8, 32)).toThrow(RangeError);
  });

  it('gives blocks above 64 KiB a dedicated segment, unlinked at refcount 0', () => {
    const big = heap.allocate(heap.MAX_SMALL + 1);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(heap.MAX_SMALL + 1);
    const h = heap.blockHandle(big) as Any;
    expect(typeof h.d).toBe('string');
    expect(existsSync(`/dev/shm/${h.d}`)).toBe(true);
    const again = heap.attachBlock(h);
    expect(again.buffer).toBe(big.buffer); // one mapping per process
    heap.releaseBlock(big);
    expect(existsSync(`/dev/shm/${h.d}`)).toBe(true);
    heap.releaseBlock(again);
    expect(existsSync(`/dev/shm/${h.d}`)).toBe(false);
    // the local mapping stays valid until collected: no dangling views
    expect(new Uint8Array(again.buffer).length).toBe(heap.MAX_SMALL + 1);
    const exact = heap.allocate(heap.MAX_SMALL);
    expect(exact.buffer.byteLength).toBe(heap.ARENA_SIZE); // 64 KiB itself is small
    heap.releaseBlock(exact);
  });

  it('a 100k loop of Values and Locks uses a few arenas', () => {
    const { Lock } = require('../dist/synchronize.js');
    const before = heap.heapStats().ownedArenas;
    const keep: unknown[] = [];
    for (let i = 0; i < 20_000; i++) keep.push(new Lock(), mp.Value('i', i));
    expect(heap.heapStats().ownedArenas - before).toBeLessThan(8);
  });
});

describe('heap across processes', () => {
  let child: Awaited<ReturnType<typeof startChild>>;
  beforeAll(async () => {
    child = await startChild();
  });
  afterAll(async () => {
    await child?.close();
  });

  it('a block freed by another process goes back to its owner', async () => {
    const a = heap.allocate(24);
    bytes(a).set([1, 2, 3]);
    const where = a.byteOffset;
    const buffer = a.buffer;
    const h = heap.blockHandle(a);
    heap.releaseBlock(a); // the handle keeps it
    expect(heap.refcount(a)).toBe(1);
    const seen = (await child.call('attachRelease', { handle: h })) as number[];
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
    expect(heap.refcount(a)).toBe(0);
    // it is on the arena's shared free stack; the owner finds it within a few hundred
    // allocations of its size class
    const got: import('../dist/heap.js').Block[] = [];
    let found = false;
    for (let i = 0; i < 600 && !found; i++) {
      const b = heap.allocate(24);
      got.push(b);
      found = b.buffer === buffer && b.byteOffset === where;
    }
    expect(found).toBe(true);
    expect([...bytes(got[got.length - 1])].every((x) => x === 0)).toBe(true);
    for (const b of got) heap.releaseBlock(b);
  });

  it('a child holding a block keeps it alive; a dedicated segment goes with the last reference', async () => {
    const big = heap.allocate(200_000);
    new Float64Array(big.buffer)[0] = 6.5;
    const h = heap.blockHandle(big) as Any;
    expect(await child.call('attachKeep', { handle: h })).toBe(200_000);
    heap.releaseBlock(big);
    expect(existsSync(`/dev/shm/${h.d}`)).toBe(true);
    await child.call('releaseKept');
    expect(existsSync(`/dev/shm/${h.d}`)).toBe(false);
  });

  it("an exited owner's arena is unlinked by whoever frees its last block", async () => {
    const c = await startChild();
    const h = (await c.call('makeValue', { typecode: 'i', v: 5 })) as Any;
    await c.call('exit', { code: 0 });
    await c.exited;
    const arena = h.b.a as string;
    expect(existsSync(`/dev/shm/${arena}`)).toBe(true); // two blocks still in transit
    const value = heap.attachBlock(h.b);
    const lock = heap.attachBlock(h.lock.block);
    expect(new Int32Array(value.buffer, value.byteOffset, 1)[0]).toBe(5);
    heap.releaseBlock(value);
    expect(existsSync(`/dev/shm/${arena}`)).toBe(true);
    heap.releaseBlock(lock);
    expect(existsSync(`/dev/shm/${arena}`)).toBe(false);
  });
});

describe('heap at scale (child processes)', () => {
  it('100k Locks and 100k Values make a handful of segments', async () => {
    const { code, lines } = await runScript('loop');
    expect(code).toBe(0);
    const out = lines[0] as Any;
    expect(out.last).toBe(99_999);
    expect(out.segments).toBeLessThan(20);
    expect(out.stats.ownedArenas).toBe(out.segments);
  });

  it('memory is reused after GC and big segments go away', async () => {
    const { code, lines } = await runScript('gcReuse', { execArgv: ['--expose-gc'] });
    expect(code).toBe(0);
    const out = lines[0] as Any;
    const arenas = out.rounds.map((r: Any) => r.arenas);
    // after the first round the arenas stop growing
    expect(Math.max(...arenas)).toBe(arenas[0]);
    expect(out.bigNames.length).toBe(3);
    expect(out.leftBig).toEqual([]);
  });

  it('trim() unlinks arenas without live blocks', () => {
    const blocks = Array.from({ length: 100 }, () => heap.allocate(1000));
    for (const b of blocks) heap.releaseBlock(b);
    const before = heap.heapStats().ownedArenas;
    heap.trim();
    expect(heap.heapStats().ownedArenas).toBeLessThanOrEqual(before);
  });
});
