// Semaphore and BoundedSemaphore: a counter word and a sleepers word in shared memory.
//
// acquire is a compareExchange that takes one unit while the counter is positive;
// release is an Atomics.add. Neither calls the addon unless someone sleeps: a sleeper
// first counts itself in SLEEPERS, then looks at the counter again before it sleeps; a
// releaser adds to the counter, then looks at SLEEPERS. Both are sequentially consistent
// atomics, so at least one of the two sees the other (no lost wake-up), and a release
// with nobody asleep is one add and one load. A wake only means "look again": the woken
// process competes for the unit like anyone else (Python's semaphores are not fair
// either).
import { ValueError } from './errors.js';
import { deadlineAfter, remaining, waitAsync, waitSync, wake } from './futex.js';
import { takeParts } from './revived_parts.js';
import { type AcquireOptions, Acquirable, type BlockParts, acquireTimeout, registerWords } from './shared_words.js';
import { checkInteger, noExtraArguments } from './validate.js';

const VALUE = 0;
const SLEEPERS = 1;
const MAX = 2; // BoundedSemaphore: the initial value; UNBOUNDED for a plain Semaphore
const UNBOUNDED = -1;
const WORDS = 3;
/** SEM_VALUE_MAX on Linux, and what fits in the word. */
const VALUE_MAX = 0x7fffffff;

/** Take one unit if there is one. */
function tryTake(w: Int32Array): boolean {
  let c = Atomics.load(w, VALUE);
  while (c > 0) {
    const prev = Atomics.compareExchange(w, VALUE, c, c - 1);
    if (prev === c) return true;
    c = prev;
  }
  return false;
}

function takeSync(w: Int32Array, timeoutMs: number): boolean {
  const deadline = deadlineAfter(timeoutMs);
  Atomics.add(w, SLEEPERS, 1);
  try {
    for (;;) {
      if (tryTake(w)) return true;
      const left = remaining(deadline);
      if (left === 0) return false;
      waitSync(w, VALUE, 0, left);
    }
  } finally {
    Atomics.sub(w, SLEEPERS, 1);
  }
}

async function takeAsync(w: Int32Array, timeoutMs: number, signal: AbortSignal | undefined): Promise<boolean> {
  const deadline = deadlineAfter(timeoutMs);
  Atomics.add(w, SLEEPERS, 1);
  try {
    for (;;) {
      if (tryTake(w)) return true;
      const left = remaining(deadline);
      if (left === 0 || signal?.aborted) return false;
      if ((await waitAsync(w, VALUE, 0, left, signal)) === 'cancelled') return false;
    }
  } finally {
    Atomics.sub(w, SLEEPERS, 1);
  }
}

/** A counter of free units shared by processes: acquire takes one (waiting while none), release gives one back. */
export class Semaphore extends Acquirable {
  /** `value`: the initial number of units (an integer >= 0, default 1). */
  constructor(value?: number);
  constructor(value: number = 1, ...extra: unknown[]) {
    noExtraArguments(new.target.name, ['value'], extra);
    const parts = takeParts<BlockParts>();
    super(WORDS, parts?.block);
    if (parts === null) {
      checkInteger('value', value, Number.MIN_SAFE_INTEGER, VALUE_MAX);
      if (value < 0) throw new ValueError(`semaphore initial value must be >= 0, got ${value}`);
      Atomics.store(this.w, VALUE, value);
      Atomics.store(this.w, MAX, this.kind === 'BoundedSemaphore' ? value : UNBOUNDED);
    }
  }

  protected get kind(): string {
    return 'Semaphore';
  }

  /** Take a unit, blocking this thread while there is none. False on timeout or with block: false. */
  override acquireSync(options?: AcquireOptions): boolean {
    this.checkOpen();
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    if (tryTake(this.w)) return true;
    return timeoutMs !== 0 && takeSync(this.w, timeoutMs);
  }

  /** Take a unit; resolves false on timeout, with block: false, or when the signal aborts. */
  override async acquire(options?: AcquireOptions): Promise<boolean> {
    this.checkOpen();
    const timeoutMs = options === undefined ? Infinity : acquireTimeout(options);
    if (tryTake(this.w)) return true;
    if (timeoutMs === 0) return false;
    return takeAsync(this.w, timeoutMs, options?.signal);
  }

  /** Give a unit back (any process may); wakes a sleeper if there is one. */
  override release(): void {
    this.checkOpen();
    const w = this.w;
    const max = w[MAX]!;
    let c = Atomics.load(w, VALUE);
    for (;;) {
      if (max !== UNBOUNDED && c >= max) throw new ValueError('semaphore or lock released too many times');
      if (c >= VALUE_MAX) throw new ValueError('semaphore released too many times: its value would overflow');
      const prev = Atomics.compareExchange(w, VALUE, c, c + 1);
      if (prev === c) break;
      c = prev;
    }
    if (Atomics.load(w, SLEEPERS) > 0) wake(w, VALUE, 1);
  }

  /** The number of free units now. */
  getValue(): number {
    this.checkOpen();
    return Atomics.load(this.w, VALUE);
  }

  override toString(): string {
    return `<${this.kind}(value=${Atomics.load(this.w, VALUE)})>`;
  }
}

/** A Semaphore whose release() above the initial value is a ValueError. */
export class BoundedSemaphore extends Semaphore {
  protected override get kind(): string {
    return 'BoundedSemaphore';
  }

  override toString(): string {
    return `<BoundedSemaphore(value=${Atomics.load(this.w, VALUE)}, maxvalue=${this.w[MAX]})>`;
  }
}

registerWords('Semaphore', WORDS, () => new Semaphore());
registerWords('BoundedSemaphore', WORDS, () => new BoundedSemaphore());
