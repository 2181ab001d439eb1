// AsyncResult: what Pool.applyAsync/mapAsync/starmapAsync return (Python's
// multiprocessing.pool.AsyncResult).
import { TimeoutError, ValueError } from './errors.js';
import { describe, timeoutToMs } from './validate.js';

export class AsyncResult<T> {
  private readonly promise: Promise<T>;
  private resolveFn!: (value: T) => void;
  private rejectFn!: (err: Error) => void;
  private state: 'pending' | 'ok' | 'failed' = 'pending';

  /** @internal Pools make these. */
  constructor(
    private readonly callback?: (value: T) => void,
    private readonly errorCallback?: (err: Error) => void,
  ) {
    // Checked now: a bad callback found when the task ends could only crash the process.
    if (callback !== undefined && callback !== null && typeof callback !== 'function') {
      throw new TypeError(`options.callback must be a function, got ${describe(callback)}`);
    }
    if (errorCallback !== undefined && errorCallback !== null && typeof errorCallback !== 'function') {
      throw new TypeError(`options.errorCallback must be a function, got ${describe(errorCallback)}`);
    }
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // A failure nobody asks for must not be an unhandled rejection (Python keeps it too).
    this.promise.catch(() => {});
  }

  /** @internal */
  resolve(value: T): void {
    if (this.state !== 'pending') return;
    this.state = 'ok';
    this.resolveFn(value);
    const callback = this.callback;
    if (typeof callback === 'function') queueMicrotask(() => callback(value)); // null: none, as Python's None
  }

  /** @internal */
  reject(err: Error): void {
    if (this.state !== 'pending') return;
    this.state = 'failed';
    this.rejectFn(err);
    const errorCallback = this.errorCallback;
    if (typeof errorCallback === 'function') queueMicrotask(() => errorCallback(err));
  }

  /** @internal */
  get settled(): boolean {
    return this.state !== 'pending';
  }

  /** The result; rejects with the task's error, or TimeoutError after `timeout` seconds. */
  async get(timeout?: number | null): Promise<T> {
    const ms = timeoutToMs('timeout', timeout);
    if (ms === Infinity || this.state !== 'pending') return this.promise;
    if (!(await this.settles(ms))) throw new TimeoutError(`the result was not ready within ${timeout} s`);
    return this.promise;
  }

  /** Resolves when the result is ready, or after `timeout` seconds. */
  async wait(timeout?: number | null): Promise<void> {
    const ms = timeoutToMs('timeout', timeout);
    if (ms === Infinity) {
      await this.promise.catch(() => {});
      return;
    }
    await this.settles(ms);
  }

  private settles(ms: number): Promise<boolean> {
    if (this.state !== 'pending') return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void this.promise
        .catch(() => {})
        .then(() => {
          clearTimeout(timer);
          resolve(true);
        });
    });
  }

  ready(): boolean {
    return this.state !== 'pending';
  }

  /** Whether the task succeeded. ValueError before it is ready. */
  successful(): boolean {
    if (this.state === 'pending') throw new ValueError('the result is not ready yet');
    return this.state === 'ok';
  }
}
