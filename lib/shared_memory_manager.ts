// SharedMemoryManager (Python's multiprocessing.managers.SharedMemoryManager): segments
// made through it are created in the calling process, as plain SharedMemory and
// ShareableList objects, and their names are recorded in the manager's server, which
// unlinks every one of them when it shuts down.
import type { AutoProxy } from './manager_proxy.js';
import { BaseManager, type ManagerOptions, addRegistration } from './managers.js';
import { ProcessError } from './errors.js';
import { type ShareableItem, ShareableList } from './shareable_list.js';
import { SharedMemory } from './shared_memory.js';
import { checkInteger } from './validate.js';

export class SharedMemoryManager extends BaseManager {
  #tracker: AutoProxy | null = null;

  constructor(options?: ManagerOptions) {
    super(options);
  }

  override async start(initializer?: ((...args: never[]) => unknown) | null, initargs?: readonly unknown[]): Promise<void> {
    await super.start(initializer, initargs);
    this.#tracker = (await this.create('_SharedMemoryTracker', [])) as AutoProxy;
  }

  /** A client of a running SharedMemoryManager's server records its segments there too. */
  override async connect(): Promise<void> {
    await super.connect();
    this.#tracker = (await this.create('_SharedMemoryTracker', [])) as AutoProxy;
  }

  private tracker(): AutoProxy {
    if (this.#tracker === null) throw new ProcessError('the SharedMemoryManager is not started: await start() first');
    return this.#tracker;
  }

  /** A new segment of `size` bytes, unlinked when the manager shuts down. */
  async SharedMemory(size: number): Promise<SharedMemory> {
    checkInteger('size', size, 1);
    const tracker = this.tracker();
    const shm = new SharedMemory({ create: true, size });
    try {
      await tracker._callmethod('registerSegment', [shm.name]);
    } catch (err) {
      shm.close();
      shm.unlink();
      throw err;
    }
    return shm;
  }

  /** A new ShareableList holding `sequence`, unlinked when the manager shuts down. */
  async ShareableList(sequence?: Iterable<ShareableItem> | null): Promise<ShareableList> {
    const tracker = this.tracker();
    const sl = new ShareableList(sequence ?? []);
    try {
      await tracker._callmethod('registerSegment', [sl.shm.name]);
    } catch (err) {
      sl.shm.close();
      sl.shm.unlink();
      throw err;
    }
    return sl;
  }

  /** The names of the segments the server will unlink. */
  async listSegments(): Promise<string[]> {
    return (await this.tracker()._callmethod('listSegments')) as string[];
  }
}

addRegistration(SharedMemoryManager, '_SharedMemoryTracker', { builtin: '_SharedMemoryTracker' }, { createMethod: false }, undefined);
