// The proxies of SyncManager's typeids, with their methods named and typed. Each method
// is one request to the server (no Sync forms: a proxy always waits for a reply).
import { type ProxyClass, BaseProxy, registerProxyClass } from './manager_proxy.js';
import { deadlineAfter, remaining } from './futex.js';
import { timeoutToMs } from './validate.js';

/** A dict key: what a Map compares by value. */
export type DictKey = string | number | bigint | boolean | null | undefined;

interface AcquireOptions {
  block?: boolean;
  timeout?: number | null;
}

interface QueueOptions {
  block?: boolean;
  timeout?: number | null;
}

type Call<T> = Promise<T>;

/**
 * The arguments without their trailing undefineds: an argument left out stays left out on
 * the server (a default applies there, and the server's Barrier tells "no timeout given"
 * from an explicit one).
 */
function given(...args: unknown[]): unknown[] {
  let n = args.length;
  while (n > 0 && args[n - 1] === undefined) n--;
  return args.slice(0, n);
}

export class DictProxy<K extends DictKey = string, V = unknown> extends BaseProxy {
  get(key: K): Call<V | undefined>;
  get<D>(key: K, defaultValue: D): Call<V | D>;
  get(key: K, ...rest: unknown[]): Call<unknown> {
    return this._callmethod('get', [key, ...rest]);
  }
  set(key: K, value: V): Call<void> {
    return this._callmethod('set', [key, value]) as Call<void>;
  }
  /** Remove `key` (KeyError when missing, as `del d[k]`). */
  delete(key: K): Call<void> {
    return this._callmethod('delete', [key]) as Call<void>;
  }
  has(key: K): Call<boolean> {
    return this._callmethod('has', [key]) as Call<boolean>;
  }
  keys(): Call<K[]> {
    return this._callmethod('keys') as Call<K[]>;
  }
  values(): Call<V[]> {
    return this._callmethod('values') as Call<V[]>;
  }
  items(): Call<[K, V][]> {
    return this._callmethod('items') as Call<[K, V][]>;
  }
  update(other: Partial<Record<K & string, V>> | Map<K, V> | Iterable<readonly [K, V]>): Call<void> {
    return this._callmethod('update', [other instanceof Map ? other : isIterableValue(other) ? [...other] : other]) as Call<void>;
  }
  pop(key: K): Call<V>;
  pop<D>(key: K, defaultValue: D): Call<V | D>;
  pop(key: K, ...rest: unknown[]): Call<unknown> {
    return this._callmethod('pop', [key, ...rest]);
  }
  popitem(): Call<[K, V]> {
    return this._callmethod('popitem') as Call<[K, V]>;
  }
  setdefault(key: K, defaultValue?: V): Call<V> {
    return this._callmethod('setdefault', [key, defaultValue]) as Call<V>;
  }
  clear(): Call<void> {
    return this._callmethod('clear') as Call<void>;
  }
  length(): Call<number> {
    return this._callmethod('length') as Call<number>;
  }
  /** A snapshot: a plain object when every key is a string, otherwise a Map. */
  copy(): Call<K extends string ? Record<K, V> : Map<K, V>> {
    return this._callmethod('copy') as Call<K extends string ? Record<K, V> : Map<K, V>>;
  }
}

function isIterableValue(v: unknown): v is Iterable<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/** What a list and an array proxy share: indexed access, length, slices and a copy. */
class SequenceProxy<T> extends BaseProxy {
  /** Item `i` (negative counts from the end; a RangeError when out of range, Python's IndexError). */
  get(i: number): Call<T> {
    return this._callmethod('get', [i]) as Call<T>;
  }
  set(i: number, value: T): Call<void> {
    return this._callmethod('set', [i, value]) as Call<void>;
  }
  length(): Call<number> {
    return this._callmethod('length') as Call<number>;
  }
  slice(start?: number | null, stop?: number | null): Call<T[]> {
    return this._callmethod('slice', [start, stop]) as Call<T[]>;
  }
  copy(): Call<T[]> {
    return this._callmethod('copy') as Call<T[]>;
  }
}

export class ListProxy<T = unknown> extends SequenceProxy<T> {
  append(value: T): Call<void> {
    return this._callmethod('append', [value]) as Call<void>;
  }
  extend(values: Iterable<T>): Call<void> {
    return this._callmethod('extend', [[...values]]) as Call<void>;
  }
  insert(i: number, value: T): Call<void> {
    return this._callmethod('insert', [i, value]) as Call<void>;
  }
  pop(i?: number): Call<T> {
    return this._callmethod('pop', given(i)) as Call<T>;
  }
  remove(value: T): Call<void> {
    return this._callmethod('remove', [value]) as Call<void>;
  }
  index(value: T, start?: number, stop?: number): Call<number> {
    return this._callmethod('index', [value, start, stop]) as Call<number>;
  }
  count(value: T): Call<number> {
    return this._callmethod('count', [value]) as Call<number>;
  }
  reverse(): Call<void> {
    return this._callmethod('reverse') as Call<void>;
  }
  sort(options?: { reverse?: boolean }): Call<void> {
    return this._callmethod('sort', given(options)) as Call<void>;
  }
}

