// How shared objects travel between processes: as small plain "handles" that name the
// shared memory behind them, revived on the other side as the same shared object.
//
// Every shared type plugs in the same way: it implements `[toHandle]()` and registers,
// for its `kind`, the shape of its handle (handle_shape.ts) and a reviver. Serialization
// (structured clone of args, queue messages) replaces any object with a `[toHandle]`
// method by its handle and revives handles on arrival; nothing here special-cases a type.
import { types as utilTypes } from 'node:util';
import { deserialize as v8Deserialize, serialize as v8Serialize } from 'node:v8';
import { MultiprocessingError, ValueError } from './errors.js';
import { type Checked, type Field, type Shape, checkHandle, mismatch, oneOf, record, within } from './handle_shape.js';
import { Scoped } from './scoped.js';

/** Property every handle carries: the registered kind of shared object. */
export const HANDLE_KIND = '$mpHandle';

export interface SharedHandle {
  readonly [HANDLE_KIND]: string;
  readonly [field: string]: unknown;
}

/** Method a shareable object implements to describe itself as a handle. */
export const toHandle: unique symbol = Symbol.for('multiprocessing.toHandle');

export interface Shareable {
  [toHandle](): SharedHandle;
}

interface Registered {
  readonly check: Field<unknown>;
  readonly revive: (handle: never) => unknown;
}
const revivers = new Map<string, Registered>();

/**
 * How handles of `kind` are revived: `revive` is given only a handle that passed `shape`
 * (every field of the right type and range, nested handles included), so it uses the
 * handle's fields as they are.
 */
export function registerReviver<S extends Shape>(kind: string, shape: S, revive: (handle: Checked<S>) => unknown): void {
  if (revivers.has(kind)) throw new Error(`reviver for '${kind}' registered twice`);
  revivers.set(kind, { check: record(shape), revive });
}

declare const checked: unique symbol;
/** A nested handle that passed its kind's shape as part of the handle around it. */
export type CheckedHandle = SharedHandle & { readonly [checked]: true };

/**
 * A field that holds the handle of another shared object of one of `kinds` (a
 * Condition's lock), checked in full with its own kind's shape; revive it with
 * reviveChecked(), which does not check it again.
 */
export function nestedHandle(...kinds: string[]): Field<CheckedHandle> {
  const pickKind = oneOf(kinds);
  return (v) => {
    if (!isHandle(v)) mismatch(`the handle of a shared ${kinds.join(' or ')}`, v);
    const found = revivers.get(within(HANDLE_KIND, pickKind, v[HANDLE_KIND]));
    if (found === undefined) mismatch('the handle of a kind loaded here', v);
    found.check(v);
    return v as CheckedHandle;
  };
}

export function isShareable(value: unknown): value is Shareable {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as Partial<Shareable>)[toHandle] === 'function'
  );
}

export function isHandle(value: unknown): value is SharedHandle {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Record<string, unknown>)[HANDLE_KIND] === 'string'
  );
}

/** Describe a shareable object for another process. */
export function handleOf(value: Shareable): SharedHandle {
  return value[toHandle]();
}

// ---------------------------------------------------------------------------------------
// Transports that may cross machines (sockets) are marked while they encode and decode:
// a handle then leaves secrets out (a proxy's authkey), and on arrival only the kinds
// the reader allows are revived (a manager server revives proxies only, never a handle
// that names this machine's shared memory).

/** Set while a socket transport encodes or decodes: the handle kinds it revives (null: any). */
const socketTransport = new Scoped<{ allowedKinds: ReadonlySet<string> | null } | null>(null);

/**
 * While set, the handles that carry a transit reference (heap.ts's block handles) are
 * noted here as they are made, so that a message that is never sent (a child that cannot
 * be spawned) can give their references back instead of leaking the memory until the
 * process tree ends.
 */
export const transitLog = new Scoped<unknown[] | null>(null);

/** Whether the value being encoded or decoded travels over a socket. */
export function overNetwork(): boolean {
  return socketTransport.value !== null;
}

/** Run `fn` (an encode or decode) as a socket transport's; `kinds`: the only handle kinds to revive. */
export function withNetworkTransport<T>(fn: () => T, kinds: ReadonlySet<string> | null = null): T {
  return socketTransport.run({ allowedKinds: kinds }, fn);
}

/** Rebuild the shared object a handle names, after checking the handle against its kind's shape. */
export function revive(handle: SharedHandle): unknown {
  return reviveAs(handle, true);
}

/** revive() for a nested handle that its outer handle's shape checked already. */
export function reviveChecked(handle: CheckedHandle): unknown {
  return reviveAs(handle, false);
}

