// Small shared blocks carved out of arena segments (Python's multiprocessing.heap), so
// that a Value, a small Array or a Lock costs a few dozen bytes of an existing segment
// instead of a segment (a file in /dev/shm, an fd, a mapping) of its own.
//
// API (used by sharedctypes.ts and synchronize.ts):
//   allocate(size, align = 16, internal = false) -> Block   zero-filled; holds ONE reference
//   trackOwner(owner, block)              drop that reference when `owner` is collected
//   releaseBlock(block)                   drop it now (idempotent per Block)
//   retainBlock(block) -> Block           another reference to the same memory
//   blockHandle(block) -> BlockHandle     plain, structured-clonable; takes a transit ref
//   attachBlock(handle, internal = false) -> Block   map it here and adopt that transit ref
// A Block is { buffer, byteOffset, byteLength }: view it with any typed array. Data is
// 16-byte aligned, so Int32/Float64/BigInt64 words and Atomics on them are fine.
//
// Layout. An arena is a 1 MiB segment created by shmCreate and registered with the
// resource tracker. Only the isolate that created it allocates from it: a bump pointer
// plus local free lists per power-of-two size class (16 B .. 64 KiB of data). A block is
// a 16-byte header {i32 refcount, u32 class|flags, i32 next-free, u32 generation} and
// its data right after. Blocks above 64 KiB get a dedicated segment whose ArrayBuffer is
// exactly the data (`new Float64Array(arr.buffer)` is the array); their refcount lives
// in a small arena block, the "ref cell".
//
// References. Every Block object is one reference, counted in the block's header with
// Atomics, so processes agree on it. A handle carries one "transit" reference that the
// receiving process adopts, so a block cannot be recycled while its handle is in flight.
// A handle that is never received leaks its block until the process tree ends (the
// resource tracker then removes the segment): a few bytes, accepted. At refcount 0 an
// arena block goes back to its arena: onto the owner's local free list when the owner
// frees it, else onto a lock-free stack in the arena header that any process pushes to
// and only the owner drains (it swaps the head for 0 and walks the chain; with a single
// consumer that never pops one node at a time there is no ABA). A dedicated segment is
// shm_unlinked (and unregistered) at 0; each process's mapping goes away when its
// ArrayBuffer is garbage-collected, so views made from `.buffer` never dangle.
//
// Internal blocks. A tmpfs page is freed only once its segment is unlinked AND unmapped
// everywhere, so waiting for a GC to unmap lets a loop of queues fill /dev/shm. The
// library's own blocks whose memory never reaches users (rings, big messages) are made
// or attached `internal`. This process counts the live Blocks on each mapping it did not
// create for its own allocations (a dedicated segment; another process's arena, which
// holds the refcounts of that process's blocks): when the last one goes, so does the
// mapping (native.shmClose: views of it become length 0, and a pending wait on it defers
// the munmap). Another process's arena goes only once that process has left (until then
// it stays linked anyway, and the next message would map it again: 25 us); those left
// idle while their owner lived are unmapped when a child exits or another arena is
// mapped (unmapIdleArenas). A mapping users may hold views of (an Array's data: a
// non-internal block) is never unmapped that way; the GC does it, once their views are
// gone. This process's own arenas stay mapped while it lives (it allocates from them).
//
// Lifetime of arenas. The owner counts its live blocks in a plain JS number (its
// allocations and frees cost no atomic operation); other processes decrement a shared
// counter in the arena header when they free. When the owner exits it drops the
// references it still holds, adds its count to the shared one and marks the arena
// "owner gone"; an arena with no live block is unlinked then, else by whichever process
// frees its last live block (Dekker-style: the owner stores the flag then reads the
// count, a freer decrements the count then reads the flag, all seq-cst, and a CAS on an
// "unlinked" word picks one of them; before the owner's count is added the shared one is
// <= 0, so no freer can see it drop to 0 early). A SIGKILLed owner leaves its arenas to
// the resource tracker.
//
// Speed: allocate + release is a free-list pop/push and one atomic decrement; the cost
// of a Value or Lock is dominated by the JS objects around the block and the
// FinalizationRegistry entry (registered without an unregister token, which is slow).
import { inspect } from 'node:util';
import { withContext } from './error_context.js';
import { ValueError } from './errors.js';
import { type Field, checkHandle, integer, mismatch, optional, text, within } from './handle_shape.js';
import { native } from './native.js';
import { transitLog } from './reduction.js';
import { createTrackedSegment, unregister } from './resource_tracker.js';

