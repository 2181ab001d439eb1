// Messages that a queue's or pipe's writer still holds in this process because the ring
// was full (feeder.ts). Python moves them with a feeder thread; here they move when the
// event loop runs, and also whenever this thread blocks in any of the library's Sync
// waits (futex.waitSync asks flushPendingNow() between short sleeps), so a thread that
// buffers puts and then blocks waiting for results, a lock or an event still delivers them. A child's bootstrap awaits
// them before it exits, as Python joins its feeder threads at exit.
export interface PendingWriter {
  /** Resolves when nothing is pending. */
  idle(): Promise<void>;
  /** Move what fits into the ring now, without waiting. */
  flushNow(): void;
  /** False after cancelJoinThread(): exit does not wait for it. */
  readonly keepsAlive: boolean;
}

const writers = new Set<PendingWriter>();

export function addPending(w: PendingWriter): void {
  writers.add(w);
}

export function removePending(w: PendingWriter): void {
  writers.delete(w);
}

export function hasPending(): boolean {
  return writers.size > 0;
}

let flushing = false;

/** Move what fits. Not re-entered: a flush that has to wait for a ring's lock waits plainly. */
export function flushPendingNow(): void {
  if (flushing) return;
  flushing = true;
  try {
    for (const w of writers) w.flushNow();
  } finally {
    flushing = false;
  }
}

/**
 * Resolves when every writer that keeps the process alive has flushed. (Parenthesized: V8
 * compiles it when this file loads, not when each child exits.)
 */
export const flushBeforeExit = (async function flushBeforeExit(): Promise<void> {
  for (;;) {
    const waiting = [...writers].filter((w) => w.keepsAlive);
    if (waiting.length === 0) return;
    await Promise.all(waiting.map((w) => w.idle()));
  }
});
