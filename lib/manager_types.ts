// What a SyncManager's server can make: the built-in typeids, each with its server-side
// class, the methods its proxy may call, and the proxy class the client builds. Exposure
// is listed here, explicitly, not derived: a method that is not in these lists cannot be
// reached by any request.
import { ManagedArray, ManagedDict, ManagedList, ManagedNamespace, ManagedValue } from './manager_builtins.js';
import { ManagedJoinableQueue, ManagedQueue } from './manager_queue.js';
import type { TypeSpec } from './manager_server.js';
import {
  ManagedBarrier,
  ManagedBoundedSemaphore,
  ManagedCondition,
  ManagedEvent,
  ManagedLock,
  ManagedRLock,
  ManagedSemaphore,
} from './manager_sync.js';
import { native } from './native.js';

/** Segments a SharedMemoryManager's clients made, unlinked when its server shuts down. */
export class SharedMemoryTracker {
  private readonly names = new Set<string>();

  registerSegment(name: string): void {
    if (typeof name !== 'string' || name.length === 0 || name.length > 255) {
      throw new TypeError('registerSegment: name must be a shared memory segment name');
    }
    this.names.add(name);
  }

  unregisterSegment(name: string): void {
    this.names.delete(name);
  }

  listSegments(): string[] {
    return [...this.names];
  }

  /** Called by the server at shutdown. */
  [Symbol.dispose](): void {
    for (const name of this.names) unlinkSegment(name);
    this.names.clear();
  }
}

function unlinkSegment(name: string): void {
  try {
    native.shmUnlink(name);
  } catch {
    // already unlinked by its user: nothing to do
  }
}

type Creator = (...args: never[]) => object;

interface Builtin {
  readonly create: Creator;
  readonly exposed: readonly string[];
  readonly proxy: string;
}

const ACQUIRER = ['acquire', 'release'];
const SEMAPHORE = [...ACQUIRER, 'getValue'];
const QUEUE = ['put', 'putNowait', 'get', 'getNowait', 'qsize', 'empty', 'full'];

/** SyncManager's typeids. */
export const SYNC_TYPES: Readonly<Record<string, Builtin>> = {
  dict: {
    create: (init?: unknown) => new ManagedDict(init as never),
    exposed: ['get', 'set', 'delete', 'has', 'keys', 'values', 'items', 'update', 'pop', 'popitem', 'setdefault', 'clear', 'length', 'copy'],
    proxy: 'DictProxy',
  },
  list: {
    create: (init?: unknown) => new ManagedList(init as never),
    exposed: ['get', 'set', 'append', 'extend', 'insert', 'pop', 'remove', 'index', 'count', 'reverse', 'sort', 'length', 'slice', 'copy'],
    proxy: 'ListProxy',
  },
  Namespace: {
    create: (init?: unknown) => new ManagedNamespace(init as never),
    exposed: ['get', 'set', 'delete', 'has', 'copy'],
    proxy: 'NamespaceProxy',
  },
  Value: {
    create: (typecode: unknown, value: unknown) => new ManagedValue(typecode as never, value as never),
    exposed: ['get', 'set'],
    proxy: 'ValueProxy',
  },
  Array: {
    create: (typecode: unknown, init: unknown) => new ManagedArray(typecode as never, init as never),
    exposed: ['get', 'set', 'length', 'slice', 'copy'],
    proxy: 'ArrayProxy',
  },
  Lock: { create: () => new ManagedLock(), exposed: ACQUIRER, proxy: 'AcquirerProxy' },
  RLock: { create: () => new ManagedRLock(), exposed: ACQUIRER, proxy: 'AcquirerProxy' },
  Semaphore: { create: (value?: unknown) => new ManagedSemaphore(value as never), exposed: SEMAPHORE, proxy: 'SemaphoreProxy' },
  BoundedSemaphore: {
    create: (value?: unknown) => new ManagedBoundedSemaphore(value as never),
    exposed: SEMAPHORE,
    proxy: 'SemaphoreProxy',
  },
  Condition: {
    create: (lock?: unknown) => new ManagedCondition(lock as never),
    exposed: [...ACQUIRER, 'wait', 'notify', 'notifyAll'],
    proxy: 'ConditionProxy',
  },
  Event: { create: () => new ManagedEvent(), exposed: ['isSet', 'set', 'clear', 'wait'], proxy: 'EventProxy' },
  Barrier: {
    create: (parties: unknown, options?: unknown) => new ManagedBarrier(parties as never, options as never),
    exposed: ['wait', 'reset', 'abort', 'parties', 'nWaiting', 'broken'],
    proxy: 'BarrierProxy',
  },
  Queue: { create: (maxsize?: unknown) => new ManagedQueue(maxsize as never), exposed: QUEUE, proxy: 'QueueProxy' },
  JoinableQueue: {
    create: (maxsize?: unknown) => new ManagedJoinableQueue(maxsize as never),
    exposed: [...QUEUE, 'taskDone', 'join'],
    proxy: 'JoinableQueueProxy',
  },
  _SharedMemoryTracker: {
    create: () => new SharedMemoryTracker(),
    exposed: ['registerSegment', 'unregisterSegment', 'listSegments'],
    proxy: '',
  },
};

/** The server-side spec of built-in typeid `name` (registered under `typeid`). */
export function builtinSpec(typeid: string, name: string, methodToTypeid: Readonly<Record<string, string>> = {}): TypeSpec {
  const b = SYNC_TYPES[name];
  if (b === undefined) throw new TypeError(`unknown built-in manager type '${name}'`);
  return { typeid, create: b.create as (...args: unknown[]) => unknown, exposed: b.exposed, methodToTypeid, proxy: b.proxy };
}
