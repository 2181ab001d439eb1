// How a revived shared object gets its parts (its block, its lock, its ring) from its
// reviver: handed over through this module's slot for the one `new` the reviver makes,
// never through a constructor parameter. So no argument given to a public constructor
// (`new Lock({})`) can be taken for an internal block, and the public typings show only
// the documented parameters.
let handedOver: object | null = null;

/** Run `make` (one `new` of a shared type) with `parts` handed to its constructor. */
export function withParts<T>(parts: object, make: () => T): T {
  handedOver = parts;
  try {
    return make();
  } finally {
    handedOver = null;
  }
}

/**
 * For a constructor, before anything else: the parts handed over for it, or null for a
 * public `new`. Taking them empties the slot, so an object the constructor makes in turn
 * (a Condition's new RLock) gets none.
 */
export function takeParts<P extends object>(): P | null {
  const parts = handedOver as P | null;
  handedOver = null;
  return parts;
}
