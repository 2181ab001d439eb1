// Assertions shared by the test files.
import * as fs from 'node:fs';
import { expect } from 'vitest';

type ErrorClass = abstract new (...args: never[]) => Error;

/** `fn()` throws an instance of `type` whose message matches `re`. */
export function expectThrows(fn: () => unknown, type: ErrorClass, re: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, String(fn)).toBeInstanceOf(type);
  expect((caught as Error).message, String(fn)).toMatch(re);
}

/** Each case throws as `expectThrows` checks. */
export function expectEachThrows(cases: [() => unknown, ErrorClass, RegExp][]): void {
  for (const [fn, type, re] of cases) expectThrows(fn, type, re);
}

/** Whether a POSIX shared-memory segment of that name exists (Linux: a file in /dev/shm). */
export function segmentExists(name: string, attach?: (name: string) => void): boolean {
  if (fs.existsSync('/dev/shm')) return fs.existsSync(`/dev/shm/${name}`);
  if (attach === undefined) throw new Error('segmentExists: no /dev/shm here; pass an attach function');
  try {
    attach(name);
    return true;
  } catch {
    return false;
  }
}
