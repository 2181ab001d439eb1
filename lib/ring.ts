// The shared byte ring that carries queues and pipes: variable-length records in a
// circular buffer in shared memory, many writers and many readers in any processes.
//
// Layout (one heap block): a header of 32-bit words, then `capacity` data bytes (a power
// of two). Writers and readers each have a lock word (the Lock protocol of lock_word.ts:
// the holder's pid, so a holder that dies is taken over) on their own cache line.
// TAIL and HEAD are free-running byte counters (offset = counter & mask, used bytes =
// TAIL - HEAD): a writer commits a record with ONE store to TAIL and a reader consumes one
// with ONE store to HEAD, so a process killed at any instruction leaves either the whole
// record or none of it: a half-written record is never read (TAIL did not move), and a
// record whose reader died before moving HEAD is read again by the next reader. The
// message counts (PUT_N, GET_N) feed qsize() and maxsize only; they may drift by one per
// such crash, always in the direction that lets a put through, never one that wedges.
//
// A record is a 32-bit header (payload length | flags) and the payload, padded to 8
// bytes. Records never wrap: when one does not fit before the end, the writer fills the
// rest with a PAD record and starts at offset 0. So a payload of up to capacity/2 - 8
// always fits once the ring drains; bigger messages travel outside (messages.ts).
//
// Sleeping: a reader finding the ring empty spins briefly (a message often arrives within
// microseconds, and a sleep + wake costs 30-60 us here), then counts itself in R_SLEEP and
// sleeps on TAIL; a writer wakes one sleeper after a commit, only when R_SLEEP says someone
// sleeps. Writers waiting for room do the same with W_SLEEP and HEAD. The count and the
// word are checked in Dekker order (count, then word; commit, then count), all seq-cst.
//
// Trust: the words and records are shared memory any process can scribble over (a bug,
// a stray write through a SharedMemory of the same name). What steers a read is checked
// before use: the capacity and magic on attach, and per record (locate) that it lies
// between HEAD and TAIL and inside the data area. A ring that fails a check is beyond
// repair (where the next record starts is lost): reads throw a ValueError saying so, HEAD
// stays where it is, and release walks no further than the checks allow.
//
// Release: a ring's block is internal (heap.ts), so this process's mapping goes with its
// last Ring object on it, and with the mapping every view of it. Whatever waits on the
// ring's words (a pending get, a feeder's flush, a JoinableQueue's join) is cancelled by
// release() and ends with CLOSED; the block goes once the last of them has left the
// words, so nothing reads memory that is gone (a later use gets a RangeError from a
// length-0 view, never a fault).
import { ValueError } from './errors.js';
import { WaitGroup, deadlineAfter, remaining, waitAsync, waitSync, wake } from './futex.js';
import { type Block, type BlockHandle, allocate, attachBlock, blockHandle, refcount, releaseBlock, retainBlock, trackOwner } from './heap.js';
import { acquireWordSync, releaseWord } from './lock_word.js';
import { PID } from './owner.js';
import { availableParallelism } from 'node:os';

// Header, Int32 indexes, on separate 64-byte cache lines: what writers change on every
// message, what readers change on every message, and the sleeper counts, which change
// only when someone sleeps (so a writer's look at "does a reader sleep?" after each
// commit hits its own cache instead of the line the reader just wrote).
const W_LOCK = 0;
const TAIL = 1;
const PUT_N = 2;
const R_LOCK = 16;
const HEAD = 17;
const GET_N = 18;
const MAGIC_WORD = 32;
const CAP_WORD = 33;
const R_SLEEP = 48; // and R_SLEEP + 1: a wake is on its way to them (see wakeSleepers)
const W_SLEEP = 64; // and W_SLEEP + 1, likewise
/** First word free for the ring's users (queues, pipes): see EXTRA_WORDS. */
export const EXTRA = 80;
export const EXTRA_WORDS = 96;
/** Bytes before the data: the header words, whole cache lines. */
export const HEADER_BYTES = 768;
/** The smallest data area (a power of two). */
export const MIN_CAPACITY = 64;
const MAGIC = 0x474e4952; // 'RING'

// Record header flags.
const PAD = 0x80000000 | 0;
export const FLAG_EXTERNAL = 0x40000000;
export const FLAG_BYTES = 0x20000000;
const LEN_MASK = 0x1fffffff;
const RECORD_HEADER = 4;

