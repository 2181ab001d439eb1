// A queue's or pipe's ring is unmapped in this process at its last release here (not
// when V8 collects its buffer), so that its /dev/shm pages come back at close(). Nothing
// may touch it after: a get, recv, poll or join still waiting ends with a clean
// ValueError, a put in flight finishes first, and another object on the same ring keeps
// it. (The space itself, without a GC: resource_limits.test.ts.)
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { settles, sleep } from './helpers/async.js';
import { fixtureUrl } from './helpers/scripts.js';
import { mappedSegments } from './helpers/shm_maps.js';

const require = createRequire(import.meta.url);
const heap = require('../dist/heap.js') as typeof import('../dist/heap.js');
const { Ring } = require('../dist/ring.js') as typeof import('../dist/ring.js');
const { HANDLE_KIND, fromWire, toWire } = require('../dist/reduction.js') as typeof import('../dist/reduction.js');
// biome-ignore lint/suspicious/noExplicitAny: internals and handles are poked at
type Any = any;

/** The dedicated segment of an object's ring (a queue's `ring`, a connection's `recvRing`). */
const segmentOf = (ring: Any): string => ring.block.seg;

/** Whether segment `name` still exists and whether this process maps it. */
const where = (name: string) => ({ exists: existsSync(`/dev/shm/${name}`), mapped: mappedSegments().has(name) });

const GONE = { exists: false, mapped: false };

describe('a closed queue', () => {
  const KINDS = { Queue: mp.Queue, SimpleQueue: mp.SimpleQueue, JoinableQueue: mp.JoinableQueue };
  it.each(['Queue', 'SimpleQueue', 'JoinableQueue'] as const)('%s: gets waiting reject with a ValueError, then the ring is unmapped', async (kind) => {
    const q = new KINDS[kind]<number>();
    const seg = segmentOf((q as Any).ring);
    const abort = new AbortController();
    const waiting =
      kind === 'SimpleQueue'
        ? [q.get(), (q as mp.SimpleQueue<number>).get({ signal: abort.signal })]
        : [q.get(), (q as mp.Queue<number>).get({ timeout: 30 }), (q as mp.Queue<number>).get({ signal: abort.signal })];
    await sleep(50); // asleep in the addon, not spinning
    expect(where(seg)).toEqual({ exists: true, mapped: true });
    q.close();
    for (const got of waiting) await expect(settles(got, 'a waiting get')).rejects.toThrow(new mp.ValueError(`${kind} is closed`));
    expect(where(seg)).toEqual(GONE);
    // Later calls fail the same way, without touching the ring.
    await expect(q.get()).rejects.toThrow(mp.ValueError);
    expect(() => q.getSync()).toThrow(mp.ValueError);
    expect((q as Any).takeNow()).toBeUndefined();
    expect((q as Any).peekNow()).toBeUndefined();
  });

  it('a JoinableQueue join waiting rejects with a ValueError', async () => {
    const q = new mp.JoinableQueue<string>();
    q.putSync('task');
    const joining = q.join();
    await sleep(50);
    q.close();
    await expect(settles(joining, 'join')).rejects.toThrow(new mp.ValueError('JoinableQueue is closed'));
    expect(where(segmentOf((q as Any).ring))).toEqual(GONE);
  });

  it('a put waiting for room finishes (here: times out and takes back its count) before the ring goes', async () => {
    const q = new mp.JoinableQueue<string>(1);
    const carrier = new mp.SimpleQueue<mp.JoinableQueue<string>>();
    q.putSync('a');
    carrier.putSync(q);
    const again = carrier.getSync(); // a second object on the same ring
    const putting = q.put('b', { timeout: 0.3 });
    await sleep(50);
    q.close(); // its feeder holds 'b': the ring is released once that put has ended
    await expect(settles(putting, 'put')).rejects.toThrow(mp.Full);
    expect(again.getSync()).toBe('a');
    again.taskDone();
    expect(again.joinSync(0)).toBe(true); // the failed put's count was taken back
    const seg = segmentOf((again as Any).ring);
    expect(where(seg)).toEqual({ exists: true, mapped: true });
    again.close();
    carrier.close();
    expect(where(seg)).toEqual(GONE);
  });

  it('a message put before close still reaches a get of another object on the ring', async () => {
    const q = new mp.Queue<number>();
    const carrier = new mp.SimpleQueue<mp.Queue<number>>();
    carrier.putSync(q);
    const again = carrier.getSync();
    const waiting = again.get({ timeout: 10 });
    q.putSync(7);
    q.close(); // this object's reference only
    expect(await waiting).toBe(7);
    again.putSync(8);
    expect(again.getSync()).toBe(8);
    const seg = segmentOf((again as Any).ring);
    again.close();
    carrier.close();
    expect(where(seg)).toEqual(GONE);
  });

  it('a queue whose handle is in flight keeps its ring: closed here, it is revived from the message', () => {
    const q = new mp.Queue<string>();
    const carrier = new mp.SimpleQueue<mp.Queue<string>>();
    const seg = segmentOf((q as Any).ring);
    q.putSync('kept');
    carrier.putSync(q);
    q.close();
    expect(where(seg)).toEqual({ exists: true, mapped: false }); // the handle's reference holds it
    const revived = carrier.getSync();
    expect(revived.getSync()).toBe('kept');
    revived.close();
    carrier.close();
    expect(where(seg)).toEqual(GONE);
  });
});

