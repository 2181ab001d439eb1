// Start a real Node child (plain child_process.fork until mp.Process exists) that joins
// this process tree's resource tracker and exchanges structured-clone messages (handles
// of shared objects included) with the test.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { trackerForChild } = require('../../dist/resource_tracker.js') as {
  trackerForChild(childFd: number): { fd: number; env: Record<string, string> } | null;
};

export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

const TRACKER_CHILD_FD = 4;

export interface Child {
  proc: ChildProcess;
  /** Next message from the child (rejects if it exits first). */
  next<T = unknown>(): Promise<T>;
  send(msg: unknown): void;
  /** Resolves with [code, signal] once it exits. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  stderr(): string;
}

export function startChild(name: string, args: string[] = [], execArgv: string[] = []): Child {
  const tracker = trackerForChild(TRACKER_CHILD_FD);
  const stdio: ('pipe' | 'inherit' | 'ipc' | number)[] = ['ignore', 'inherit', 'pipe', 'ipc'];
  if (tracker) stdio.push(tracker.fd);
  const proc = fork(fixture(name), args, {
    stdio,
    serialization: 'advanced',
    execArgv,
    env: { ...process.env, ...(tracker?.env ?? {}) },
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const inbox: unknown[] = [];
  const waiting: { resolve(v: unknown): void; reject(e: Error): void }[] = [];
  proc.on('message', (m) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else inbox.push(m);
  });
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  exited.then(([code, signal]) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`child exited (${code ?? signal}) before replying: ${err}`));
  });
  return {
    proc,
    send: (msg) => proc.send(msg as never),
    next<T>() {
      if (inbox.length > 0) return Promise.resolve(inbox.shift() as T);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        return Promise.reject(new Error(`child already exited: ${err}`));
      }
      return new Promise<T>((resolve, reject) => waiting.push({ resolve: resolve as (v: unknown) => void, reject }));
    },
    exited,
    stderr: () => err,
  };
}