/** How long a waiter spins before it sleeps; 0 on a single CPU, where spinning only delays the peer. */
const SPIN_MS = availableParallelism() > 1 ? 0.05 : 0;
const SPIN_MS_ASYNC = availableParallelism() > 1 ? 0.01 : 0;

const align8 = (n: number) => (n + 7) & ~7;

/** Look at `ready()` for up to `ms` (not past `deadline`); true as soon as it is. */
function spin(ready: () => boolean, deadline: number, ms: number): boolean {
  if (ms <= 0) return false;
  const end = Math.min(deadline, performance.now() + ms);
  do {
    for (let k = 0; k < 64; k++) if (ready()) return true;
  } while (performance.now() < end);
  return false;
}

/** Reads a record's payload; called with the readers' lock held, so it must not wait. */
export interface RecordReader<T> {
  read(data: Uint8Array, start: number, end: number, flags: number): T;
}

/** Returned by take when nothing came in time. */
export const NOTHING: unique symbol = Symbol('nothing');
/** Returned by take/put when the `gone` check said the peer is gone. */
export const GONE: unique symbol = Symbol('gone');
/** Returned by a wait that this Ring object's release() ended: the ring must not be used. */
export const CLOSED: unique symbol = Symbol('closed');

export type WaitEnd = typeof NOTHING | typeof GONE | typeof CLOSED;
/** A Sync wait cannot see a release (it blocks the only thread that could release). */
export type SyncWaitEnd = typeof NOTHING | typeof GONE;

/** Checked by waiters between sleeps (pipes: is the other end still held anywhere?). */
export type GoneCheck = () => boolean;
/** A waiter with a gone check sleeps in slices this long, to notice a peer's death. */
const GONE_SLICE_MS = 100;
/**
 * The longest sleep: a process killed between being woken and clearing the wake-in-flight
 * flag (wakeSleepers) leaves it set, and the others then notice within this long.
 */
const MAX_SLICE_MS = 1000;

export class Ring {
  readonly capacity: number;
  /** Largest payload a record can carry. */
  readonly maxPayload: number;
  /** The whole header as words (EXTRA.. are for the ring's users). */
  readonly header: Int32Array;
  private readonly mask: number;
  private readonly data: Uint8Array;
  private readonly words: Int32Array; // the data as words, for record headers
  private readonly wlock: Int32Array;
  private readonly rlock: Int32Array;
  private readonly block: Block;
  /**
   * HEAD as this process last read it (<= the real one): the writer re-reads it when
   * short of room, and whenever another process wrote since its own last commit (their
   * writes could carry TAIL so far that a stale HEAD looks like room again).
   */
  private headSeen: number;
  /** TAIL after this process's last commit. */
  private tailWritten: number;
  /** TAIL as this process last read it (see tryTake for when it is trusted). */
  private tailSeen: number;
  /** HEAD after this process's last take (NaN before the first). */
  private headTaken = Number.NaN;
  /** Set by locate: the byte counter of the record it found (past a PAD). */
  private found = 0;
  /** This object's async waits on the ring's words; ended by release(). */
  private readonly waits = new WaitGroup();
  /**
   * Async users between two touches of the ring's words (a sleeper between its count's
   * increment and decrement, a JoinableQueue put that may undo its count): release()
   * leaves the memory mapped until the last of them has left.
   */
  private users = 0;
  /** What release() was given, for the deferred drop. */
  private leftover: RecordReader<void> | undefined;