describe("another process's arena", () => {
  it('mapped here for the refcount of its big message, it is unmapped once the message is read and that process has left (no GC needed)', async () => {
    const q = new mp.Queue<Buffer | string>();
    const back = new mp.Queue<Buffer | string>();
    const p = new mp.Process({ target: { module: fixtureUrl('queue-targets.mjs'), name: 'echo' }, args: [q, back, 2] });
    p.start();
    const before = mappedSegments();
    const added = () => [...mappedSegments()].filter((name) => !before.has(name));
    q.putSync(Buffer.alloc(1 << 20, 3)); // the child puts it back: a block of the child's
    const got = (await back.get({ timeout: 30 })) as Buffer;
    expect([got.length, got[100]]).toEqual([1 << 20, 3]);
    // The child's block is unmapped once read; the child's arena, which holds that block's
    // refcount, stays while the child lives (it is linked anyway: no space to win).
    expect(added()).toHaveLength(1);
    q.putSync('last');
    expect(await back.get({ timeout: 30 })).toBe('last');
    await p.join(30);
    expect(p.exitcode).toBe(0);
    expect(added()).toEqual([]);
    q.close();
    back.close();
  });
});

describe('a closed pipe end', () => {
  it('a recv and a poll waiting on it reject with a ValueError; the peer then gets EOFError; the rings go with the last end', async () => {
    const [a, b] = mp.Pipe();
    const segs = [segmentOf((a as Any).recvRing), segmentOf((b as Any).recvRing)];
    const recv = a.recv();
    const poll = a.poll(30);
    const peerRecv = b.recv();
    await sleep(50);
    a.close();
    await expect(settles(recv, 'recv')).rejects.toThrow(new mp.ValueError('Connection is closed'));
    await expect(settles(poll, 'poll')).rejects.toThrow(new mp.ValueError('Connection is closed'));
    await expect(settles(peerRecv, 'the peer recv')).rejects.toThrow(mp.EOFError);
    for (const seg of segs) expect(where(seg)).toEqual({ exists: true, mapped: true }); // b still holds both
    b.close();
    for (const seg of segs) expect(where(seg)).toEqual(GONE);
  });

  it('messages still pending in the sender are flushed before its ring goes', async () => {
    const [r, w] = mp.Pipe({ duplex: false });
    const big = 'x'.repeat(20_000); // three of them fill the 64 KiB ring
    const sends = Array.from({ length: 6 }, (_, i) => w.send(`${i}${big}`));
    w.close(); // pending sends go out first (an OS pipe's buffer)
    for (let i = 0; i < 6; i++) expect(((await settles(r.recv(), 'recv')) as string)[0]).toBe(String(i));
    await Promise.all(sends);
    await expect(r.recv()).rejects.toThrow(mp.EOFError);
    const seg = segmentOf((r as Any).recvRing);
    r.close();
    expect(where(seg)).toEqual(GONE);
  });
});

describe('a block that is no ring', () => {
  it('attached as one fails with a ValueError, and is released and unmapped at once', () => {
    const block = heap.allocate(70_000, 16, true); // a dedicated segment, no ring magic
    const handle = heap.blockHandle(block) as Any;
    heap.releaseBlock(block); // the handle's reference keeps it
    expect(where(handle.d)).toEqual({ exists: true, mapped: false });
    expect(() => Ring.attach(handle)).toThrow(/not a queue or pipe ring/);
    expect(where(handle.d)).toEqual(GONE);
  });

  it("a user's big array relabeled as a queue's ring fails, and the array keeps its memory", () => {
    const arr = mp.RawArray('d', 100_000);
    arr[99_999] = 2.5;
    const wire = toWire(arr) as Any;
    const relabeled = { [HANDLE_KIND]: 'Queue', ring: wire.b, maxsize: 0 };
    expect(() => fromWire(relabeled)).toThrow(/not a queue or pipe ring/);
    // The user's mapping is never unmapped by a library release: the view still works.
    expect(arr[99_999]).toBe(2.5);
    expect(arr.length).toBe(100_000);
  });
});
