// Unit tests of the objects a manager server holds for the sync and queue typeids
// (lib/manager_sync.ts, lib/manager_queue.ts). Clients are simulated with Callers:
// callAs(c, fn) runs a call on behalf of client c, c.markGone() ends its connection.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BrokenBarrierError, Empty, Full, ValueError } from '../lib/errors.js';
import { Caller, callAs } from '../lib/manager_caller.js';
import { ManagedJoinableQueue, ManagedQueue } from '../lib/manager_queue.js';
import {
  CallerGoneError,
  ManagedBarrier,
  ManagedBoundedSemaphore,
  ManagedCondition,
  ManagedEvent,
  ManagedLock,
  ManagedRLock,
  ManagedSemaphore,
} from '../lib/manager_sync.js';
import { expectThrows } from './helpers/assert.js';

const tick = () => new Promise((r) => setImmediate(r));

/** Three fresh clients. */
const clients = () => [new Caller(), new Caller(), new Caller()] as const;

/** The state of a promise after pending callbacks have run. */
async function state(p: unknown): Promise<'pending' | 'resolved' | 'rejected' | 'not a promise'> {
  if (!(p instanceof Promise)) return 'not a promise';
  let s: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (s = 'resolved'),
    () => (s = 'rejected'),
  );
  await tick();
  return s;
}

/** The error a promise rejects with (it must reject). */
async function rejection(p: unknown): Promise<unknown> {
  expect(p).toBeInstanceOf(Promise);
  return (p as Promise<unknown>).then(
    (v) => {
      throw new Error(`expected a rejection, got ${String(v)}`);
    },
    (e: unknown) => e,
  );
}

/** Attach a handler now (so a later rejection is not unhandled) and keep the outcome. */
function outcome(p: unknown): Promise<{ value?: unknown; error?: unknown }> {
  expect(p).toBeInstanceOf(Promise);
  return (p as Promise<unknown>).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ManagedLock', () => {
  it('acquires at once, reports locked, and refuses to release when unlocked', () => {
    const [a] = clients();
    const lock = new ManagedLock();
    expect(lock.locked()).toBe(false);
    expect(callAs(a, () => lock.acquire())).toBe(true);
    expect(lock.locked()).toBe(true);
    callAs(a, () => lock.release());
    expect(lock.locked()).toBe(false);
    expectThrows(() => callAs(a, () => lock.release()), ValueError, /release unlocked lock/);
  });

  it('block:false and timeout 0 answer false at once; a timeout resolves false later', async () => {
    const [a, b] = clients();
    const lock = new ManagedLock();
    callAs(a, () => lock.acquire());
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(false);
    expect(callAs(b, () => lock.acquire({ block: false, timeout: 10 }))).toBe(false);
    expect(callAs(b, () => lock.acquire({ timeout: 0 }))).toBe(false);
    expect(callAs(b, () => lock.acquire({ timeout: -1 }))).toBe(false);
    const t0 = Date.now();
    const p = callAs(b, () => lock.acquire({ timeout: 0.05 }));
    expect(p).toBeInstanceOf(Promise);
    expect(await p).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    expect(lock.locked()).toBe(true);
  });

  it('validates its options', () => {
    const lock = new ManagedLock();
    expectThrows(() => lock.acquire({ timeout: 'x' as unknown as number }), TypeError, /timeout/);
    expectThrows(() => lock.acquire({ block: 1 as unknown as boolean }), TypeError, /block/);
    expectThrows(() => lock.acquire(5 as unknown as object), TypeError, /options/);
    expect(lock.locked()).toBe(false);
  });

  it('may be released by any caller, and serves waiters FIFO', async () => {
    const [a, b, c] = clients();
    const lock = new ManagedLock();
    callAs(a, () => lock.acquire());
    const pb = callAs(b, () => lock.acquire());
    const pc = callAs(c, () => lock.acquire());
    callAs(c, () => lock.release()); // not the holder, still allowed (threading.Lock)
    expect(await state(pb)).toBe('resolved');
    expect(await state(pc)).toBe('pending');
    expect(lock.locked()).toBe(true);
    callAs(b, () => lock.release());
    expect(await pc).toBe(true);
    callAs(c, () => lock.release());
    expect(lock.locked()).toBe(false);
  });

  it('a holder whose connection ends lets the next waiter in', async () => {
    const [a, b] = clients();
    const lock = new ManagedLock();
    callAs(a, () => lock.acquire());
    const pb = callAs(b, () => lock.acquire());
    a.markGone();
    expect(await pb).toBe(true);
    expect(lock.locked()).toBe(true);
    b.markGone();
    expect(lock.locked()).toBe(false);
  });

  it('releases on connection end only what that caller acquired', () => {
    const [a, b, c] = clients();
    const lock = new ManagedLock();
    callAs(a, () => lock.acquire());
    callAs(b, () => lock.release());
    callAs(c, () => lock.acquire());
    a.markGone();
    expect(lock.locked()).toBe(true);
    c.markGone();
    expect(lock.locked()).toBe(false);
  });

  it('a waiter whose connection ends is dropped and never takes the lock', async () => {
    const [a, b, c] = clients();
    const lock = new ManagedLock();
    callAs(a, () => lock.acquire());
    const pb = outcome(callAs(b, () => lock.acquire()));
    const pc = callAs(c, () => lock.acquire());
    b.markGone();
    expect((await pb).error).toBeInstanceOf(CallerGoneError);
    callAs(a, () => lock.release());
    expect(await pc).toBe(true);
    callAs(c, () => lock.release());
    expect(lock.locked()).toBe(false);
    // A call from a caller that is already gone holds nothing afterwards.
    expect(callAs(b, () => lock.acquire())).toBe(true);
    expect(lock.locked()).toBe(false);
  });
});