  private constructor(block: Block) {
    this.block = block;
    const { buffer, byteOffset, byteLength } = block;
    if (byteLength < HEADER_BYTES) throw new ValueError(`shared block of ${byteLength} bytes is too small to be a queue or pipe ring`);
    this.header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    const magic = this.header[MAGIC_WORD]!;
    if (magic !== MAGIC) throw new ValueError(`shared block is not a queue or pipe ring (its magic word is 0x${(magic >>> 0).toString(16)}): the handle is stale or the ring is corrupted`);
    this.capacity = this.header[CAP_WORD]!;
    const room = byteLength - HEADER_BYTES;
    if (this.capacity < MIN_CAPACITY || (this.capacity & (this.capacity - 1)) !== 0 || this.capacity > room) {
      throw corrupted(`its capacity word says ${this.capacity} bytes, not a power of two >= ${MIN_CAPACITY} that fits its ${room}-byte data area`);
    }
    this.mask = this.capacity - 1;
    this.maxPayload = this.capacity / 2 - 8;
    this.data = new Uint8Array(buffer, byteOffset + HEADER_BYTES, this.capacity);
    this.words = new Int32Array(buffer, byteOffset + HEADER_BYTES, this.capacity / 4);
    this.wlock = new Int32Array(buffer, byteOffset + W_LOCK * 4, 1);
    this.rlock = new Int32Array(buffer, byteOffset + R_LOCK * 4, 1);
    this.headSeen = Atomics.load(this.header, HEAD);
    this.tailWritten = Atomics.load(this.header, TAIL);
    this.tailSeen = this.tailWritten;
    // The ring object holds the reference: whoever uses the ring (a queue, its feeder
    // still flushing) keeps it alive.
    trackOwner(this, block);
  }

  /** A new empty ring of `capacity` bytes (a power of two, at least MIN_CAPACITY). */
  static create(capacity: number): Ring {
    if (capacity < MIN_CAPACITY || (capacity & (capacity - 1)) !== 0) throw new RangeError(`ring capacity must be a power of two >= ${MIN_CAPACITY}`);
    const block = allocate(HEADER_BYTES + capacity, 16, true);
    const h = new Int32Array(block.buffer, block.byteOffset, HEADER_BYTES / 4);
    h[CAP_WORD] = capacity;
    Atomics.store(h, MAGIC_WORD, MAGIC);
    return Ring.holding(block);
  }

  /** Two new rings, or none: the first is released again when the second cannot be made. */
  static createPair(capacity: number): [Ring, Ring] {
    const a = Ring.create(capacity);
    try {
      return [a, Ring.create(capacity)];
    } catch (err) {
      a.release(); // never seen by anyone: its space is free again now
      throw err;
    }
  }

  /** The ring a handle names, holding a reference of its own. */
  static attach(handle: BlockHandle): Ring {
    return Ring.holding(attachBlock(handle, true));
  }

  /** Another reference to the same ring (for a second owner that releases on its own). */
  retain(): Ring {
    return Ring.holding(retainBlock(this.block));
  }

  /** A ring over `block`, whose reference it takes; dropped (and unmapped) if the block is no ring. */
  private static holding(block: Block): Ring {
    try {
      return new Ring(block);
    } catch (err) {
      releaseBlock(block);
      throw err;
    }
  }

  /** Describe the ring for another process (the handle carries a reference). */
  handle(): BlockHandle {
    return blockHandle(this.block);
  }

  /** Whether release() was called: the ring's memory must not be touched through this object. */
  get released(): boolean {
    return this.waits.ended;
  }

  /**
   * Drop this reference. When it is the last one anywhere, `leftover` first sees each
   * record still in the ring (so that what records point to, big messages' blocks, is
   * freed with it). This object's async waits end with CLOSED; the reference goes (and
   * with the last one here, the mapping) once they have all left. Idempotent.
   */
  release(leftover?: RecordReader<void>): void {
    if (this.waits.ended) return;
    this.leftover = leftover;
    this.waits.end();
    if (this.users === 0) this.drop();
  }

  /** An async user starts (see `users`); false if this object is released already. */
  enter(): boolean {
    if (this.waits.ended) return false;
    this.users++;
    return true;
  }

  /** An async user is done with the ring's words: the last one out drops a released ring. */
  leave(): void {
    if (--this.users === 0 && this.waits.ended) this.drop();
  }

  private drop(): void {
    const leftover = this.leftover;
    this.leftover = undefined;
    if (leftover !== undefined && !this.block.released && refcount(this.block) === 1) {
      const h = this.header;
      let head = Atomics.load(h, HEAD);
      const tail = Atomics.load(h, TAIL);
      try {
        // Ends: each record locate accepts lies between head and TAIL, at least 8 bytes.
        while (head !== tail) {
          const word = this.locate(head, tail);
          const off = this.found & this.mask;
          const len = word & LEN_MASK;
          try {
            leftover.read(this.data, off + RECORD_HEADER, off + RECORD_HEADER + len, word & ~LEN_MASK);
          } catch {
            // a record that cannot be read holds nothing to free
          }
          head = (this.found + align8(RECORD_HEADER + len)) | 0;
        }
      } catch {
        // A corrupted ring: what the records past this point held cannot be found.
      }
    }
    releaseBlock(this.block);
  }

