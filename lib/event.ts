// Event: one word in shared memory. Bit 0 is the flag, bit 1 says someone sleeps on the
// word, and the bits above count set() calls (a generation, wrapping freely).
//
// isSet() is one load, set() on a set event one load, set() on a clear event one
// compareExchange plus a wake only when the sleepers bit was on, clear() one
// compareExchange. A waiter returns true as soon as it sees the flag, or a generation
// other than the one it started with: a set() happened while it waited, even if a clear()
// followed before it woke (threading.Event's rule: wait() returns true unless it timed
// out).
import { deadlineAfter, remaining, waitAsync, waitSync, wake } from './futex.js';
import { takeParts } from './revived_parts.js';
import { type BlockParts, SharedWords, registerWords, waitTimeout } from './shared_words.js';
import { noExtraArguments } from './validate.js';

const WORD = 0;
const FLAG = 1;
const SLEEPERS = 2;
const GENERATION = 4;
const EVERYONE = 0x7fffffff;

/** Mark the word as slept on. Returns the value to sleep on, or null when the event changed. */
function mark(w: Int32Array, c: number): number | null {
  if ((c & SLEEPERS) !== 0) return c;
  const prev = Atomics.compareExchange(w, WORD, c, c | SLEEPERS);
  return prev === c ? c | SLEEPERS : null;
}

/** A flag shared by processes that can be waited on (Python's multiprocessing.Event). */
export class Event extends SharedWords {
  constructor();
  constructor(...extra: unknown[]) {
    noExtraArguments('Event', [], extra);
    super(1, takeParts<BlockParts>()?.block);
  }

  protected get kind(): string {
    return 'Event';
  }

  /** True when the flag is set. */
  isSet(): boolean {
    this.checkOpen();
    return (Atomics.load(this.w, WORD) & FLAG) !== 0;
  }

  /** Set the flag and wake every waiter, in every process. */
  set(): void {
    this.checkOpen();
    const w = this.w;
    let c = Atomics.load(w, WORD);
    for (;;) {
      if ((c & FLAG) !== 0) return;
      const prev = Atomics.compareExchange(w, WORD, c, (((c & ~SLEEPERS) | FLAG) + GENERATION) | 0);
      if (prev === c) break;
      c = prev;
    }
    if ((c & SLEEPERS) !== 0) wake(w, WORD, EVERYONE);
  }

  /** Reset the flag; later waits block until the next set(). */
  clear(): void {
    this.checkOpen();
    const w = this.w;
    let c = Atomics.load(w, WORD);
    while ((c & FLAG) !== 0) {
      const prev = Atomics.compareExchange(w, WORD, c, c & ~FLAG);
      if (prev === c) return;
      c = prev;
    }
  }

  /**
   * Block this thread until the flag is set or `timeout` seconds pass. Returns the flag:
   * true unless it timed out (a set() during the wait counts even if cleared since).
   */
  waitSync(timeout?: number | null): boolean {
    this.checkOpen();
    const timeoutMs = waitTimeout(timeout);
    const w = this.w;
    let c = Atomics.load(w, WORD);
    if ((c & FLAG) !== 0) return true;
    const started = c & ~(FLAG | SLEEPERS);
    const deadline = deadlineAfter(timeoutMs);
    for (;;) {
      const left = remaining(deadline);
      if (left === 0) return false;
      const expected = mark(w, c);
      if (expected !== null) waitSync(w, WORD, expected, left);
      c = Atomics.load(w, WORD);
      if ((c & FLAG) !== 0 || (c & ~(FLAG | SLEEPERS)) !== started) return true;
    }
  }

  /** As waitSync, without blocking the event loop. */
  async wait(timeout?: number | null): Promise<boolean> {
    this.checkOpen();
    const timeoutMs = waitTimeout(timeout);
    const w = this.w;
    let c = Atomics.load(w, WORD);
    if ((c & FLAG) !== 0) return true;
    const started = c & ~(FLAG | SLEEPERS);
    const deadline = deadlineAfter(timeoutMs);
    for (;;) {
      const left = remaining(deadline);
      if (left === 0) return false;
      const expected = mark(w, c);
      if (expected !== null) await waitAsync(w, WORD, expected, left);
      c = Atomics.load(w, WORD);
      if ((c & FLAG) !== 0 || (c & ~(FLAG | SLEEPERS)) !== started) return true;
    }
  }

  override toString(): string {
    return `<Event ${(Atomics.load(this.w, WORD) & FLAG) !== 0 ? 'set' : 'unset'}>`;
  }
}

registerWords('Event', 1, () => new Event());
