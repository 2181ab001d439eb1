// Helpers on iterables and promises shared by the pool, its workers and the executor.

/** A sync or async iterable (strings count, as in Python). */
export function isIterable(v: unknown): v is Iterable<unknown> | AsyncIterable<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'string') &&
    (typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** Python's zip over iterators: stops at the shortest, then closes the others. */
export function* zipSync(its: Iterator<unknown>[]): Generator<unknown[]> {
  if (its.length === 0) return;
  const open = new Set(its);
  try {
    for (;;) {
      const tuple = new Array<unknown>(its.length);
      for (let k = 0; k < its.length; k++) {
        const it = its[k]!;
        let r: IteratorResult<unknown>;
        try {
          r = it.next();
        } catch (err) {
          open.delete(it); // a throwing iterator is done; the others are closed below
          throw err;
        }
        if (r.done === true) {
          open.delete(it);
          return;
        }
        tuple[k] = r.value;
      }
      yield tuple;
    }
  } finally {
    for (const it of open) {
      try {
        it.return?.();
      } catch {
        // closing is a courtesy: the zip's own outcome stands
      }
    }
  }
}

export async function* zipAsync(its: (Iterator<unknown> | AsyncIterator<unknown>)[]): AsyncGenerator<unknown[]> {
  if (its.length === 0) return;
  const open = new Set(its);
  try {
    for (;;) {
      const tuple = new Array<unknown>(its.length);
      for (let k = 0; k < its.length; k++) {
        const it = its[k]!;
        let r: IteratorResult<unknown>;
        try {
          r = await it.next();
        } catch (err) {
          open.delete(it);
          throw err;
        }
        if (r.done === true) {
          open.delete(it);
          return;
        }
        tuple[k] = r.value;
      }
      yield tuple;
    }
  } finally {
    for (const it of open) {
      try {
        await it.return?.();
      } catch {
        // as in zipSync
      }
    }
  }
}
