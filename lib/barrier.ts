// Barrier: Python's threading.Barrier algorithm (which multiprocessing.Barrier reuses)
// over a shared Condition with a plain Lock, and three words: the state, the number of
// parties inside wait(), and the number of parties.
//
// One departure: the action runs with the lock released, in an ACTION state that keeps
// the generation closed (arrivals for the next one wait, this one's waiters keep
// sleeping, a waiter whose timeout runs out meanwhile waits for the action as Python's
// would wait for the lock). So an async action can await, and abort()/reset() called
// meanwhile, even from the same process, do not deadlock: they break the generation,
// and the action's runner then gets BrokenBarrierError as well.
import { BrokenBarrierError, ValueError } from './errors.js';
import { BarrierAction } from './barrier_action.js';
import { callerFile } from './code_location.js';
import { Condition } from './condition.js';
import { number, orNull } from './handle_shape.js';
import { attachBlock } from './heap.js';
import { type SharedHandle, nestedHandle, registerReviver, reviveChecked, toHandle } from './reduction.js';
import { takeParts, withParts } from './revived_parts.js';
import { type BlockParts, SharedWords, waitTimeout, wordsShape } from './shared_words.js';
import { Lock } from './synchronize.js';
import { type TargetRef, targetRefField } from './targets.js';
import { checkInteger, checkOptions, describe as describeValue, noExtraArguments } from './validate.js';

const STATE = 0;
const COUNT = 1;
const PARTIES = 2;
const WORDS = 3;

const FILLING = 0;
const DRAINING = 1;
const ACTION = 2;
const RESETTING = -1;
const BROKEN = -2;

export interface BarrierOptions {
  /**
   * Runs once per generation, in the process whose arrival completes it, before anyone
   * is released. A function (sent to other processes by reference, like a Process
   * target) or an explicit { module, name }.
   */
  action?: ((...args: never[]) => unknown) | { module: string; name: string } | null;
  /** Default timeout of wait() in seconds (null/undefined: none). */
  timeout?: number | null;
}

function broken(): BrokenBarrierError {
  return new BrokenBarrierError('the barrier is broken (aborted, reset, or a wait timed out)');
}

const seconds = (ms: number): number | null => (ms === Infinity ? null : ms / 1000);

/** What a revived Barrier is handed: its block, its Condition (revived, closed with it), action and timeout. */
interface BarrierParts extends BlockParts {
  readonly cond: Condition;
  readonly action: BarrierAction | null;
  readonly timeout: number | null;
}

/** A barrier for a fixed number of parties in any processes (Python's multiprocessing.Barrier). */
export class Barrier extends SharedWords {
  readonly #cond: Condition;
  readonly #action: BarrierAction | null;
  readonly #timeout: number | null;

  constructor(parties: number, options?: BarrierOptions);
  constructor(parties: number, options?: BarrierOptions, ...extra: unknown[]) {
    noExtraArguments('Barrier', ['parties', 'options'], extra);
    const parts = takeParts<BarrierParts>();
    let fn: BarrierOptions['action'];
    let timeout: number | null | undefined;
    if (parts !== null) timeout = parts.timeout;
    else {
      ({ action: fn, timeout } = checkOptions<BarrierOptions>('options', options));
      checkInteger('parties', parties, Number.MIN_SAFE_INTEGER);
      if (parties < 1) throw new ValueError(`parties must be > 0, got ${parties}`);
      if (fn !== undefined && fn !== null && typeof fn !== 'function' && typeof fn !== 'object') {
        throw new TypeError(`options.action must be a function or { module, name }, got ${describeValue(fn)}`);
      }
      waitTimeout(timeout); // checked here, kept in seconds
    }
    super(WORDS, parts?.block);
    this.#timeout = timeout === undefined || timeout === null ? null : Math.max(0, timeout);
    if (parts === null) {
      Atomics.store(this.w, PARTIES, parties);
      this.#cond = new Condition(new Lock());
      this.#action = fn === undefined || fn === null ? null : BarrierAction.given(fn, callerFile());
    } else {
      this.#cond = parts.cond;
      this.#action = parts.action;
    }
  }

  protected get kind(): string {
    return 'Barrier';
  }

  /** The number of parties needed to pass. */
  get parties(): number {
    return Atomics.load(this.w, PARTIES);
  }

  /** How many are waiting in the current generation. */
  get nWaiting(): number {
    const s = Atomics.load(this.w, STATE);
    return s === FILLING || s === ACTION ? Atomics.load(this.w, COUNT) : 0;
  }

  /** True when broken (aborted, or a wait timed out) and not reset since. */
  get broken(): boolean {
    return Atomics.load(this.w, STATE) === BROKEN;
  }

  /**
   * Wait until all parties have called wait(); returns this party's arrival index,
   * 0..parties-1. `timeout` in seconds; null/undefined means the Barrier's own timeout
   * (as Python's None), which by default is none. Blocks this thread.
   * BrokenBarrierError when the barrier is or becomes broken or reset, or the wait times out.
   */
  waitSync(timeout?: number | null): number {
    const timeoutMs = this.waitMs(timeout);
    const cond = this.#cond;
    cond.acquireSync();
    try {
      while (this.busy()) cond.waitSync();
      if (this.state() < 0) throw broken();
      const index = Atomics.add(this.w, COUNT, 1);
      try {
        if (index + 1 === this.parties) this.releaseSync();
        else this.awaitReleaseSync(timeoutMs);
        return index;
      } finally {
        this.leave();
      }
    } finally {
      cond.release();
    }
  }