  /** Messages in the ring (approximate while others work on it, as Python's qsize). */
  count(): number {
    const n = (Atomics.load(this.header, PUT_N) - Atomics.load(this.header, GET_N)) | 0;
    return Math.max(n, 0);
  }

  isEmpty(): boolean {
    return Atomics.load(this.header, HEAD) === Atomics.load(this.header, TAIL);
  }

  // ------------------------------------------------------------------------- writing

  /**
   * Append a record now if there is room (and fewer than `maxsize` messages, when > 0).
   * Never waits but for the writers' lock, which is held only while a record is copied.
   */
  tryPut(payload: Uint8Array, len: number, flags: number, maxsize: number): boolean {
    const w = this.wlock;
    if (Atomics.compareExchange(w, 0, 0, PID) !== 0) acquireWordSync(w, Infinity, 'queue writer lock');
    let done: boolean;
    try {
      done = this.append(payload, len, flags, maxsize);
    } finally {
      releaseWord(w);
    }
    if (done) this.wakeSleepers(R_SLEEP, TAIL);
    return done;
  }

  /** Writers' lock held. */
  private append(payload: Uint8Array, len: number, flags: number, maxsize: number): boolean {
    const h = this.header;
    if (len > this.maxPayload) throw new RangeError(`record of ${len} bytes exceeds the ring's ${this.maxPayload}`);
    const tail = Atomics.load(h, TAIL);
    const need = align8(RECORD_HEADER + len);
    let off = tail & this.mask;
    const pad = off + need > this.capacity ? this.capacity - off : 0;
    // Room by the HEAD seen last (stale means less room, never more); re-read if short.
    let head = this.headSeen;
    if (maxsize > 0 || tail !== this.tailWritten || this.capacity - ((tail - head) >>> 0) < pad + need) {
      head = this.headSeen = Atomics.load(h, HEAD);
    }
    if (maxsize > 0 && head !== tail && ((Atomics.load(h, PUT_N) - Atomics.load(h, GET_N)) | 0) >= maxsize) return false;
    const free = this.capacity - ((tail - head) >>> 0);
    if (free < pad + need) return false;
    let advance = need;
    if (pad > 0) {
      this.words[off >> 2] = PAD;
      advance += pad;
      off = 0;
    }
    this.words[off >> 2] = len | flags;
    if (len <= 16) {
      const data = this.data;
      const at = off + RECORD_HEADER;
      for (let k = 0; k < len; k++) data[at + k] = payload[k]!;
    } else {
      this.data.set(len === payload.length ? payload : payload.subarray(0, len), off + RECORD_HEADER);
    }
    this.tailWritten = (tail + advance) | 0;
    Atomics.store(h, TAIL, this.tailWritten); // the commit
    Atomics.add(h, PUT_N, 1);
    return true;
  }

  /** Whether a writer could append `len` bytes now (no lock: a hint for waiting). */
  private hasRoom(len: number, maxsize: number): boolean {
    const h = this.header;
    const tail = Atomics.load(h, TAIL);
    const head = Atomics.load(h, HEAD);
    if (maxsize > 0 && head !== tail && ((Atomics.load(h, PUT_N) - Atomics.load(h, GET_N)) | 0) >= maxsize) return false;
    const free = this.capacity - ((tail - head) >>> 0);
    const need = align8(RECORD_HEADER + len);
    const off = tail & this.mask;
    return off + need > this.capacity ? free >= this.capacity - off + need : free >= need;
  }

  /** Wait until `len` bytes would fit (true), the deadline passes (NOTHING) or GONE. */
  waitRoomSync(len: number, maxsize: number, deadline: number, gone?: GoneCheck): true | SyncWaitEnd {
    return this.waitSync(W_SLEEP, HEAD, () => this.hasRoom(len, maxsize), deadline, SPIN_MS, gone);
  }

  /** waitRoomSync without blocking; also CLOSED when this object is released meanwhile. */
  waitRoom(len: number, maxsize: number, deadline: number, signal?: AbortSignal, gone?: GoneCheck): Promise<true | WaitEnd> {
    return this.waitAsync(W_SLEEP, HEAD, () => this.hasRoom(len, maxsize), deadline, signal, gone);
  }