describe('ManagedRLock', () => {
  it('is recursive for its owner and released level by level', () => {
    const [a, b] = clients();
    const lock = new ManagedRLock();
    expect(callAs(a, () => lock.acquire())).toBe(true);
    expect(callAs(a, () => lock.acquire({ block: false }))).toBe(true);
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(false);
    callAs(a, () => lock.release());
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(false);
    callAs(a, () => lock.release());
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(true);
  });

  it('refuses release by a non-owner or when unlocked', () => {
    const [a, b] = clients();
    const lock = new ManagedRLock();
    expectThrows(() => callAs(a, () => lock.release()), ValueError, /cannot release un-acquired lock/);
    callAs(a, () => lock.acquire());
    expectThrows(() => callAs(b, () => lock.release()), ValueError, /cannot release un-acquired lock/);
    callAs(a, () => lock.release());
  });

  it('hands over to a waiter, times out, and frees all levels of a gone owner', async () => {
    const [a, b, c] = clients();
    const lock = new ManagedRLock();
    callAs(a, () => lock.acquire());
    callAs(a, () => lock.acquire());
    expect(await callAs(b, () => lock.acquire({ timeout: 0.05 }))).toBe(false);
    const pc = callAs(c, () => lock.acquire());
    expect(await state(pc)).toBe('pending');
    a.markGone();
    expect(await pc).toBe(true);
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(false);
    callAs(c, () => lock.release());
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(true);
  });

  it('a waiter whose connection ends never becomes the owner', async () => {
    const [a, b, c] = clients();
    const lock = new ManagedRLock();
    callAs(a, () => lock.acquire());
    const pb = outcome(callAs(b, () => lock.acquire()));
    b.markGone();
    expect((await pb).error).toBeInstanceOf(CallerGoneError);
    callAs(a, () => lock.release());
    expect(callAs(c, () => lock.acquire({ block: false }))).toBe(true);
  });
});

