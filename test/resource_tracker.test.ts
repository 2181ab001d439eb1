// Nothing leaks: the resource tracker unlinks every segment the library created once the
// last process of the tree is gone, however the tree ended.
import { afterAll, describe, expect, it } from 'vitest';
import * as mp from 'multiprocessing';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { segmentExists } from './helpers/assert.js';

const fixture = path.join(__dirname, 'fixtures', 'shm-leak.cjs');
const TIMEOUT_MS = 10_000;

interface Run {
  child: ChildProcess;
  next(): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const started: ChildProcess[] = [];
const leftovers = new Set<string>();
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const name of leftovers) {
    try {
      new mp.SharedMemory({ name }).unlink();
    } catch {}
  }
});

function run(mode: string): Run {
  const child = spawn(process.execPath, [fixture, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  started.push(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    stderr: () => err,
    async next() {
      const r = await lines.next();
      if (r.done) throw new Error(`fixture ${mode} ended without output; stderr:\n${err}`);
      const msg = JSON.parse(r.value) as Record<string, unknown>;
      for (const key of ['names', 'childNames', 'kept', 'unlinked', 'recycled']) {
        for (const n of (msg[key] as string[] | undefined) ?? []) leftovers.add(n);
      }
      return msg;
    },
  };
}

const exists = (name: string) => segmentExists(name, (n) => new mp.SharedMemory({ name: n }).close());

/** Alive and not a zombie (a zombie's name is gone from the tracker's point of view). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function expectGone(names: string[]): Promise<void> {
  await until(`${names.join(', ')} are unlinked`, () => names.every((n) => !exists(n)));
  for (const n of names) {
    expect(exists(n)).toBe(false);
    leftovers.delete(n);
  }
}

describe.skipIf(process.platform === 'win32')('resource tracker', () => {
  it('unlinks what a process left behind when it exits normally', async () => {
    const r = run('exit');
    const msg = await r.next();
    const names = msg.names as string[];
    expect(names.length).toBeGreaterThanOrEqual(3); // more once mp.Value/mp.Array exist
    const { code } = await r.exited;
    expect(code).toBe(0);
    await expectGone(names);
    expect(r.stderr()).toBe('');
    // and the tracker itself exits once the tree is gone
    expect(msg.tracker).toBeTypeOf('number');
    await until('the tracker exited', () => !pidAlive(msg.tracker as number));
  });

  it('unlinks after process.exit(n)', async () => {
    const r = run('process-exit');
    const names = (await r.next()).names as string[];
    expect((await r.exited).code).toBe(3);
    await expectGone(names);
  });

  it('unlinks after an uncaught error', async () => {
    const r = run('throw');
    const names = (await r.next()).names as string[];
    const { code } = await r.exited;
    expect(code).toBe(1);
    expect(r.stderr()).toContain('fixture: uncaught on purpose');
    await expectGone(names);
  });

  it('unlinks after SIGKILL', async () => {
    const r = run('hang');
    const msg = await r.next();
    const names = msg.names as string[];
    expect(names.every((n) => exists(n))).toBe(true);
    r.child.kill('SIGKILL');
    expect((await r.exited).signal).toBe('SIGKILL');
    await expectGone(names);
    await until('the tracker exited', () => !pidAlive(msg.tracker as number));
  });

  it('a tree shares one tracker; nothing goes while any process of it lives', async () => {
    const r = run('tree');
    const msg = await r.next();
    const names = [...(msg.names as string[]), ...(msg.childNames as string[])];
    expect(names.length).toBeGreaterThanOrEqual(6);
    expect(msg.childTracker).toBeNull(); // the child joined, it started no tracker of its own
    const childPid = msg.childPid as number;
    expect(pidAlive(childPid)).toBe(true);
    // SIGKILL the root: the child still holds the tracker's pipe, so nothing is unlinked
    r.child.kill('SIGKILL');
    await r.exited;
    await new Promise((res) => setTimeout(res, 500));
    expect(names.every((n) => exists(n))).toBe(true);
    expect(pidAlive(msg.tracker as number)).toBe(true);
    // now the rest of the tree
    process.kill(childPid, 'SIGKILL');
    await expectGone(names);
    await until('the tracker exited', () => !pidAlive(msg.tracker as number));
  });

  it("worker threads share their process's tracker; what they made goes after a SIGKILL of the process", async () => {
    const r = run('threads');
    const msg = await r.next();
    const tracker = msg.tracker as number;
    expect(tracker).toBeTypeOf('number');
    // main, two threads alive, two threads that ended: one tracker, the process's
    expect(msg.trackers).toEqual([tracker, tracker, tracker, tracker, tracker]);
    const names = [...(msg.names as string[]), ...(msg.childNames as string[])];
    expect((msg.childNames as string[]).length).toBeGreaterThanOrEqual(6);
    expect(names.every((n) => exists(n))).toBe(true);
    r.child.kill('SIGKILL');
    expect((await r.exited).signal).toBe('SIGKILL');
    await expectGone([...names, ...(msg.recycled as string[])]);
    await until('the tracker exited', () => !pidAlive(tracker));
  });

  it('a tracker restarted by a worker thread is told what the main thread owns', async () => {
    const r = run('thread-restart');
    const first = await r.next();
    const tracker1 = first.tracker as number;
    process.kill(tracker1, 'SIGKILL');
    await until('the first tracker is dead', () => !pidAlive(tracker1));
    r.child.stdin?.write('next\n');
    const second = await r.next();
    const tracker2 = second.tracker as number;
    expect(tracker2).not.toBe(tracker1);
    expect(second.threadTracker).toBe(tracker2);
    r.child.stdin?.write('exit\n');
    expect((await r.exited).code).toBe(0);
    // the one made before the restart, by the thread that did not restart it, goes too
    await expectGone([...(first.names as string[]), ...(second.names as string[]), ...(second.childNames as string[])]);
    await until('the second tracker exited', () => !pidAlive(tracker2));
    expect(r.stderr()).toBe('');
  });

  it('the whole tree SIGKILLed at once', async () => {
    const r = run('tree');
    const msg = await r.next();
    const names = [...(msg.names as string[]), ...(msg.childNames as string[])];
    process.kill(msg.childPid as number, 'SIGKILL');
    r.child.kill('SIGKILL');
    await expectGone(names);
  });

  it('an explicit unlink stays unlinked and the tracker leaves a reused name alone', async () => {
    const r = run('unlinked');
    const msg = await r.next();
    const [reused, other] = msg.unlinked as string[];
    const kept = msg.kept as string[];
    expect(exists(reused as string)).toBe(false);
    expect(exists(other as string)).toBe(false);
    // someone outside the tree takes the name again
    const mine = new mp.SharedMemory({ name: reused as string, create: true, size: 10, track: false });
    try {
      r.child.stdin?.write('exit\n');
      expect((await r.exited).code).toBe(0);
      await expectGone(kept);
      await until('the tracker exited', () => !pidAlive(msg.tracker as number));
      expect(exists(reused as string)).toBe(true);
      expect(r.stderr()).toBe('');
    } finally {
      mine.close();
      mine.unlink();
    }
  });

  it('a killed tracker is restarted and told what this process still owns', async () => {
    const r = run('restart');
    const first = await r.next();
    const tracker1 = first.tracker as number;
    const [a] = first.names as string[];
    process.kill(tracker1, 'SIGKILL');
    await until('the first tracker is dead', () => !pidAlive(tracker1));
    r.child.stdin?.write('next\n');
    const second = await r.next();
    const tracker2 = second.tracker as number;
    const [b] = second.names as string[];
    expect(tracker2).toBeTypeOf('number');
    expect(tracker2).not.toBe(tracker1);
    expect(pidAlive(tracker2)).toBe(true);
    expect(exists(a as string)).toBe(true);
    r.child.stdin?.write('exit\n');
    expect((await r.exited).code).toBe(0);
    // the new tracker unlinks both: the one made before the restart and the one after
    await expectGone([a as string, b as string]);
    await until('the second tracker exited', () => !pidAlive(tracker2));
    expect(r.stderr()).toBe('');
  });
});
