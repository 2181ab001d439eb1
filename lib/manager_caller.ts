// Who is calling a manager's object. Python's server runs each client connection on its
// own thread, so a threading.RLock in the server is owned by "the connection". Ours runs
// every connection on one event loop, so the server names the connection instead: before
// it calls a method of a managed object it sets the current caller, and the method reads
// it synchronously, before its first await (as it would read a thread id).
//
// When a connection ends (the client closed it, exited or was killed), the server marks
// its caller gone and runs the callbacks registered with onGone: a lock it held is
// released, its pending waits are dropped. A caller is one client process's connection.

import { Scoped } from './scoped.js';

export class Caller {
  private static nextId = 1;
  readonly id = Caller.nextId++;
  private goneCallbacks: Set<() => void> | null = new Set();

  /** False once the connection has ended. */
  get alive(): boolean {
    return this.goneCallbacks !== null;
  }

  /**
   * Run `fn` when this caller's connection ends (at once if it already has). Returns a
   * function that cancels the registration (call it when the wait or hold is over).
   */
  onGone(fn: () => void): () => void {
    const callbacks = this.goneCallbacks;
    if (callbacks === null) {
      fn();
      return () => {};
    }
    callbacks.add(fn);
    return () => {
      callbacks.delete(fn);
    };
  }

  /** @internal The server: the connection ended. Runs each callback once. */
  markGone(): void {
    const callbacks = this.goneCallbacks;
    if (callbacks === null) return;
    this.goneCallbacks = null;
    for (const fn of callbacks) {
      try {
        fn();
      } catch {
        // one object's clean-up must not stop the others'
      }
    }
  }
}

/** The caller of code running outside any request (the server's own process). */
export const LOCAL_CALLER = new Caller();

const current = new Scoped<Caller>(LOCAL_CALLER);

/** The caller of the method being run. Read it before the method's first await. */
export function currentCaller(): Caller {
  return current.value;
}

/** @internal The server: run `fn` (one method call) on behalf of `caller`. */
export function callAs<T>(caller: Caller, fn: () => T): T {
  return current.run(caller, fn);
}