describe('ManagedSemaphore and ManagedBoundedSemaphore', () => {
  it('validates value', () => {
    expectThrows(() => new ManagedSemaphore('2'), TypeError, /value/);
    expectThrows(() => new ManagedSemaphore(1.5), TypeError, /value/);
    expectThrows(() => new ManagedSemaphore(-1), ValueError, /value/);
    expectThrows(() => new ManagedBoundedSemaphore(-1), ValueError, /value/);
    expect(new ManagedSemaphore().getValue()).toBe(1);
    expect(new ManagedSemaphore(0).getValue()).toBe(0);
  });

  it('counts units, refuses at zero, and release(n) wakes n waiters FIFO', async () => {
    const [a, b, c] = clients();
    const sem = new ManagedSemaphore(2);
    expect(callAs(a, () => sem.acquire())).toBe(true);
    expect(callAs(a, () => sem.acquire())).toBe(true);
    expect(sem.getValue()).toBe(0);
    expect(callAs(a, () => sem.acquire({ block: false }))).toBe(false);
    expect(await callAs(a, () => sem.acquire({ timeout: 0.05 }))).toBe(false);
    const pb = callAs(b, () => sem.acquire());
    const pc = callAs(c, () => sem.acquire());
    const pa = callAs(a, () => sem.acquire());
    sem.release(2);
    expect(await state(pb)).toBe('resolved');
    expect(await state(pc)).toBe('resolved');
    expect(await state(pa)).toBe('pending');
    expect(sem.getValue()).toBe(0);
    sem.release(3);
    expect(await pa).toBe(true);
    expect(sem.getValue()).toBe(2);
    expectThrows(() => sem.release(0), ValueError, /n must be >= 1/);
    expectThrows(() => sem.release('1'), TypeError, /\bn\b/);
  });

  it('a waiter whose connection ends takes no unit', async () => {
    const [a, b] = clients();
    const sem = new ManagedSemaphore(0);
    const pa = outcome(callAs(a, () => sem.acquire()));
    const pb = callAs(b, () => sem.acquire());
    a.markGone();
    expect((await pa).error).toBeInstanceOf(CallerGoneError);
    sem.release();
    expect(await pb).toBe(true);
    sem.release();
    expect(sem.getValue()).toBe(1);
  });

  it('a bounded semaphore refuses to go above its initial value', async () => {
    const [a, b] = clients();
    const sem = new ManagedBoundedSemaphore(2);
    expectThrows(() => sem.release(), ValueError, /Semaphore released too many times/);
    callAs(a, () => sem.acquire());
    expectThrows(() => sem.release(2), ValueError, /released too many times/);
    expect(sem.getValue()).toBe(1);
    callAs(a, () => sem.acquire());
    const pb = callAs(b, () => sem.acquire());
    sem.release();
    expect(await pb).toBe(true);
    sem.release(2);
    expect(sem.getValue()).toBe(2);
    expectThrows(() => sem.release(), ValueError, /released too many times/);
  });
});