export const ARENA_SIZE = 1 << 20;
/** Largest data size served from an arena; bigger blocks get a dedicated segment. */
export const MAX_SMALL = 1 << 16;
const MIN_SHIFT = 4;
const MAX_SHIFT = 16;
const CLASSES = MAX_SHIFT - MIN_SHIFT + 1;
const ARENA_HEADER = 64;
const BLOCK_HEADER = 16;
const MAGIC = 0x5241504d; // 'MPAR' little-endian
const VERSION = 1;

// Arena header, Int32 indexes.
const A_MAGIC = 0;
const A_VERSION = 1;
const A_FREE = 2; // head of the shared free stack (byte offset of a block, 0 = empty)
const A_LIVE = 3; // minus the blocks others freed; plus the owner's count once it leaves
const A_OWNER_GONE = 4;
const A_UNLINKED = 5;
const A_PID = 6;

// Block header, Int32 indexes relative to the block's first word.
const B_REF = 0;
const B_INFO = 1; // size class | flags
const B_NEXT = 2;
const B_GEN = 3;
const CLASS_MASK = 0xff;
const FLAG_CELL = 0x100; // ref cell of a dedicated segment

class Arena {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  /** Owned arenas only: index in `owned`, next unused byte. */
  index = -1;
  bump = ARENA_HEADER;
  /** Owned arenas only: blocks allocated minus blocks freed here (the owner's fast path). */
  live = 0;
  constructor(
    readonly name: string,
    readonly buffer: ArrayBuffer,
    readonly owned: boolean,
  ) {
    this.i32 = new Int32Array(buffer);
    this.u8 = new Uint8Array(buffer);
  }
}

/** One reference to a block of shared memory. */
export class Block {
  /** @internal */ released = false;
  /** @internal index in `refSlots` */ slot = -1;
  /** @internal */
  constructor(
    /** The mapping that holds the data (an arena, or the dedicated segment). */
    readonly buffer: ArrayBuffer,
    /** Where the data starts in `buffer` (16-byte aligned). */
    readonly byteOffset: number,
    /** The size asked for. */
    readonly byteLength: number,
    /** @internal arena holding the refcount (the block itself, or its ref cell) */
    readonly arena: Arena,
    /** @internal byte offset of that block's header */
    readonly off: number,
    /** @internal dedicated segment name, or null */
    readonly seg: string | null,
    /** @internal memory the library never hands out: see "Internal blocks" above */
    readonly internal: boolean,
  ) {}

  [inspect.custom](): string {
    const where = this.seg === null ? `${this.arena.name}+${this.byteOffset}` : this.seg;
    return `Block(${where}, ${this.byteLength} bytes${this.released ? ', released' : ''})`;
  }
}

/** A block described for another process. Plain data; survives structured clone. */
export interface BlockHandle {
  /** Arena segment holding the block (or the ref cell). */
  readonly a: string;
  /** Byte offset of the block header in the arena. */
  readonly o: number;
  /** Generation of the block when the handle was made (detects stale handles). */
  readonly g: number;
  /** Data size in bytes. */
  readonly n: number;
  /** Dedicated segment holding the data, when larger than MAX_SMALL. */
  readonly d?: string;
}

