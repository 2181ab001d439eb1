// Who holds a lock, and is it still alive?
//
// A held lock word stores its owner's pid. A waiter that sleeps too long asks whether that
// pid still runs. Against pid reuse, it also compares the running process's start time
// with the moment the waiter first saw the pid holding the word: a process that started
// after that cannot be the holder, so the holder died and its pid was given to another.
import { threadId } from 'node:worker_threads';
import { registerAfterFork } from './after_fork.js';
import { native } from './native.js';

/** Bits of a lock word: the owner's pid in the low 30 bits, bit 30 = "someone sleeps". */
export const PID_MASK = 0x3fffffff;
export const WAITERS = 0x40000000;

export let PID = process.pid & PID_MASK;
// A forkserver child forked from the zygote: its locks must name it, not the zygote.
// (Parenthesized: compiled in the zygote, not in each child; see zygote.ts.)
const takeChildPid = (function takeChildPid(): void {
  PID = process.pid & PID_MASK;
});
registerAfterFork(takeChildPid);
/** This thread's identity within the process (worker_threads), +1 so that 0 means none. */
export const THREAD = threadId + 1;

/** How long a sleeper waits before it checks on the owner (the takeover bound is 1 s). */
export const OWNER_CHECK_MS = 200;
/** /proc start times have 10 ms ticks; allow for that and for clock skew. */
const START_TIME_SLACK_MS = 50;

/** True when the process that held the word (pid seen at `seenAt`, Date.now()) is gone. */
export function ownerIsGone(pid: number, seenAt: number): boolean {
  if (pid === 0 || pid === PID) return false;
  if (!native.pidAlive(pid)) return true;
  const started = native.processStartTime(pid);
  if (started === null) return true;
  return started > seenAt + START_TIME_SLACK_MS;
}

export function warnOwnerDied(kind: string, pid: number): void {
  process.emitWarning(
    `${kind} was held by process ${pid}, which died without releasing it; this process took it over`,
    { code: 'MP_OWNER_DIED' },
  );
}