describe('ManagedCondition', () => {
  it('accepts a Lock, an RLock or nothing, and refuses anything else', () => {
    expect(() => new ManagedCondition(new ManagedLock())).not.toThrow();
    expect(() => new ManagedCondition(new ManagedRLock())).not.toThrow();
    expect(() => new ManagedCondition()).not.toThrow();
    expectThrows(() => new ManagedCondition({}), TypeError, /lock must be a Lock or RLock/);
  });

  it('refuses wait and notify by a caller that does not hold the lock', () => {
    const [a, b] = clients();
    const cond = new ManagedCondition();
    expectThrows(() => callAs(a, () => cond.wait()), ValueError, /cannot wait on un-acquired lock/);
    expectThrows(() => callAs(a, () => cond.notify()), ValueError, /cannot notify on un-acquired lock/);
    expectThrows(() => callAs(a, () => cond.notifyAll()), ValueError, /cannot notify on un-acquired lock/);
    callAs(a, () => cond.acquire());
    expectThrows(() => callAs(b, () => cond.wait()), ValueError, /cannot wait on un-acquired lock/);
    expectThrows(() => callAs(b, () => cond.notify()), ValueError, /cannot notify on un-acquired lock/);
    expectThrows(() => callAs(b, () => cond.release()), ValueError, /cannot release un-acquired lock/);
    expectThrows(() => callAs(a, () => cond.notify(-1)), ValueError, /\bn\b/);
    callAs(a, () => cond.release());
  });

  it('wait releases every level of a recursive RLock and restores them after notify', async () => {
    const [a, b] = clients();
    const lock = new ManagedRLock();
    const cond = new ManagedCondition(lock);
    callAs(a, () => cond.acquire());
    callAs(a, () => cond.acquire());
    const waiting = callAs(a, () => cond.wait());
    expect(await state(waiting)).toBe('pending');
    expect(callAs(b, () => cond.acquire({ block: false }))).toBe(true); // fully released
    callAs(b, () => cond.notify());
    expect(await state(waiting)).toBe('pending'); // notified, but b still holds the lock
    callAs(b, () => cond.release());
    expect(await waiting).toBe(true);
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(false);
    callAs(a, () => cond.release());
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(false); // one level left
    callAs(a, () => cond.release());
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(true);
  });

  it('wait times out with false and still takes the lock back', async () => {
    const [a, b] = clients();
    const cond = new ManagedCondition();
    callAs(a, () => cond.acquire());
    expect(await callAs(a, () => cond.wait(0.05))).toBe(false);
    expect(await callAs(a, () => cond.wait(0))).toBe(false);
    expect(callAs(b, () => cond.acquire({ block: false }))).toBe(false);
    callAs(a, () => cond.release());
    expect(callAs(b, () => cond.acquire({ block: false }))).toBe(true);
  });

  it('notify(n) wakes the n oldest waiters, notifyAll the rest', async () => {
    const [a, b, c] = clients();
    const d = new Caller();
    const cond = new ManagedCondition();
    const waits = [a, b, c].map((x) => {
      callAs(x, () => cond.acquire());
      const p = callAs(x, () => cond.wait());
      return p.then(() => callAs(x, () => cond.release()));
    });
    callAs(d, () => cond.acquire());
    callAs(d, () => cond.notify(2));
    callAs(d, () => cond.release());
    expect(await state(waits[0])).toBe('resolved');
    expect(await state(waits[1])).toBe('resolved');
    expect(await state(waits[2])).toBe('pending');
    callAs(d, () => cond.acquire());
    callAs(d, () => cond.notifyAll());
    callAs(d, () => cond.release());
    await Promise.all(waits);
  });

  it('works over a plain Lock', async () => {
    const [a, b] = clients();
    const lock = new ManagedLock();
    const cond = new ManagedCondition(lock);
    callAs(a, () => cond.acquire());
    const waiting = callAs(a, () => cond.wait());
    expect(lock.locked()).toBe(false);
    callAs(b, () => cond.acquire());
    callAs(b, () => cond.notify());
    callAs(b, () => cond.release());
    expect(await waiting).toBe(true);
    expect(lock.locked()).toBe(true);
    a.markGone(); // a re-took the lock in wait, so its end releases it
    expect(lock.locked()).toBe(false);
  });

  it('a gone waiter does not use up a notify and never takes the lock back', async () => {
    const [a, b, c] = clients();
    const lock = new ManagedRLock();
    const cond = new ManagedCondition(lock);
    callAs(a, () => cond.acquire());
    const wa = outcome(callAs(a, () => cond.wait()));
    callAs(b, () => cond.acquire());
    const wb = callAs(b, () => cond.wait());
    a.markGone();
    expect((await wa).error).toBeInstanceOf(CallerGoneError);
    callAs(c, () => cond.acquire());
    callAs(c, () => cond.notify(1));
    callAs(c, () => cond.release());
    expect(await wb).toBe(true);
    callAs(b, () => cond.release());
    expect(callAs(c, () => lock.acquire({ block: false }))).toBe(true);
  });

  it('a waiter that is gone while taking the lock back does not keep it', async () => {
    const [a, b] = clients();
    const lock = new ManagedRLock();
    const cond = new ManagedCondition(lock);
    callAs(a, () => cond.acquire());
    const wa = outcome(callAs(a, () => cond.wait()));
    callAs(b, () => cond.acquire());
    callAs(b, () => cond.notify());
    await tick(); // a is now waiting for the lock
    a.markGone();
    expect((await wa).error).toBeInstanceOf(CallerGoneError);
    callAs(b, () => cond.release());
    expect(callAs(b, () => lock.acquire({ block: false }))).toBe(true);
  });
});

describe('ManagedEvent', () => {
  it('set, clear, isSet, and wait answering the flag', async () => {
    const [a, b] = clients();
    const ev = new ManagedEvent();
    expect(ev.isSet()).toBe(false);
    expect(callAs(a, () => ev.wait(0))).toBe(false);
    expect(callAs(a, () => ev.wait(-5))).toBe(false);
    expect(await callAs(a, () => ev.wait(0.05))).toBe(false);
    const pa = callAs(a, () => ev.wait());
    const pb = callAs(b, () => ev.wait(10));
    expect(await state(pa)).toBe('pending');
    ev.set();
    expect(ev.isSet()).toBe(true);
    expect(await pa).toBe(true);
    expect(await pb).toBe(true);
    expect(callAs(a, () => ev.wait())).toBe(true); // set: answered at once
    ev.clear();
    expect(ev.isSet()).toBe(false);
    expectThrows(() => ev.wait('1' as unknown as number), TypeError, /timeout/);
  });

  it('drops the wait of a gone caller', async () => {
    const [a] = clients();
    const ev = new ManagedEvent();
    const pa = outcome(callAs(a, () => ev.wait()));
    a.markGone();
    expect((await pa).error).toBeInstanceOf(CallerGoneError);
    ev.set();
    expect((await pa).value).toBeUndefined();
  });

  it('waits longer than setTimeout allows without firing early', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const [a] = clients();
    const ev = new ManagedEvent();
    const p = callAs(a, () => ev.wait(30 * 24 * 3600)); // 30 days > 2^31 ms
    await vi.advanceTimersByTimeAsync(2 ** 31);
    expect(await state(p)).toBe('pending');
    await vi.advanceTimersByTimeAsync(30 * 24 * 3600 * 1000 - 2 ** 31);
    expect(await p).toBe(false);
  });
});