function reviveAs(handle: SharedHandle, check: boolean): unknown {
  const kind = handle[HANDLE_KIND];
  const allowedKinds = socketTransport.value?.allowedKinds ?? null;
  if (allowedKinds !== null && !allowedKinds.has(kind)) {
    throw new TypeError(`a shared ${kind} cannot be received here (this transport accepts ${[...allowedKinds].join(', ') || 'none'})`);
  }
  const found = revivers.get(kind);
  if (found === undefined) throw new TypeError(`unknown shared object kind '${kind}' in handle`);
  const fields = check ? checkHandle(found.check, handle, kind) : handle;
  // What a reviver attached before it failed is let go by the garbage collector (each
  // shared object drops its reference when collected).
  try {
    return found.revive(fields as never);
  } catch (err) {
    throw clearError(err, kind);
  }
}

/**
 * A reviver's error (the memory a handle names is gone, a ring is not one) as the caller
 * gets it: a TypeError, RangeError or ValueError with the kind named in front, another
 * error of the library's or an OS error (SharedMemory's, with an errno) as it is, and
 * anything else a ValueError.
 */
function clearError(err: unknown, kind: string): unknown {
  const osError = err instanceof Error && typeof (err as NodeJS.ErrnoException).errno === 'number';
  if (osError || (err instanceof MultiprocessingError && !(err instanceof ValueError))) return err;
  const message = `cannot revive the shared ${kind}: ${err instanceof Error ? err.message : String(err)}`;
  const Class = err instanceof TypeError ? TypeError : err instanceof RangeError ? RangeError : ValueError;
  return new Class(message, { cause: err });
}

// ---------------------------------------------------------------------------------------
// The wire form of a value: structured clone with shared objects replaced by handles.
//
// toWire walks the value twice at most. The first walk only asks "is there any shared
// object in here?" and stops at the first one; most messages have none, and they go out
// as they are, uncopied. When there is one, a second walk (Tarjan's strongly connected
// components, iterative) finds the objects that contain a shared object directly or
// through others, cycles included; exactly those are copied, with their references to
// each other redirected to the copies, and everything else is shared with the original.
// Each shared object becomes ONE handle however often it is referenced (a handle carries
// a transit reference that the receiving side adopts once), and fromWire revives each
// handle once. No walk recurses: a 100,000-deep linked list is fine.
//
// Children looked at: array elements (indexes up to length), Map keys and values, Set
// values, and the own enumerable string-keyed properties of any other object (what
// structured clone copies; a class instance arrives as a plain object either way).
// Leaves, passed as they are: primitives, functions, typed arrays, DataViews, array
// buffers, Dates, RegExps, boxed primitives and Errors (a shared object inside an Error's
// cause, or in a non-index property of an array, is not looked for).

const LEAF = 0;
const ARRAY = 1;
const MAP = 2;
const SET = 3;
const OBJECT = 4;
type Kind = typeof LEAF | typeof ARRAY | typeof MAP | typeof SET | typeof OBJECT;

/** How to walk a (non-shareable) object. Plain objects and arrays are decided first, cheaply. */
function kindOf(v: object): Kind {
  if (Array.isArray(v)) return ARRAY;
  if (typeof v === 'function') return LEAF;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return OBJECT;
  if (proto === Map.prototype) return MAP;
  if (proto === Set.prototype) return SET;
  if (
    ArrayBuffer.isView(v) ||
    utilTypes.isAnyArrayBuffer(v) ||
    utilTypes.isDate(v) ||
    utilTypes.isRegExp(v) ||
    utilTypes.isBoxedPrimitive(v) ||
    utilTypes.isNativeError(v) ||
    v instanceof Error
  ) {
    return LEAF;
  }
  if (utilTypes.isMap(v)) return MAP;
  if (utilTypes.isSet(v)) return SET;
  return OBJECT;
}

function isObjectLike(v: unknown): v is object {
  return v !== null && (typeof v === 'object' || typeof v === 'function');
}

/** Pushes the object-typed children of `obj` (of kind `kind`) onto `out`. */
/**
 * The indexes to visit in `a`: null (all of 0..length-1) for a short array; its own keys
 * for a long one, so that a holey array of length 2**32-1 costs its elements, not its length.
 */
export function arrayIndexes(a: readonly unknown[]): number[] | null {
  return a.length > 65536 ? Object.keys(a).map(Number).filter((i) => Number.isInteger(i) && i >= 0 && i < a.length) : null;
}

