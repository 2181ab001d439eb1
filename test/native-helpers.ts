// Shared by the native addon tests (test/native.*.test.ts): loads the addon directly,
// spawns fixture processes, cleans up /dev/shm.
//
// MP_ADDON_PATH, when set, names the .node file to test (scripts/test-asan.mjs points
// it at the AddressSanitizer build); otherwise node-gyp-build finds build/Release or a
// prebuild, exactly as lib/native.ts does. Fixtures get the same path in their env.
import { type ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding } from '../lib/native.js';

const require = createRequire(import.meta.url);

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const fixtures = path.join(root, 'test', 'fixtures');

function addonPath(): string {
  const forced = process.env.MP_ADDON_PATH;
  if (forced) return path.resolve(forced);
  const gypBuild = require('node-gyp-build') as { path(dir: string): string };
  return gypBuild.path(root);
}

export const ADDON_PATH = addonPath();

/** The contract plus the diagnostics the addon exports beyond it. */
export type Native = NativeBinding & { waiterBackend(): string };
export const native = require(ADDON_PATH) as Native;

export const isLinux = process.platform === 'linux';

/** Environment for fixture processes: same addon. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, MP_ADDON_PATH: ADDON_PATH, ...extra };
}

/** Names created by a test; `cleanupShm()` unlinks whatever is left. */
const created = new Set<string>();

export function track(name: string): string {
  created.add(name);
  return name;
}

export function create(size: number, name?: string): { name: string; buffer: ArrayBuffer } {
  const r = native.shmCreate(size, name);
  track(r.name);
  return r;
}

export function cleanupShm(): void {
  for (const name of created) {
    try {
      native.shmUnlink(name);
    } catch {
      // already gone
    }
  }
  created.clear();
}

export function shmExists(name: string): boolean {
  return fs.existsSync(`/dev/shm/${name}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `cond` until true or `timeoutMs` passes; returns the last value. */
export async function until(cond: () => boolean, timeoutMs = 20_000, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > end) return false;
    await sleep(stepMs);
  }
}

/** True when `pid` no longer runs: absent, or a zombie nobody reaped yet. */
export function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Run a fixture to completion; resolves with its exit code, signal and output. */
export function runFixture(
  file: string,
  args: string[] = [],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(fixtures, file), args, {
      env: childEnv(env),
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': only then has all of the child's output been read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

interface Reply {
  id?: number;
  result?: unknown;
  error?: { message: string; code?: string; name: string };
  ready?: boolean;
}

/** A fixture process (fixtures/native-rpc.cjs) that runs addon calls on request. */
export class Peer {
  readonly child: ChildProcess;
  private next = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly ready: Promise<void>;
  stderr = '';

  constructor(env: Record<string, string> = {}) {
    this.child = fork(path.join(fixtures, 'native-rpc.cjs'), [], {
      env: childEnv(env),
      execArgv: [],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.child.stderr?.on('data', (d) => {
      this.stderr += d;
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', (code, signal) => reject(new Error(`peer exited (${code ?? signal}): ${this.stderr}`)));
    });
    this.child.on('message', (m: Reply) => {
      if (m.id === undefined) return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) {
        const e = new Error(m.error.message) as Error & { code?: string };
        e.name = m.error.name;
        e.code = m.error.code;
        w.reject(e);
      } else {
        w.resolve(m.result);
      }
    });
    this.child.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`peer exited (${code ?? signal}): ${this.stderr}`));
      this.waiting.clear();
    });
  }

  async call<T = unknown>(op: string, ...args: unknown[]): Promise<T> {
    await this.ready;
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