  // ------------------------------------------------------------------------- reading

  /** Read and consume the first record if there is one; NOTHING if the ring is empty. */
  tryTake<T>(reader: RecordReader<T>): T | typeof NOTHING {
    const h = this.header;
    if (!this.mayHave(Atomics.load(h, HEAD))) return NOTHING;
    const r = this.rlock;
    if (Atomics.compareExchange(r, 0, 0, PID) !== 0) acquireWordSync(r, Infinity, 'queue reader lock');
    let value: T | typeof NOTHING = NOTHING;
    let consumed = false;
    try {
      let head = Atomics.load(h, HEAD);
      // The cached TAIL is trusted under the lock only if no other reader moved HEAD since
      // this process's own last take (then it is at most one ring ahead of HEAD); else
      // TAIL is read fresh: a cache kept while others moved HEAD by 2 GiB or more would
      // compare the wrong way round.
      const cached = head === this.headTaken && ((this.tailSeen - head) | 0) > 0;
      if (cached || head !== (this.tailSeen = Atomics.load(h, TAIL))) {
        const word = this.locate(head, this.tailSeen);
        head = this.found;
        const len = word & LEN_MASK;
        const start = (head & this.mask) + RECORD_HEADER;
        consumed = true;
        try {
          value = reader.read(this.data, start, start + len, word & ~LEN_MASK);
        } finally {
          // Consumed even when it could not be read: a bad record must not wedge the ring.
          Atomics.add(h, GET_N, 1);
          this.headTaken = (head + align8(RECORD_HEADER + len)) | 0;
          Atomics.store(h, HEAD, this.headTaken); // the commit
        }
      }
    } finally {
      releaseWord(r);
      if (consumed) this.wakeSleepers(W_SLEEP, HEAD);
    }
    return value;
  }

  /**
   * Whether a record may start at `head`, by the TAIL seen last (one load of the writers'
   * line per batch of records instead of per record), re-reading TAIL when that says no.
   * A filter only: a wrong yes costs a look under the lock, where TAIL is read fresh.
   */
  private mayHave(head: number): boolean {
    if (((this.tailSeen - head) | 0) > 0) return true;
    this.tailSeen = Atomics.load(this.header, TAIL);
    return this.tailSeen !== head;
  }

  /**
   * The header word of the record at `head` (past the PAD that ends the data, if any; the
   * record's byte counter is left in `found`), checked to lie within [head, tail) and the
   * data area, so that reading it stays in the ring and consuming it keeps HEAD <= TAIL.
   * `tail` is a TAIL value (records end on one; HEAD and TAIL are multiples of 8). Throws a
   * ValueError on a corrupted ring.
   */
  private locate(head: number, tail: number): number {
    const capacity = this.capacity;
    let used = (tail - head) >>> 0;
    if (used > capacity || ((head | tail) & 7) !== 0) throw corruptCounters(head, tail, capacity);
    let off = head & this.mask;
    let word = this.words[off >> 2]!;
    if (word === PAD) {
      used -= capacity - off;
      head = (head + capacity - off) | 0;
      off = 0;
      word = this.words[0]!;
    }
    this.found = head;
    const size = align8(RECORD_HEADER + (word & LEN_MASK));
    if (word < 0 || size > used || off + size > capacity) throw corruptRecord(off, word, used, capacity);
    return word;
  }

  /**
   * Read the first record without consuming it or taking the lock (NOTHING when empty).
   * Only for a process that is the ring's one writer: nobody can overwrite the record
   * while it reads; a reader may consume it meanwhile, and the answer is then stale.
   */
  peek<T>(reader: RecordReader<T>): T | typeof NOTHING {
    const h = this.header;
    const head = Atomics.load(h, HEAD);
    const tail = Atomics.load(h, TAIL);
    if (head === tail) return NOTHING;
    const word = this.locate(head, tail);
    const start = (this.found & this.mask) + RECORD_HEADER;
    return reader.read(this.data, start, start + (word & LEN_MASK), word & ~LEN_MASK);
  }