function pushChildren(obj: object, kind: Kind, out: object[]): void {
  if (kind === ARRAY) {
    const a = obj as unknown[];
    const indexes = arrayIndexes(a);
    const n = indexes === null ? a.length : indexes.length;
    for (let j = 0; j < n; j++) {
      const c = a[indexes === null ? j : indexes[j]!];
      if (isObjectLike(c)) out.push(c);
    }
  } else if (kind === OBJECT) {
    const rec = obj as Record<string, unknown>;
    for (const key of Object.keys(rec)) {
      const c = rec[key];
      if (isObjectLike(c)) out.push(c);
    }
  } else if (kind === MAP) {
    for (const [k, c] of obj as Map<unknown, unknown>) {
      if (isObjectLike(k)) out.push(k);
      if (isObjectLike(c)) out.push(c);
    }
  } else if (kind === SET) {
    for (const c of obj as Set<unknown>) if (isObjectLike(c)) out.push(c);
  }
}

/** Whether any shareable object is reachable from `root` (stops at the first). */
function containsShareable(root: object, rootKind: Kind): boolean {
  const seen = new Set<object>([root]);
  const stack: object[] = [];
  pushChildren(root, rootKind, stack);
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    if (isShareable(c)) return true;
    const kind = kindOf(c);
    if (kind !== LEAF) pushChildren(c, kind, stack);
  }
  return false;
}

/**
 * Which objects reachable from `root` contain a shareable, directly or through other
 * objects: `needs(obj)`. Tarjan's algorithm: the members of one strongly connected
 * component (a cycle) all need a copy or none does; components complete children-first,
 * so when one does, every component it points to is already decided.
 */
