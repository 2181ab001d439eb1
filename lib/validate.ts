// Argument checks for the public boundary. Messages name the argument and say what fits.
import { ValueError } from './errors.js';

/** An object's class name for a message; never throws (hostile getters, odd constructors). */
export function className(value: object): string {
  try {
    const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? name : 'Object';
  } catch {
    return 'Object';
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${className(value)})`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.slice(0, 40))})`;
  return `${typeof value} ${String(value)}`;
}

export function checkInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${describe(value)}`);
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

export function checkOptions<T extends object>(name: string, value: unknown): Partial<T> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${name} must be an options object, got ${describe(value)}`);
  }
  return value as Partial<T>;
}

/**
 * A timeout in seconds as API.md defines it: null/undefined = forever (Infinity ms),
 * negative = 0. Returns milliseconds.
 */
export function timeoutToMs(name: string, seconds: unknown): number {
  if (seconds === undefined || seconds === null) return Infinity;
  if (typeof seconds !== 'number' || Number.isNaN(seconds)) {
    throw new TypeError(`${name} must be a number of seconds, null or undefined, got ${describe(seconds)}`);
  }
  return seconds <= 0 ? 0 : seconds * 1000;
}

/**
 * A public constructor's arguments past its documented ones (`extra`): a TypeError, as
 * Python's for an argument too many; undefined ones count as not given.
 */
export function noExtraArguments(what: string, documented: readonly string[], extra: readonly unknown[]): void {
  if (extra.length === 0) return;
  const i = extra.findIndex((x) => x !== undefined);
  if (i < 0) return;
  const n = documented.length;
  const takes = n === 0 ? 'takes no arguments' : `takes at most ${n} argument${n === 1 ? '' : 's'} (${documented.join(', ')})`;
  throw new TypeError(`${what}() ${takes}, got ${describe(extra[i])} as argument ${n + i + 1}`);
}

export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ValueError(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

export { describe };