  /** As waitSync, without blocking the event loop; an async action is awaited. */
  async wait(timeout?: number | null): Promise<number> {
    const timeoutMs = this.waitMs(timeout);
    const cond = this.#cond;
    await cond.acquire();
    try {
      while (this.busy()) await cond.wait();
      if (this.state() < 0) throw broken();
      const index = Atomics.add(this.w, COUNT, 1);
      try {
        if (index + 1 === this.parties) await this.releaseAsync();
        else await this.awaitReleaseAsync(timeoutMs);
        return index;
      } finally {
        this.leave();
      }
    } finally {
      cond.release();
    }
  }

  /** Break the barrier: every waiter, now and later, gets BrokenBarrierError until reset(). */
  abort(): void {
    this.checkOpen();
    const cond = this.#cond;
    cond.acquireSync();
    try {
      this.breakIt();
    } finally {
      cond.release();
    }
  }

  /** Back to the empty state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    this.checkOpen();
    const cond = this.#cond;
    cond.acquireSync();
    try {
      if (Atomics.load(this.w, COUNT) > 0) {
        const s = this.state();
        if (s === FILLING || s === ACTION || s === BROKEN) this.setState(RESETTING);
      } else {
        this.setState(FILLING);
      }
      cond.notifyAll();
    } finally {
      cond.release();
    }
  }

  override close(): void {
    super.close();
    this.#cond.close();
  }

  override [toHandle](): SharedHandle {
    const action: TargetRef | null = this.#action?.ref ?? null;
    return { ...super[toHandle](), cond: this.#cond[toHandle](), action, timeout: this.#timeout };
  }

  override toString(): string {
    return this.broken ? '<Barrier broken>' : `<Barrier waiters=${this.nWaiting}/${this.parties}>`;
  }

  // --- the algorithm; every method below runs holding the condition's lock

  private state(): number {
    return Atomics.load(this.w, STATE);
  }

  private setState(s: number): void {
    Atomics.store(this.w, STATE, s);
  }

  /** Draining, resetting or running the action: arrivals wait for the next generation. */
  private busy(): boolean {
    const s = this.state();
    return s === DRAINING || s === RESETTING || s === ACTION;
  }

  private released = (): boolean => {
    const s = this.state();
    return s !== FILLING && s !== ACTION;
  };

  private notInAction = (): boolean => this.state() !== ACTION;

  private waitMs(timeout: number | null | undefined): number {
    this.checkOpen();
    return waitTimeout(timeout === undefined || timeout === null ? this.#timeout : timeout);
  }

  private breakIt(): void {
    this.setState(BROKEN);
    this.#cond.notifyAll();
  }

  /** The last party to arrive: run the action, then release everyone. */
  private releaseSync(): void {
    if (this.#action !== null) {
      this.setState(ACTION);
      this.#cond.release();
      let failed = false;
      let error: unknown;
      try {
        this.#action.loadSync()();
      } catch (err) {
        failed = true;
        error = err;
      }
      this.#cond.acquireSync();
      this.afterAction(failed, error);
    }
    this.setState(DRAINING);
    this.#cond.notifyAll();
  }

  private async releaseAsync(): Promise<void> {
    if (this.#action !== null) {
      this.setState(ACTION);
      this.#cond.release();
      let failed = false;
      let error: unknown;
      try {
        await (await this.#action.load())();
      } catch (err) {
        failed = true;
        error = err;
      }
      await this.#cond.acquire();
      this.afterAction(failed, error);
    }
    this.setState(DRAINING);
    this.#cond.notifyAll();
  }

  private afterAction(failed: boolean, error: unknown): void {
    if (this.state() !== ACTION) throw broken(); // aborted or reset while the action ran
    if (failed) {
      this.breakIt();
      throw error;
    }
  }

  private awaitReleaseSync(timeoutMs: number): void {
    if (!this.#cond.waitForSync(this.released, seconds(timeoutMs))) {
      if (this.state() !== ACTION) {
        this.breakIt();
        throw broken();
      }
      this.#cond.waitForSync(this.notInAction);
    }
    if (this.state() < 0) throw broken();
  }

  private async awaitReleaseAsync(timeoutMs: number): Promise<void> {
    if (!(await this.#cond.waitFor(this.released, seconds(timeoutMs)))) {
      if (this.state() !== ACTION) {
        this.breakIt();
        throw broken();
      }
      await this.#cond.waitFor(this.notInAction);
    }
    if (this.state() < 0) throw broken();
  }

  /** A party leaves wait(): the last one out of a drained or reset generation reopens it. */
  private leave(): void {
    if (Atomics.sub(this.w, COUNT, 1) === 1) {
      const s = this.state();
      if (s === RESETTING || s === DRAINING) {
        this.setState(FILLING);
        this.#cond.notifyAll();
      }
    }
  }
}

/** A revived Barrier: its parties and options come from the parts. */
const newBarrier = () => new Barrier(0);

const BARRIER_SHAPE = { ...wordsShape(WORDS), cond: nestedHandle('Condition'), action: orNull(targetRefField), timeout: orNull(number(0)) };

registerReviver('Barrier', BARRIER_SHAPE, (h) => {
  const cond = reviveChecked(h.cond) as Condition;
  const block = attachBlock(h.block);
  const action = h.action === null ? null : BarrierAction.received(h.action);
  return withParts<Barrier>({ block, cond, action, timeout: h.timeout }, newBarrier);
});