describe('ManagedBarrier', () => {
  it('refuses an action and bad parties', () => {
    let caught: unknown;
    try {
      new ManagedBarrier(2, { action: 'function f() {}' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect((caught as Error).message).toMatch(/Barrier cannot run an action/);
    expect((caught as Error).message).toMatch(/index 0/);
    expectThrows(() => new ManagedBarrier(0), ValueError, /parties/);
    expectThrows(() => new ManagedBarrier('3'), TypeError, /parties/);
    expectThrows(() => new ManagedBarrier(2, { timeout: 'x' as unknown as number }), TypeError, /timeout/);
    expect(new ManagedBarrier(2, { action: null }).parties()).toBe(2);
  });

  it('gives arrival indexes 0..parties-1 and is reusable', async () => {
    const [a, b, c] = clients();
    const bar = new ManagedBarrier(3);
    expect(bar.parties()).toBe(3);
    for (let round = 0; round < 2; round++) {
      const pa = callAs(a, () => bar.wait());
      const pb = callAs(b, () => bar.wait());
      expect(bar.nWaiting()).toBe(2);
      expect(await state(pa)).toBe('pending');
      const pc = callAs(c, () => bar.wait());
      expect(await Promise.all([pa, pb, pc])).toEqual([0, 1, 2]);
      expect(bar.nWaiting()).toBe(0);
    }
    expect(await callAs(a, () => new ManagedBarrier(1).wait())).toBe(0);
  });

  it('abort breaks it until reset; reset breaks only the current waiters', async () => {
    const [a, b] = clients();
    const bar = new ManagedBarrier(3);
    const pa = callAs(a, () => bar.wait());
    bar.abort();
    expect(await rejection(pa)).toBeInstanceOf(BrokenBarrierError);
    expect(bar.broken()).toBe(true);
    expect(await rejection(callAs(b, () => bar.wait()))).toBeInstanceOf(BrokenBarrierError);
    bar.reset();
    expect(bar.broken()).toBe(false);
    const pb = callAs(b, () => bar.wait());
    bar.reset();
    expect(await rejection(pb)).toBeInstanceOf(BrokenBarrierError);
    expect(bar.broken()).toBe(false);
    expect(bar.nWaiting()).toBe(0);
  });

  it('a timeout breaks it for every party (wait timeout and default timeout)', async () => {
    const [a, b] = clients();
    const bar = new ManagedBarrier(3);
    const pa = outcome(callAs(a, () => bar.wait()));
    const pb = outcome(callAs(b, () => bar.wait(0.05)));
    expect((await pb).error).toBeInstanceOf(BrokenBarrierError);
    expect((await pa).error).toBeInstanceOf(BrokenBarrierError);
    expect(bar.broken()).toBe(true);
    const timed = new ManagedBarrier(2, { timeout: 0.05 });
    const t0 = Date.now();
    expect(await rejection(callAs(a, () => timed.wait()))).toBeInstanceOf(BrokenBarrierError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    expect(timed.broken()).toBe(true);
  });

  it('a party whose connection ends while waiting breaks it for the others', async () => {
    const [a, b] = clients();
    const bar = new ManagedBarrier(3);
    const pa = outcome(callAs(a, () => bar.wait()));
    const pb = outcome(callAs(b, () => bar.wait()));
    a.markGone();
    expect((await pa).error).toBeInstanceOf(CallerGoneError);
    expect((await pb).error).toBeInstanceOf(BrokenBarrierError);
    expect(bar.broken()).toBe(true);
  });
});

describe('ManagedQueue', () => {
  it('validates maxsize; <= 0 is unbounded', () => {
    expectThrows(() => new ManagedQueue('3'), TypeError, /maxsize/);
    expectThrows(() => new ManagedQueue(1.5), TypeError, /maxsize/);
    const q = new ManagedQueue(-1);
    for (let i = 0; i < 100; i++) q.putNowait(i);
    expect(q.full()).toBe(false);
    expect(q.qsize()).toBe(100);
  });

  it('is FIFO, answers at once when it can, and raises Full and Empty', async () => {
    const [a] = clients();
    const q = new ManagedQueue(2);
    expect(q.empty()).toBe(true);
    expectThrows(() => q.getNowait(), Empty, /empty/);
    expectThrows(() => q.get({ block: false }), Empty, /empty/);
    expectThrows(() => q.get({ timeout: 0 }), Empty, /empty/);
    expect(callAs(a, () => q.put('x'))).toBeUndefined();
    q.putNowait({ y: 1 });
    expect(q.full()).toBe(true);
    expect(q.qsize()).toBe(2);
    expectThrows(() => q.putNowait('z'), Full, /full/);
    expectThrows(() => q.put('z', { block: false }), Full, /full/);
    expect(await rejection(callAs(a, () => q.put('z', { timeout: 0.05 })))).toBeInstanceOf(Full);
    expect(callAs(a, () => q.get())).toBe('x');
    expect(q.getNowait()).toEqual({ y: 1 });
    expect(await rejection(callAs(a, () => q.get({ timeout: 0.05 })))).toBeInstanceOf(Empty);
    expect(q.qsize()).toBe(0);
  });

  it('a put goes to the oldest waiting get', async () => {
    const [a, b, c] = clients();
    const q = new ManagedQueue();
    const pa = callAs(a, () => q.get());
    const pb = callAs(b, () => q.get());
    callAs(c, () => q.put(1));
    callAs(c, () => q.put(2));
    expect(await pa).toBe(1);
    expect(await pb).toBe(2);
    expect(q.qsize()).toBe(0);
  });

  it('a get lets the oldest waiting put in', async () => {
    const [a, b, c] = clients();
    const q = new ManagedQueue(1);
    q.put(1);
    const pa = callAs(a, () => q.put(2));
    const pb = callAs(b, () => q.put(3));
    expect(q.qsize()).toBe(1);
    expect(callAs(c, () => q.get())).toBe(1);
    expect(await state(pa)).toBe('resolved');
    expect(await state(pb)).toBe('pending');
    expect(q.getNowait()).toBe(2);
    await pb;
    expect(q.getNowait()).toBe(3);
    expect(q.empty()).toBe(true);
  });

  it('a gone getter takes no item and a gone putter adds none', async () => {
    const [a, b, c] = clients();
    const q = new ManagedQueue(1);
    const pa = outcome(callAs(a, () => q.get()));
    a.markGone();
    expect((await pa).error).toBeInstanceOf(CallerGoneError);
    callAs(c, () => q.put('kept'));
    expect(q.qsize()).toBe(1);
    const pb = outcome(callAs(b, () => q.put('dropped')));
    b.markGone();
    expect((await pb).error).toBeInstanceOf(CallerGoneError);
    expect(callAs(c, () => q.get())).toBe('kept');
    expect(q.empty()).toBe(true);
  });

  it('stays FIFO over many items', () => {
    const q = new ManagedQueue();
    for (let i = 0; i < 5000; i++) q.put(i);
    const got: unknown[] = [];
    for (let i = 0; i < 3000; i++) got.push(q.get());
    for (let i = 5000; i < 6000; i++) q.put(i);
    while (!q.empty()) got.push(q.get());
    expect(got).toEqual(Array.from({ length: 6000 }, (_, i) => i));
  });
});

describe('ManagedJoinableQueue', () => {
  it('join waits until taskDone was called once per item put', async () => {
    const [a, b] = clients();
    const q = new ManagedJoinableQueue();
    expect(await state(callAs(a, () => q.join()))).toBe('resolved');
    expectThrows(() => q.taskDone(), ValueError, /task_done\(\) called too many times/);
    const getter = callAs(b, () => q.get());
    q.put('handed over'); // straight to the waiting get: still a task
    q.put('queued');
    expect(await getter).toBe('handed over');
    const joined = callAs(a, () => q.join());
    q.taskDone();
    expect(await state(joined)).toBe('pending');
    expect(q.get()).toBe('queued');
    q.taskDone();
    expect(await state(joined)).toBe('resolved');
    expectThrows(() => q.taskDone(), ValueError, /too many times/);
  });

  it('a dropped put is not a task; a gone joiner is dropped', async () => {
    const [a, b, c] = clients();
    const q = new ManagedJoinableQueue(1);
    q.put(1);
    const pa = outcome(callAs(a, () => q.put(2)));
    a.markGone();
    expect((await pa).error).toBeInstanceOf(CallerGoneError);
    const jb = outcome(callAs(b, () => q.join()));
    const jc = callAs(c, () => q.join());
    b.markGone();
    expect((await jb).error).toBeInstanceOf(CallerGoneError);
    q.get();
    q.taskDone(); // only one task: the dropped put never counted
    await jc;
    expect(q.empty()).toBe(true);
  });
});
