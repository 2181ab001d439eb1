// Small async helpers shared by the test files.

/**
 * Multiplier for the deadlines tests set themselves (vitest's own timeouts are separate):
 * 1 normally; MP_TEST_SLOWDOWN under a slower build (npm run test:asan sets it).
 */
export const slowdown = Number(process.env.MP_TEST_SLOWDOWN) || 1;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** The error `fn` threw or rejected with (fails when it did neither). */
export async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error(`expected ${String(fn)} to fail`);
}

/** `promise`, or a rejection saying what never settled after `ms` (instead of a hung test). */
export function settles<V>(promise: Promise<V>, what: string, ms = 10_000): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  ms *= slowdown;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never settled (${ms} ms)`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Polls `check` every 10 ms; false if it is still false after `ms`. */
export async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms * slowdown;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

/** Everything an async iterable yields. */
export async function collect<V>(it: AsyncIterable<V>): Promise<V[]> {
  const out: V[] = [];
  for await (const v of it) out.push(v);
  return out;
}

/** from, from + 1, ... (n numbers), pausing now and then: a slow async source. */
export async function* asyncRange(n: number, from = 0): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) await sleep(1);
    yield from + i;
  }
}