const owned: (Arena | null)[] = [];
const ownedByName = new Map<string, Arena>();
/** Other isolates' arenas, weakly: a mapping lives as long as something here uses it. */
const attached = new Map<string, WeakRef<Arena>>();
/** Dedicated segments mapped here, weakly (the ArrayBuffer is the mapping). */
const dedicated = new Map<string, WeakRef<ArrayBuffer>>();
/** Mappings (dedicated segments, others' arenas) and how many live Blocks here use each. */
const uses = new Map<ArrayBuffer, number>();
/** Mappings a non-internal Block's data lies in: users may hold views, never unmapped here. */
const exposed = new WeakSet<ArrayBuffer>();
/** Local free lists per class: entries are arenaIndex * ARENA_SIZE + offset. */
const freeLists: number[][] = Array.from({ length: CLASSES }, () => []);
/** Misses of the local free lists since the shared stacks were last drained. */
let missesSinceDrain = 0;
const DRAIN_EVERY = 256;
/** The arena new blocks are bumped from. */
let current: Arena | null = null;
/** References this isolate holds, dropped at exit (a slot array: cheaper than a Set). */
const refSlots: (Block | undefined)[] = [];
const freeSlots: number[] = [];
const adopted = new WeakSet<object>();
let exitHooked = false;
let exiting = false;
/** Set as the exit handler starts: mappings are left to the exit (other handlers may still read). */
let leaving = false;

const registry = new FinalizationRegistry<Block>((block) => dropRef(block));

function classOf(size: number): number {
  if (size <= 1 << MIN_SHIFT) return 0;
  return 32 - Math.clz32(size - 1) - MIN_SHIFT;
}

function classSize(cls: number): number {
  return 1 << (cls + MIN_SHIFT);
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', onExit);
}

function newArena(): Arena {
  let created: { name: string; buffer: ArrayBuffer };
  try {
    created = createTrackedSegment(ARENA_SIZE);
  } catch (err) {
    throw withContext(err, `cannot create a ${ARENA_SIZE}-byte shared memory arena`);
  }
  hookExit();
  const arena = new Arena(created.name, created.buffer, true);
  const w = arena.i32;
  w[A_VERSION] = VERSION;
  w[A_PID] = process.pid;
  Atomics.store(w, A_MAGIC, MAGIC);
  arena.index = owned.length;
  owned.push(arena);
  ownedByName.set(arena.name, arena);
  return arena;
}

/** Move blocks other processes freed into our arenas onto the local lists. */
function drainShared(): boolean {
  let any = false;
  for (const arena of owned) {
    if (arena === null || Atomics.load(arena.i32, A_FREE) === 0) continue;
    let off = Atomics.exchange(arena.i32, A_FREE, 0);
    while (off !== 0) {
      const h = off >> 2;
      const next = Atomics.load(arena.i32, h + B_NEXT);
      freeLists[arena.i32[h + B_INFO] & CLASS_MASK].push(arena.index * ARENA_SIZE + off);
      off = next;
      any = true;
    }
  }
  return any;
}

/** The arena of the block takeSmall returned last (saves an object per allocation). */
let taken: Arena = null as unknown as Arena;

/**
 * Take a block of class `cls` from our arenas, its first `size` data bytes zeroed;
 * returns the header offset and sets `taken` to the arena.
 */
function takeSmall(cls: number, flags: number, size: number): number {
  let arena: Arena;
  let off: number;
  const list = freeLists[cls];
  let entry = list.pop();
  if (entry === undefined && ++missesSinceDrain >= DRAIN_EVERY) {
    // Blocks other processes freed: looked for now and then (one load per arena), and
    // always before a new arena is made.
    missesSinceDrain = 0;
    if (drainShared()) entry = list.pop();
  }
  if (entry === undefined) {
    const need = BLOCK_HEADER + classSize(cls);
    if (current === null || current.bump + need > ARENA_SIZE) {
      missesSinceDrain = 0;
      if (drainShared()) entry = list.pop();
      if (entry === undefined) {
        // Carve what is left of the old arena into smaller classes before moving on.
        if (current !== null) carveRemainder(current);
        current = newArena();
      }
    }
  }
  if (entry === undefined) {
    arena = current as Arena;
    off = arena.bump;
    arena.bump += BLOCK_HEADER + classSize(cls);
  } else {
    arena = owned[Math.floor(entry / ARENA_SIZE)] as Arena;
    off = entry % ARENA_SIZE;
    // Recycled memory: clear what the caller will see (fresh arena memory is zero).
    const from = off + BLOCK_HEADER;
    if (size <= 64) {
      const w = arena.i32;
      for (let i = from >> 2, end = (from + size + 3) >> 2; i < end; i++) w[i] = 0;
    } else {
      arena.u8.fill(0, from, from + size);
    }
  }
  const h = off >> 2;
  const w = arena.i32;
  // Plain stores: nobody else can see this block until a handle is made, and that goes
  // through Atomics.add and a syscall.
  w[h + B_INFO] = cls | flags;
  w[h + B_NEXT] = 0;
  w[h + B_GEN] = (w[h + B_GEN] + 1) | 0 || 1;
  w[h + B_REF] = 1;
  arena.live++;
  taken = arena;
  return off;
}