export class NamespaceProxy<T extends Record<string, unknown> = Record<string, unknown>> extends BaseProxy {
  /** Attribute `name` (ValueError when it has none). */
  get<N extends keyof T & string>(name: N): Call<T[N]> {
    return this._callmethod('get', [name]) as Call<T[N]>;
  }
  set<N extends keyof T & string>(name: N, value: T[N]): Call<void> {
    return this._callmethod('set', [name, value]) as Call<void>;
  }
  delete(name: keyof T & string): Call<void> {
    return this._callmethod('delete', [name]) as Call<void>;
  }
  has(name: string): Call<boolean> {
    return this._callmethod('has', [name]) as Call<boolean>;
  }
  copy(): Call<T> {
    return this._callmethod('copy') as Call<T>;
  }
}

export class ValueProxy<T = number> extends BaseProxy {
  get(): Call<T> {
    return this._callmethod('get') as Call<T>;
  }
  set(value: T): Call<void> {
    return this._callmethod('set', [value]) as Call<void>;
  }
}

export class ArrayProxy<T extends number | bigint | string = number> extends SequenceProxy<T> {}

/** Lock, RLock (and the base of the semaphores and Condition). */
export class AcquirerProxy extends BaseProxy {
  acquire(options?: AcquireOptions): Call<boolean> {
    return this._callmethod('acquire', given(options)) as Call<boolean>;
  }
  release(): Call<void> {
    return this._callmethod('release') as Call<void>;
  }
  /** Acquire; the returned object releases on `await using` scope exit. */
  async holdAsync(options?: AcquireOptions): Promise<AsyncDisposable> {
    if (!(await this.acquire(options))) throw new Error('holdAsync: the lock was not acquired (timeout or block: false)');
    return { [Symbol.asyncDispose]: () => this.release() };
  }
  /** Run `fn` holding the lock. */
  async withLock<R>(fn: () => R | Promise<R>): Promise<R> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}

export class SemaphoreProxy extends AcquirerProxy {
  getValue(): Call<number> {
    return this._callmethod('getValue') as Call<number>;
  }
}

export class ConditionProxy extends AcquirerProxy {
  /** Wait for a notify (the lock must be held); false on timeout. */
  wait(timeout?: number | null): Call<boolean> {
    return this._callmethod('wait', given(timeout)) as Call<boolean>;
  }
  /** Wait until `predicate` (run here, in the caller) is truthy; returns its last value. */
  async waitFor<R>(predicate: () => R | Promise<R>, timeout?: number | null): Promise<R> {
    const deadline = deadlineAfter(timeoutToMs('timeout', timeout));
    let result = await predicate();
    while (!result) {
      const left = remaining(deadline);
      if (left === 0) break;
      await this.wait(left === Number.POSITIVE_INFINITY ? null : left / 1000);
      result = await predicate();
    }
    return result;
  }
  notify(n = 1): Call<void> {
    return this._callmethod('notify', [n]) as Call<void>;
  }
  notifyAll(): Call<void> {
    return this._callmethod('notifyAll') as Call<void>;
  }
}

export class EventProxy extends BaseProxy {
  isSet(): Call<boolean> {
    return this._callmethod('isSet') as Call<boolean>;
  }
  set(): Call<void> {
    return this._callmethod('set') as Call<void>;
  }
  clear(): Call<void> {
    return this._callmethod('clear') as Call<void>;
  }
  wait(timeout?: number | null): Call<boolean> {
    return this._callmethod('wait', given(timeout)) as Call<boolean>;
  }
}

export class BarrierProxy extends BaseProxy {
  /** This party's index (parties-1 .. 0); BrokenBarrierError when broken. */
  wait(timeout?: number | null): Call<number> {
    return this._callmethod('wait', given(timeout)) as Call<number>;
  }
  reset(): Call<void> {
    return this._callmethod('reset') as Call<void>;
  }
  abort(): Call<void> {
    return this._callmethod('abort') as Call<void>;
  }
  get parties(): Call<number> {
    return this._callmethod('parties') as Call<number>;
  }
  get nWaiting(): Call<number> {
    return this._callmethod('nWaiting') as Call<number>;
  }
  get broken(): Call<boolean> {
    return this._callmethod('broken') as Call<boolean>;
  }
}

export class QueueProxy<T = unknown> extends BaseProxy {
  put(item: T, options?: QueueOptions): Call<void> {
    return this._callmethod('put', [item, ...given(options)]) as Call<void>;
  }
  putNowait(item: T): Call<void> {
    return this._callmethod('putNowait', [item]) as Call<void>;
  }
  get(options?: QueueOptions): Call<T> {
    return this._callmethod('get', given(options)) as Call<T>;
  }
  getNowait(): Call<T> {
    return this._callmethod('getNowait') as Call<T>;
  }
  qsize(): Call<number> {
    return this._callmethod('qsize') as Call<number>;
  }
  empty(): Call<boolean> {
    return this._callmethod('empty') as Call<boolean>;
  }
  full(): Call<boolean> {
    return this._callmethod('full') as Call<boolean>;
  }
}

export class JoinableQueueProxy<T = unknown> extends QueueProxy<T> {
  taskDone(): Call<void> {
    return this._callmethod('taskDone') as Call<void>;
  }
  join(): Call<void> {
    return this._callmethod('join') as Call<void>;
  }
}

const builtins: Record<string, ProxyClass> = {
  DictProxy,
  ListProxy,
  NamespaceProxy,
  ValueProxy,
  ArrayProxy,
  AcquirerProxy,
  SemaphoreProxy,
  ConditionProxy,
  EventProxy,
  BarrierProxy,
  QueueProxy,
  JoinableQueueProxy,
};
for (const [name, C] of Object.entries(builtins)) registerProxyClass(name, C);
