// How shared objects travel between processes: as small plain "handles" that name the
// shared memory behind them, revived on the other side as the same shared object.
//
// Every shared type plugs in the same way: it implements `[toHandle]()` and registers a
// reviver for its `kind`. Serialization (structured clone of args, queue messages)
// replaces any object with a `[toHandle]` method by its handle and revives handles on
// arrival; nothing here special-cases a type.

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

type Reviver = (handle: SharedHandle) => unknown;
const revivers = new Map<string, Reviver>();

export function registerReviver(kind: string, revive: Reviver): void {
  if (revivers.has(kind)) throw new Error(`reviver for '${kind}' registered twice`);
  revivers.set(kind, revive);
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

/** Rebuild the shared object a handle names. */
export function revive(handle: SharedHandle): unknown {
  const kind = handle[HANDLE_KIND];
  const reviver = revivers.get(kind);
  if (reviver === undefined) throw new TypeError(`unknown shared object kind '${kind}' in handle`);
  return reviver(handle);
}