  /** Take a record, waiting up to `timeoutMs`. NOTHING on timeout; GONE if `gone` says so. */
  takeSync<T>(reader: RecordReader<T>, timeoutMs: number, gone?: GoneCheck): T | SyncWaitEnd {
    const first = this.tryTake(reader);
    if (first !== NOTHING || timeoutMs === 0) return first;
    const deadline = deadlineAfter(timeoutMs);
    const ready = () => !this.isEmpty();
    for (;;) {
      const end = this.waitSync(R_SLEEP, TAIL, ready, deadline, SPIN_MS, gone);
      const value = this.tryTake(reader);
      if (value !== NOTHING) return value;
      if (end !== true) return end;
    }
  }

  /** takeSync without blocking; also CLOSED when this object is released meanwhile. */
  async take<T>(reader: RecordReader<T>, timeoutMs: number, signal?: AbortSignal, gone?: GoneCheck): Promise<T | WaitEnd> {
    const first = this.tryTake(reader);
    if (first !== NOTHING || timeoutMs === 0) return first;
    const deadline = deadlineAfter(timeoutMs);
    const ready = () => !this.isEmpty();
    for (;;) {
      const end = await this.waitAsync(R_SLEEP, TAIL, ready, deadline, signal, gone);
      if (this.waits.ended) return CLOSED; // (also when released after the wait ended)
      const value = this.tryTake(reader);
      if (value !== NOTHING) return value;
      if (end !== true) return end;
    }
  }

  /** Wait until there is a record (true), the deadline passes (false) or GONE. Consumes nothing. */
  pollSync(timeoutMs: number, gone?: GoneCheck): boolean | typeof GONE {
    const ready = () => !this.isEmpty();
    if (ready()) return true;
    if (timeoutMs === 0) return gone?.() ? GONE : false;
    const end = this.waitSync(R_SLEEP, TAIL, ready, deadlineAfter(timeoutMs), SPIN_MS, gone);
    return end === NOTHING ? false : end;
  }

  async poll(timeoutMs: number, signal?: AbortSignal, gone?: GoneCheck): Promise<boolean | typeof GONE | typeof CLOSED> {
    const ready = () => !this.isEmpty();
    if (ready()) return true;
    if (timeoutMs === 0) return gone?.() ? GONE : false;
    const end = await this.waitAsync(R_SLEEP, TAIL, ready, deadlineAfter(timeoutMs), signal, gone);
    return end === NOTHING ? false : end;
  }

  /**
   * Sleep while header word `word` holds `seen` (until a wake, or `timeoutMs`), counted in
   * header word `sleepers`: for the ring's users' own words (JoinableQueue's count). False
   * when this object was released meanwhile: the caller must not touch the header then.
   */
  async sleepOn(sleepers: number, word: number, seen: number, timeoutMs: number): Promise<boolean> {
    if (!this.enter()) return false;
    const h = this.header;
    Atomics.add(h, sleepers, 1);
    try {
      await waitAsync(h, word, seen, timeoutMs, undefined, this.waits);
    } finally {
      Atomics.sub(h, sleepers, 1);
      this.leave();
    }
    return !this.waits.ended;
  }

  /** Wake everyone sleeping on the ring (an end closed: let them look at `gone`). */
  wakeAll(): void {
    wake(this.header, TAIL, 0x7fffffff);
    wake(this.header, HEAD, 0x7fffffff);
  }

  // ------------------------------------------------------------------------- waiting

  /**
   * Wake the sleepers counted in `sleepers` (one reader, or all writers) unless a wake is
   * already on its way: a writer putting 64 tasks for 2 sleeping workers made 64 wake
   * syscalls (about 5 us each), now one. The flag word after the count is set by the
   * waker and cleared by whoever wakes, for any reason; a woken waiter passes a wake on
   * when there is more to do and others still sleep.
   */
  private wakeSleepers(sleepers: number, word: number): void {
    const h = this.header;
    if (Atomics.load(h, sleepers) === 0) return;
    if (Atomics.compareExchange(h, sleepers + 1, 0, 1) !== 0) return;
    const count = sleepers === R_SLEEP ? 1 : 0x7fffffff;
    if (wake(h, word, count) === 0) {
      // Nobody was in the futex yet (a counted sleeper on its way in): clear the flag and
      // try once more, or a writer that skipped meanwhile would leave it a full slice.
      Atomics.store(h, sleepers + 1, 0);
      if (Atomics.load(h, sleepers) > 0 && Atomics.compareExchange(h, sleepers + 1, 0, 1) === 0) {
        if (wake(h, word, count) === 0) Atomics.store(h, sleepers + 1, 0);
      }
    }
  }

