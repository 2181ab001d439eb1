// Run a fixture as a main program (plain node, as a user would), capture its output, and
// watch the processes it leaves behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const fixturePath = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
export const fixtureUrl = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).href;

export interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The `report` value of every `{"report": ...}` line on stdout, in order. */
  reports: unknown[];
}

export interface ScriptOptions {
  execArgv?: string[];
  env?: Record<string, string>;
  /** Run this program instead of node (e.g. the tsx CLI); gets the script as first arg. */
  command?: string;
}

export interface RunningScript {
  proc: ChildProcess;
  /** Resolves with the first report for which `pick` returns something other than undefined. */
  waitReport<T>(pick: (report: unknown) => T | undefined): Promise<T>;
  done: Promise<ScriptResult>;
}

function parseReports(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"report"')) continue;
    try {
      out.push((JSON.parse(line) as { report: unknown }).report);
    } catch {
      // a partial line
    }
  }
  return out;
}

export function startScript(file: string, args: string[] = [], options: ScriptOptions = {}): RunningScript {
  const argv = options.command === undefined ? [...(options.execArgv ?? []), file, ...args] : [file, ...args];
  const proc = spawn(options.command ?? process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(options.env ?? {}) },
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const l of listeners) l();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<ScriptResult>((resolve) => {
    proc.on('close', (code, signal) => {
      for (const l of listeners) l();
      resolve({ code, signal, stdout, stderr, reports: parseReports(stdout) });
    });
  });
  let closed = false;
  void done.then(() => {
    closed = true;
  });
  return {
    proc,
    done,
    waitReport<T>(pick: (report: unknown) => T | undefined): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          for (const r of parseReports(stdout)) {
            const v = pick(r);
            if (v !== undefined) {
              listeners.delete(check);
              resolve(v);
              return;
            }
          }
          if (closed || proc.exitCode !== null || proc.signalCode !== null) {
            listeners.delete(check);
            reject(new Error(`script ended without the report; stdout:\n${stdout}\nstderr:\n${stderr}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

export function runScript(file: string, args: string[] = [], options: ScriptOptions = {}): Promise<ScriptResult> {
  return startScript(file, args, options).done;
}

/** Whether `pid` is a running process (a zombie waiting for its reaper counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** Polls until `pid` is gone; false if it still runs after `ms`. */
export async function waitGone(pid: number, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isRunning(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !isRunning(pid);
}

/** Pids of running processes whose environment holds `MP_TEST_TAG=<tag>` (Linux). */
export function taggedProcesses(tag: string): number[] {
  const needle = `MP_TEST_TAG=${tag}\0`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle) && isRunning(Number(entry))) {
        found.push(Number(entry));
      }
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

export const hasProc = process.platform === 'linux';

/** The parent pid of `pid`, from /proc (Linux). */
export function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The command line of `pid`, from /proc (Linux). */
export function cmdlineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

/** The forkserver's zygote (Linux) runs V8 with --single-threaded; nothing else here does. */
export function isZygote(pid: number): boolean {
  return cmdlineOf(pid).includes('--single-threaded');
}

/**
 * Tagged processes still running after up to `ms`. A tree's resource tracker carries the
 * tag too and exits a few ms after the tree (when it reads EOF), so give it that time; a
 * runaway process would still be here.
 */
export async function taggedProcessesAfter(tag: string, ms = 5_000): Promise<number[]> {
  const end = Date.now() + ms;
  while (taggedProcesses(tag).length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return taggedProcesses(tag);
}