function carveRemainder(arena: Arena): void {
  for (let cls = CLASSES - 1; cls >= 0; cls--) {
    const need = BLOCK_HEADER + classSize(cls);
    while (arena.bump + need <= ARENA_SIZE) {
      const h = arena.bump >> 2;
      arena.i32[h + B_INFO] = cls;
      freeLists[cls].push(arena.index * ARENA_SIZE + arena.bump);
      arena.bump += need;
    }
  }
}

function checkSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size)) {
    throw new TypeError(`size must be an integer number of bytes, got ${typeof size === 'number' ? size : typeof size}`);
  }
  if (size < 0 || size > Number.MAX_SAFE_INTEGER) throw new RangeError(`size must be >= 0, got ${size}`);
  return size;
}

/**
 * A zero-filled block of `size` bytes of shared memory, holding one reference.
 * `align` (1, 2, 4, 8 or 16) is always met: data is 16-byte aligned (page-aligned for
 * blocks larger than MAX_SMALL, which get a segment of their own). `internal`: its memory
 * never reaches users, and is unmapped here with the last internal reference.
 */
export function allocate(size: number, align = 16, internal = false): Block {
  checkSize(size);
  if (!(align === 1 || align === 2 || align === 4 || align === 8 || align === 16)) {
    throw new RangeError(`align must be 1, 2, 4, 8 or 16, got ${String(align)}`);
  }
  let block: Block;
  if (size <= MAX_SMALL) {
    const off = takeSmall(classOf(size), 0, size);
    block = new Block(taken.buffer, off + BLOCK_HEADER, size, taken, off, null, internal);
  } else {
    let created: { name: string; buffer: ArrayBuffer };
    try {
      created = createTrackedSegment(size);
    } catch (err) {
      throw withContext(err, `cannot allocate ${size} bytes of shared memory`);
    }
    let off: number;
    try {
      off = takeSmall(0, FLAG_CELL, 0);
    } catch (err) {
      native.shmClose(created.buffer); // nobody saw it: its space is free now, not at a GC
      unlinkSegment(created.name);
      throw err;
    }
    dedicated.set(created.name, new WeakRef(created.buffer));
    block = new Block(created.buffer, 0, size, taken, off, created.name, internal);
  }
  holdRef(block);
  return block;
}

function holdRef(block: Block): void {
  const slot = freeSlots.pop() ?? refSlots.length;
  refSlots[slot] = block;
  block.slot = slot;
  const { arena } = block;
  if (block.seg === null && arena.owned) return; // the common case: nothing to count
  if (!block.internal) exposed.add(block.buffer);
  if (block.seg !== null) use(block.buffer);
  if (!arena.owned) use(arena.buffer);
}

function use(buffer: ArrayBuffer): void {
  uses.set(buffer, (uses.get(buffer) ?? 0) + 1);
}

/** A Block on `buffer` was released: true when it was the last and the mapping may go. */
function unuse(buffer: ArrayBuffer): boolean {
  const left = (uses.get(buffer) ?? 1) - 1;
  if (left > 0) {
    uses.set(buffer, left);
    return false;
  }
  uses.delete(buffer);
  return !exposed.has(buffer) && !leaving;
}

