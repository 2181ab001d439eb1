// What a handle must look like before anything is done with it. A handle comes from
// another process, or from a peer over a socket; each shared type describes its handle
// once, as a shape (a record of field checks built from the few below), and revive()
// (reduction.ts) checks a handle against its kind's shape, nested handles and block
// sizes included, before the reviver maps any memory. A field of the wrong type or out of
// range is a ValueError (the handle is corrupt) that names the kind and the field:
//   invalid Lock handle: block.n must be an integer from 8 to 9007199254740991, got number 4
//
// Checks return the value they were given (never a copy): a block handle's identity
// counts (heap.ts adopts a handle's transit reference once per handle object). A failed
// check throws a Mismatch that each enclosing object prefixes with its key on the way
// out, so a handle that passes costs no allocation.
import { ValueError } from './errors.js';
import { describe } from './validate.js';

/** One field's check: returns the value, typed, or throws a Mismatch (see mismatch()). */
export type Field<T> = (value: unknown) => T;

/** A field whose check depends on the fields checked before it (in the shape's key order). */
export type DependentField<T> = { readonly dependent: (value: unknown, checked: never) => T };

export type Shape = { readonly [field: string]: Field<unknown> | DependentField<unknown> };

/** The type of a handle that passed `S`. */
export type Checked<S extends Shape> = {
  readonly [K in keyof S]: S[K] extends Field<infer T> ? T : S[K] extends DependentField<infer T> ? T : never;
};

class Mismatch {
  readonly path: (string | number)[] = [];
  constructor(
    readonly expected: string,
    readonly value: unknown,
  ) {}
}

/** Fail the field being checked: it must be `expected`, it is `value`. */
export function mismatch(expected: string, value: unknown): never {
  throw new Mismatch(expected, value);
}

/** Run `check` on the field `key` of an object: a mismatch inside gets `key` in front of its path. */
export function within<T>(key: string | number, check: Field<T>, value: unknown): T {
  try {
    return check(value);
  } catch (err) {
    if (err instanceof Mismatch) err.path.unshift(key);
    throw err;
  }
}

/** `v` if it is an integer in [min, max], a multiple of `step` (for dependent fields, whose bounds vary). */
export function integerIn(v: unknown, min: number, max: number, step = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max || v % step !== 0) {
    mismatch(`an integer from ${min} to ${max}${step === 1 ? '' : `, a multiple of ${step}`}`, v);
  }
  return v;
}

/** An integer in [min, max], a multiple of `step`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER, step = 1): Field<number> {
  return (v) => integerIn(v, min, max, step);
}

/** A number (not NaN) of at least `min`. */
export function number(min: number): Field<number> {
  const expected = `a number >= ${min}`;
  return (v) => {
    if (typeof v !== 'number' || !(v >= min)) mismatch(expected, v);
    return v;
  };
}

/** A non-empty string. */
export const text: Field<string> = (v) => {
  if (typeof v !== 'string' || v.length === 0) mismatch('a non-empty string', v);
  return v;
};

/** A string, empty or not. */
export const anyText: Field<string> = (v) => (typeof v === 'string' ? v : mismatch('a string', v));

/** One of the given strings. */
export function oneOf<T extends string>(values: readonly T[]): Field<T> {
  const expected = `one of ${values.map((x) => `'${x}'`).join(', ')}`;
  const allowed = new Set<unknown>(values);
  return (v) => {
    if (!allowed.has(v)) mismatch(expected, v);
    return v as T;
  };
}

/** null, or what `field` takes. */
export function orNull<T>(field: Field<T>): Field<T | null> {
  return (v) => (v === null ? null : field(v));
}

/** Absent (undefined), or what `field` takes. */
export function optional<T>(field: Field<T>): Field<T | undefined> {
  return (v) => (v === undefined ? undefined : field(v));
}

/** An array whose every element `field` takes. */
export function list<T>(field: Field<T>): Field<readonly T[]> {
  return (v) => {
    if (!Array.isArray(v)) mismatch('an array', v);
    for (let i = 0; i < v.length; i++) within(i, field, v[i]);
    return v as T[];
  };
}

/** A fixed-length array whose elements the given fields take, in order. */
export function tuple<A, B>(a: Field<A>, b: Field<B>): Field<readonly [A, B]> {
  return (v) => {
    if (!Array.isArray(v) || v.length !== 2) mismatch('an array of 2 elements', v);
    within(0, a, v[0]);
    within(1, b, v[1]);
    return v as unknown as [A, B];
  };
}

/** What `a` takes, else what `b` takes (a socket path or a [host, port] pair). */
export function either<A, B>(a: Field<A>, b: Field<B>, expected: string): Field<A | B> {
  return (v) => {
    try {
      return a(v);
    } catch {
      try {
        return b(v);
      } catch {
        return mismatch(expected, v);
      }
    }
  };
}

/** A field checked knowing the fields checked before it (a size that depends on a typecode). */
export function dependent<C, T>(check: (value: unknown, checked: C) => T): DependentField<T> {
  return { dependent: check as (value: unknown, checked: never) => T };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** An object of the given shape (a handle, a block handle inside one); the object itself is returned. */
export function record<S extends Shape>(shape: S): Field<Checked<S>> {
  const keys = Object.keys(shape);
  const fields = keys.map((k) => shape[k]!);
  return (v) => {
    if (!isRecord(v)) mismatch('an object', v);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const f = fields[i]!;
      try {
        if (typeof f === 'function') (f as Field<unknown>)(v[key]);
        else (f as DependentField<unknown>).dependent(v[key], v as never);
      } catch (err) {
        if (err instanceof Mismatch) err.path.unshift(key);
        throw err;
      }
    }
    return v as Checked<S>;
  };
}

/** An object whose `tag` field picks its shape among `shapes`. */
export function variant<S extends Shape>(tag: string, shapes: Readonly<Record<string, S>>): Field<Checked<S>> {
  const pick = oneOf(Object.keys(shapes));
  const checks = new Map(Object.entries(shapes).map(([name, shape]) => [name, record(shape)]));
  return (v) => {
    if (!isRecord(v)) mismatch('an object', v);
    return checks.get(within(tag, pick, v[tag]))!(v);
  };
}

/** `check(handle)` (a record() of a handle of kind `kind`): a mismatch is a ValueError naming the kind and the field. */
export function checkHandle<T>(check: Field<T>, handle: unknown, kind: string): T {
  try {
    return check(handle);
  } catch (err) {
    if (!(err instanceof Mismatch)) throw err;
    const got = err.value === undefined ? 'nothing (the field is missing)' : describe(err.value);
    const field = err.path.length === 0 ? 'the handle' : err.path.join('.');
    throw new ValueError(`invalid ${kind} handle: ${field} must be ${err.expected}, got ${got}`);
  }
}