  /** A waiter of `sleepers` is awake again: clear the in-flight flag, pass the wake on if due. */
  private woke(sleepers: number, word: number, ready: () => boolean): void {
    Atomics.store(this.header, sleepers + 1, 0);
    if (ready()) this.wakeSleepers(sleepers, word);
  }

  /**
   * Wait until `ready()` (true), the deadline (NOTHING) or `gone()` (GONE, checked only
   * when not ready). Spins up to `spinMs`, then sleeps on `word` counted in `sleepers`.
   */
  private waitSync(sleepers: number, word: number, ready: () => boolean, deadline: number, spinMs: number, gone?: GoneCheck): true | SyncWaitEnd {
    const h = this.header;
    if (spin(ready, deadline, spinMs)) return true;
    for (;;) {
      if (ready()) return true;
      if (gone?.()) return GONE;
      const left = remaining(deadline);
      if (left === 0) return NOTHING;
      // (futex.waitSync moves this thread's pending puts while it sleeps.)
      const slice = Math.min(left, gone ? GONE_SLICE_MS : MAX_SLICE_MS);
      Atomics.add(h, sleepers, 1);
      const seen = Atomics.load(h, word);
      const slept = !ready();
      if (slept) waitSync(h, word, seen, slice);
      Atomics.sub(h, sleepers, 1);
      if (slept) this.woke(sleepers, word, ready);
    }
  }

  private async waitAsync(
    sleepers: number,
    word: number,
    ready: () => boolean,
    deadline: number,
    signal: AbortSignal | undefined,
    gone?: GoneCheck,
  ): Promise<true | WaitEnd> {
    const h = this.header;
    if (this.waits.ended) return CLOSED;
    if (spin(ready, deadline, SPIN_MS_ASYNC)) return true;
    for (;;) {
      if (ready()) return true;
      if (gone?.()) return GONE;
      const left = remaining(deadline);
      if (left === 0 || signal?.aborted) return NOTHING;
      Atomics.add(h, sleepers, 1);
      const seen = Atomics.load(h, word);
      let result = 'not-equal';
      const slept = !ready();
      this.users++;
      try {
        if (slept) result = await waitAsync(h, word, seen, Math.min(left, gone ? GONE_SLICE_MS : MAX_SLICE_MS), signal, this.waits);
      } finally {
        Atomics.sub(h, sleepers, 1);
        // Also after a cancel, which may have swallowed a wake meant for another sleeper.
        if (slept) this.woke(sleepers, word, ready);
        this.leave(); // last: a released ring's memory may go here
      }
      if (this.waits.ended) return CLOSED;
      if (result === 'cancelled') return NOTHING;
    }
  }
}

// ------------------------------------------------------------------------- corruption
// Out of line: built only when a check in locate fails.

/** The error for a ring whose shared words make no sense: `what` says which. */
function corrupted(what: string): ValueError {
  return new ValueError(`queue or pipe ring is corrupted: ${what}; it cannot be recovered: close the queue or pipe and create a new one`);
}

function corruptCounters(head: number, tail: number, capacity: number): ValueError {
  if (((tail - head) | 0) < 0) return corrupted(`HEAD (${head >>> 0}) is past TAIL (${tail >>> 0})`);
  if (((head | tail) & 7) !== 0) return corrupted(`HEAD (${head >>> 0}) or TAIL (${tail >>> 0}) is not on a record boundary (a multiple of 8)`);
  return corrupted(`TAIL - HEAD says ${(tail - head) >>> 0} bytes in use, more than its ${capacity}-byte data area`);
}

/** A record at `off` whose header `word` fails locate's checks, `used` bytes in use from `off`. */
function corruptRecord(off: number, word: number, used: number, capacity: number): ValueError {
  const at = `record at offset ${off}`;
  if (word < 0) return corrupted(`${at} has an unknown flag (header 0x${(word >>> 0).toString(16)})`);
  if (used <= 0) return corrupted(`${at} follows a pad record that ends the data, but TAIL is before it`);
  const size = align8(RECORD_HEADER + (word & LEN_MASK));
  if (size > used) return corrupted(`${at} says ${word & LEN_MASK} bytes, only ${used - RECORD_HEADER} used`);
  return corrupted(`${at} says ${word & LEN_MASK} bytes, which run past the end of the ${capacity}-byte data area`);
}