/** Unmap `buffer` here, and forget it in `cache` (by `name`) if it is the one cached. */
function unmap<T extends object>(buffer: ArrayBuffer, cache: Map<string, WeakRef<T>>, name: string, cached: T): void {
  if (cache.get(name)?.deref() === cached) cache.delete(name);
  native.shmClose(buffer);
}

/** Drop `block`'s reference when `owner` is garbage-collected (unless released before). */
export function trackOwner(owner: object, block: Block): void {
  // No unregister token (it costs V8 a hash table entry per registration): an explicit
  // release marks the Block released and the finalizer then finds nothing to do.
  if (!block.released) registry.register(owner, block);
}

/** Drop this reference now. Idempotent; the memory must not be used through it after. */
export function releaseBlock(block: Block): void {
  dropRef(block);
}

/** Another reference to the same memory (for a second owner). */
export function retainBlock(block: Block): Block {
  if (block.released) throw new ValueError('cannot retain a released shared block');
  Atomics.add(block.arena.i32, (block.off >> 2) + B_REF, 1);
  const copy = new Block(block.buffer, block.byteOffset, block.byteLength, block.arena, block.off, block.seg, block.internal);
  holdRef(copy);
  return copy;
}

/** Give back the transit reference of a handle that was never sent (or never read). */
export function dropHandle(handle: BlockHandle): void {
  // Internal: a mapping made just for this goes with it; one users hold views of stays.
  releaseBlock(attachBlock(handle, true));
}

/** Describe `block` for another process; the handle carries a reference of its own. */
export function blockHandle(block: Block): BlockHandle {
  if (block.released) throw new ValueError('cannot share a released shared block');
  const w = block.arena.i32;
  const h = block.off >> 2;
  Atomics.add(w, h + B_REF, 1);
  hookExit();
  const handle: { a: string; o: number; g: number; n: number; d?: string } = {
    a: block.arena.name,
    o: block.off,
    g: w[h + B_GEN],
    n: block.byteLength,
  };
  if (block.seg !== null) handle.d = block.seg;
  transitLog.value?.push(handle);
  return handle;
}

function badHandle(why: string): never {
  throw new ValueError(`invalid shared block handle: ${why}`);
}

const offsetField = integer(ARENA_HEADER, ARENA_SIZE - BLOCK_HEADER, 16);
const generationField = integer(-(2 ** 31), 2 ** 31 - 1);
const segmentField = optional(text);

/**
 * The field of a handle that names a block of at least `minBytes` (a Lock's words, a
 * queue's ring). Whether the block exists is for attachBlock to find. (Its fields are
 * read by name, not as a record(): every revival checks a block or two, and named reads
 * are several times faster than keyed ones.)
 */
export function blockField(minBytes: number): Field<BlockHandle> {
  const sizeField = integer(minBytes);
  return (v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) mismatch('an object', v);
    const h = v as BlockHandle;
    within('a', text, h.a);
    within('o', offsetField, h.o);
    within('g', generationField, h.g);
    within('n', sizeField, h.n);
    within('d', segmentField, h.d);
    return h;
  };
}

const anyBlock = blockField(0);