function objectsToCopy(root: object): (obj: object) => boolean {
  const index = new Map<object, number>();
  const low: number[] = [];
  const flag: boolean[] = []; // contains a shareable (final once its component is complete)
  const onStack: boolean[] = [];
  const scc: number[] = [];
  const pending: object[] = []; // children still to look at, for every frame
  const frames: number[] = []; // pairs: node index, start of its children in `pending`
  let count = 0;

  const open = (obj: object, kind: Kind): void => {
    const i = count++;
    index.set(obj, i);
    low.push(i);
    flag.push(false);
    onStack.push(true);
    scc.push(i);
    frames.push(i, pending.length);
    pushChildren(obj, kind, pending);
  };

  open(root, kindOf(root));
  while (frames.length > 0) {
    const v = frames[frames.length - 2]!;
    if (pending.length > frames[frames.length - 1]!) {
      const c = pending.pop()!;
      const ci = index.get(c);
      if (ci !== undefined) {
        if (onStack[ci]) {
          if (ci < low[v]!) low[v] = ci;
        } else if (flag[ci]) flag[v] = true;
      } else if (isShareable(c)) {
        flag[v] = true;
      } else {
        const kind = kindOf(c);
        if (kind !== LEAF) open(c, kind);
      }
      continue;
    }
    // All of v's children are done.
    frames.pop();
    frames.pop();
    if (low[v] === v) {
      let from = scc.length - 1;
      let any = false;
      for (; ; from--) {
        const m = scc[from]!;
        if (flag[m]) any = true;
        if (m === v) break;
      }
      while (scc.length > from) {
        const m = scc.pop()!;
        onStack[m] = false;
        flag[m] = any;
      }
    }
    if (frames.length > 0) {
      const p = frames[frames.length - 2]!;
      if (low[v]! < low[p]!) low[p] = low[v]!;
      if (!onStack[v] && flag[v]) flag[p] = true;
    }
  }
  return (obj) => {
    const i = index.get(obj);
    return i !== undefined && flag[i]!;
  };
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

/**
 * Deep copy-on-need of `value` in which every shareable object is replaced by its handle,
 * so the result survives structured clone and revives as the same shared objects. Values
 * without a shareable come back as they are (same object, no copy). Identity is kept: two
 * references to one object (or one shareable) stay one. Each call takes a transit
 * reference per shared object: call it once per message actually sent.
 */
export function toWire(value: unknown): unknown {
  if (!isObjectLike(value)) return value;
  if (isShareable(value)) return handleOf(value);
  const rootKind = kindOf(value);
  if (rootKind === LEAF || !containsShareable(value, rootKind)) return value;

  const needsCopy = objectsToCopy(value);
  const handles = new Map<object, SharedHandle>();
  const copies = new Map<object, object>();
  const fill: [object, object][] = [];

  const map = (v: unknown): unknown => {
    if (!isObjectLike(v)) return v;
    if (isShareable(v)) {
      let h = handles.get(v);
      if (h === undefined) handles.set(v, (h = handleOf(v)));
      return h;
    }
    let c = copies.get(v);
    if (c === undefined) {
      if (!needsCopy(v)) return v;
      const kind = kindOf(v);
      c = kind === ARRAY ? new Array((v as unknown[]).length) : kind === MAP ? new Map() : kind === SET ? new Set() : {};
      copies.set(v, c);
      fill.push([v, c]);
    }
    return c;
  };

  const top = map(value);
  while (fill.length > 0) {
    const [from, to] = fill.pop()!;
    const kind = kindOf(from);
    if (kind === ARRAY) {
      const src = from as unknown[];
      const out = to as unknown[];
      const indexes = arrayIndexes(src);
      if (indexes !== null) for (const i of indexes) out[i] = map(src[i]);
      else for (let i = 0; i < src.length; i++) if (i in src) out[i] = map(src[i]);
    } else if (kind === MAP) {
      const out = to as Map<unknown, unknown>;
      for (const [k, v] of from as Map<unknown, unknown>) out.set(map(k), map(v));
    } else if (kind === SET) {
      const out = to as Set<unknown>;
      for (const v of from as Set<unknown>) out.add(map(v));
    } else {
      const src = from as Record<string, unknown>;
      const out = to as Record<string, unknown>;
      for (const key of Object.keys(src)) setOwn(out, key, map(src[key]));
    }
  }
  return top;
}

/**
 * revive(), first loading the whole library when the handle's kind has no reviver yet:
 * each shared type registers its reviver when its module loads, and a process that only
 * receives (a child that never imported the library) must not depend on load order.
 */
function reviveLoading(h: SharedHandle): unknown {
  if (!revivers.has(h[HANDLE_KIND])) require('./index.js');
  return revive(h);
}

/**
 * The inverse of toWire: revive every handle found in `value` (each handle object once,
 * so two references to one handle give one shared object), in place, keeping cycles.
 * Map keys and Set members that are handles are replaced with the order kept. An object
 * of the user's that happens to carry a string `$mpHandle` property is taken for a handle.
 */
export function fromWire(value: unknown): unknown {
  if (!isObjectLike(value)) return value;
  if (isHandle(value)) return reviveLoading(value);
  if (kindOf(value) === LEAF) return value;

  const revived = new Map<object, unknown>();
  const seen = new Set<object>([value]);
  const stack: object[] = [value];
  // The replacement of a handle; any other object is queued to be walked.
  const step = (c: unknown): unknown => {
    if (!isObjectLike(c)) return c;
    if (isHandle(c)) {
      if (revived.has(c)) return revived.get(c);
      const obj = reviveLoading(c);
      revived.set(c, obj);
      return obj;
    }
    if (!seen.has(c)) {
      seen.add(c);
      stack.push(c);
    }
    return c;
  };
  while (stack.length > 0) {
    const obj = stack.pop()!;
    const kind = kindOf(obj);
    if (kind === ARRAY) {
      const a = obj as unknown[];
      // A long array is walked by its own keys: a holey one (length 2**32-1, three
      // elements) costs its elements, not its length.
      const indexes = arrayIndexes(a);
      const n = indexes === null ? a.length : indexes.length;
      for (let j = 0; j < n; j++) {
        const i = indexes === null ? j : indexes[j]!;
        const c = a[i];
        if (isObjectLike(c)) {
          const r = step(c);
          if (r !== c) a[i] = r;
        }
      }
    } else if (kind === OBJECT) {
      const rec = obj as Record<string, unknown>;
      for (const key of Object.keys(rec)) {
        const c = rec[key];
        if (isObjectLike(c)) {
          const r = step(c);
          if (r !== c) setOwn(rec, key, r);
        }
      }
    } else if (kind === MAP) {
      const m = obj as Map<unknown, unknown>;
      let keyChanged = false;
      const entries: [unknown, unknown][] = [];
      for (const [k, v] of m) {
        const nk = step(k);
        const nv = step(v);
        if (nk !== k) keyChanged = true;
        else if (nv !== v) m.set(k, nv);
        entries.push([nk, nv]);
      }
      if (keyChanged) {
        m.clear();
        for (const [k, v] of entries) m.set(k, v);
      }
    } else if (kind === SET) {
      const s = obj as Set<unknown>;
      let changed = false;
      const members: unknown[] = [];
      for (const v of s) {
        const nv = step(v);
        if (nv !== v) changed = true;
        members.push(nv);
      }
      if (changed) {
        s.clear();
        for (const v of members) s.add(v);
      }
    }
  }
  return value;
}

/** v8.serialize(toWire(value)): bytes another process turns back into the value with loads. */
export function dumps(value: unknown): Buffer {
  return v8Serialize(toWire(value));
}

/** fromWire(v8.deserialize(buf)). Load each buffer once: its handles are adopted here. */
export function loads(buf: Uint8Array): unknown {
  const view = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return fromWire(v8Deserialize(view));
}