function attachArena(name: string): Arena {
  const mine = ownedByName.get(name);
  if (mine !== undefined) return mine;
  const cached = attached.get(name)?.deref();
  if (cached !== undefined) return cached;
  unmapIdleArenas();
  let buffer: ArrayBuffer;
  try {
    buffer = native.shmAttach(name).buffer;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ValueError(`the shared memory arena '${name}' no longer exists (every process that used it released it)`);
    }
    throw new ValueError(`cannot attach shared memory arena '${name}': ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });
  }
  if (buffer.byteLength < ARENA_HEADER || new Int32Array(buffer, 0, 1)[0] !== MAGIC) {
    badHandle(`segment '${name}' is not a multiprocessing heap arena`);
  }
  const arena = new Arena(name, buffer, false);
  attached.set(name, new WeakRef(arena));
  hookExit();
  return arena;
}

function attachDedicated(name: string, size: number): ArrayBuffer {
  const cached = dedicated.get(name)?.deref();
  if (cached !== undefined) return cached;
  let buffer: ArrayBuffer;
  try {
    buffer = native.shmAttach(name).buffer;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it no longer exists' : ((err as Error)?.message ?? String(err));
    throw new ValueError(`cannot attach shared memory segment '${name}': ${why}`, { cause: err });
  }
  if (buffer.byteLength < size) badHandle(`segment '${name}' is smaller than ${size} bytes`);
  dedicated.set(name, new WeakRef(buffer));
  return buffer;
}

/**
 * The block a handle names, mapped in this process. Adopts the handle's transit
 * reference (attaching the same handle object twice takes a new reference instead).
 * `internal`: as for allocate.
 */
export function attachBlock(handle: BlockHandle, internal = false): Block {
  const { a, o, g, n, d } = checkHandle(anyBlock, handle, 'shared block');
  const arena = attachArena(a);
  if (o + BLOCK_HEADER > arena.buffer.byteLength) badHandle('offset beyond the arena');
  const w = arena.i32;
  const h = o >> 2;
  const info = w[h + B_INFO];
  const cls = info & CLASS_MASK;
  if (cls >= CLASSES || o + BLOCK_HEADER + classSize(cls) > arena.buffer.byteLength) badHandle('corrupt block header');
  if (Atomics.load(w, h + B_GEN) !== g || Atomics.load(w, h + B_REF) <= 0) {
    badHandle('the block was already freed (a handle may be received once per send)');
  }
  const again = adopted.has(handle);
  let block: Block;
  if (d === undefined) {
    if ((info & FLAG_CELL) !== 0 || n > classSize(cls)) badHandle('size does not match the block');
    block = new Block(arena.buffer, o + BLOCK_HEADER, n, arena, o, null, internal);
  } else {
    if ((info & FLAG_CELL) === 0) badHandle('not a dedicated segment reference');
    block = new Block(attachDedicated(d, n), 0, n, arena, o, d, internal);
  }
  if (again) Atomics.add(w, h + B_REF, 1);
  else adopted.add(handle);
  holdRef(block);
  return block;
}

function unlinkSegment(name: string): void {
  try {
    native.shmUnlink(name);
  } catch {
    // Already gone (ENOENT): someone else removed it, or the tracker did.
  }
  try {
    unregister(name);
  } catch {
    // The tracker is unreachable; it would only try the unlink again.
  }
}

function tryUnlinkArena(arena: Arena): void {
  if (Atomics.compareExchange(arena.i32, A_UNLINKED, 0, 1) === 0) unlinkSegment(arena.name);
}

function dropRef(block: Block): void {
  if (block.released) return;
  block.released = true;
  refSlots[block.slot] = undefined;
  freeSlots.push(block.slot);
  const { arena, off } = block;
  const w = arena.i32;
  const h = off >> 2;
  const prev = Atomics.sub(w, h + B_REF, 1);
  const { seg } = block;
  if (seg !== null && unuse(block.buffer)) unmap(block.buffer, dedicated, seg, block.buffer);
  if (prev === 1) {
    if (seg !== null) {
      unlinkSegment(seg);
      dedicated.delete(seg);
    }
    if (arena.owned && !exiting) {
      arena.live--;
      freeLists[w[h + B_INFO] & CLASS_MASK].push(arena.index * ARENA_SIZE + off);
      return;
    }
    // Push onto the arena's shared stack for its owner.
    for (;;) {
      const head = Atomics.load(w, A_FREE);
      Atomics.store(w, h + B_NEXT, head);
      if (Atomics.compareExchange(w, A_FREE, head, off) === head) break;
    }
    if (Atomics.sub(w, A_LIVE, 1) === 1 && Atomics.load(w, A_OWNER_GONE) !== 0) tryUnlinkArena(arena);
  }
  // Last: the arena's words are used above.
  if (!arena.owned && unuse(arena.buffer) && ownerGone(arena)) unmap(arena.buffer, attached, arena.name, arena);
}

function ownerGone(arena: Arena): boolean {
  return Atomics.load(arena.i32, A_OWNER_GONE) !== 0;
}

/**
 * Unmap the arenas of other processes that no Block here uses any more and whose owner
 * has left (see "Internal blocks"). Cheap: a look at each arena mapped here.
 */
export function unmapIdleArenas(): void {
  if (leaving) return;
  for (const [name, ref] of attached) {
    const arena = ref.deref();
    if (arena === undefined) attached.delete(name);
    else if (!uses.has(arena.buffer) && !exposed.has(arena.buffer) && ownerGone(arena)) unmap(arena.buffer, attached, name, arena);
  }
}

/**
 * Whether this process has anything in the shared heap (an arena of its own, others'
 * arenas or blocks mapped, references held). The forkserver's zygote forks only while it
 * has none: its children would share its bump pointer and free lists, and drop its
 * references as their own.
 */
export function heapInUse(): boolean {
  return owned.some((a) => a !== null) || attached.size > 0 || dedicated.size > 0 || refSlots.some((b) => b !== undefined);
}

function onExit(): void {
  leaving = true;
  for (const block of refSlots) if (block !== undefined) dropRef(block);
  // From now on this isolate frees like any other process; its count goes to the arena.
  exiting = true;
  for (const arena of owned) {
    if (arena === null) continue;
    const w = arena.i32;
    Atomics.add(w, A_LIVE, arena.live);
    arena.live = 0;
    Atomics.store(w, A_OWNER_GONE, 1);
    if (Atomics.load(w, A_LIVE) === 0) tryUnlinkArena(arena);
  }
}

/**
 * Unlink this isolate's arenas that hold no live block (they are re-created on demand).
 * For tests and long-running processes after a burst of allocations.
 */
export function trim(): number {
  drainShared();
  let removed = 0;
  for (const arena of owned) {
    if (arena === null) continue;
    const w = arena.i32;
    // Only this isolate allocates here, so a live count of 0 stays 0: no block is alive,
    // no handle is in flight, nobody else can free into it.
    if (arena.live + Atomics.load(w, A_LIVE) !== 0) continue;
    Atomics.store(w, A_OWNER_GONE, 1);
    tryUnlinkArena(arena);
    owned[arena.index] = null;
    ownedByName.delete(arena.name);
    if (current === arena) current = null;
    removed++;
  }
  if (removed > 0) {
    for (let cls = 0; cls < CLASSES; cls++) {
      freeLists[cls] = freeLists[cls].filter((e) => owned[Math.floor(e / ARENA_SIZE)] !== null);
    }
  }
  return removed;
}

/** The shared reference count of `block` (for tests and diagnostics). */
export function refcount(block: Block): number {
  return Atomics.load(block.arena.i32, (block.off >> 2) + B_REF);
}

export interface HeapStats {
  /** Arenas this isolate created and still allocates from. */
  ownedArenas: number;
  /** Other isolates' arenas mapped here (and not yet collected). */
  attachedArenas: number;
  /** Dedicated segments mapped here (and not yet collected). */
  dedicatedSegments: number;
  /** References this isolate holds. */
  liveRefs: number;
  /** Blocks on the local free lists. */
  freeBlocks: number;
}

export function heapStats(): HeapStats {
  let attachedArenas = 0;
  for (const ref of attached.values()) if (ref.deref() !== undefined) attachedArenas++;
  let dedicatedSegments = 0;
  for (const ref of dedicated.values()) if (ref.deref() !== undefined) dedicatedSegments++;
  return {
    ownedArenas: owned.filter((a) => a !== null).length,
    attachedArenas,
    dedicatedSegments,
    liveRefs: refSlots.length - freeSlots.length,
    freeBlocks: freeLists.reduce((s, l) => s + l.length, 0),
  };
}

export { releaseBlock as release, retainBlock as retain };
