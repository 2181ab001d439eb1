// Resource limits (issue 8): a full /dev/shm, too many segments, too few descriptors and
// too many processes give clean, catchable errors that say what to do; never a SIGBUS, an
// abort or a hang, nothing half-made left behind, and the same call works once there is
// room again. Each scenario runs in a child (fixtures/limits-run.mjs) that has its own
// small /dev/shm (a tmpfs in a private mount namespace), some as `nobody` under a
// process limit; the child reports what it saw as one JSON line.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as mp from 'multiprocessing';
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers/child.js';

const FIXTURE = fixture('limits-run.mjs');

/** `sh -c` in a private mount namespace whose /dev/shm is a fresh tmpfs (`opts`), then `cmd`. */
function privateShm(opts: string, cmd: string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o ${opts} tmpfs /dev/shm && exec "$@"`, 'sh', ...cmd];
}

const AS_NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];

function works(argv: string[]): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

// Root on Linux with unshare and mount allowed (not in every container); the process
// limit needs an unprivileged user that can read the repository.
const shmReason =
  process.platform !== 'linux'
    ? 'Linux only'
    : process.getuid?.() !== 0
      ? 'needs root (to mount a private /dev/shm)'
      : works(privateShm('size=1m', ['true']))
        ? null
        : 'unshare/mount not permitted here';
const nprocReason =
  shmReason ??
  (works(privateShm('size=1m', [...AS_NOBODY, 'prlimit', '--nproc=100', process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(FIXTURE)})`]))
    ? null
    : 'cannot run node as nobody (setpriv/prlimit missing, or the repository unreadable for nobody)');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: the fixture's report, checked field by field
  out: any;
}

// Our own resource tracker's variables must not reach the child: it gets its own, inside its namespace.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MP_TRACKER_')));

/** Run the fixture's `mode` in a private /dev/shm (tmpfs options `shm`), `prefix` before node. */
function run(mode: string, { shm = 'size=16m', prefix = [] as string[], node = [] as string[] } = {}): Promise<Run> {
  const argv = privateShm(shm, [...prefix, process.execPath, ...node, FIXTURE, mode]);
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env: childEnv, timeout: 40_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      const last = stdout.trim().split('\n').pop() ?? '';
      let out: unknown = null;
      try {
        out = JSON.parse(last);
      } catch {}
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, signal: e?.signal ?? null, stderr, out });
    });
  });
}

/** The child ran to its report and exited 0 (no SIGBUS, no abort, no hang). */
function completed(r: Run): void {
  expect({ code: r.code, signal: r.signal, reported: r.out !== null }, r.stderr).toEqual({ code: 0, signal: null, reported: true });
}

const FULL = /\/dev\/shm is full: free space or mount a larger \/dev\/shm \(Docker: --shm-size\)/;

describe.skipIf(shmReason !== null)(`a full /dev/shm${shmReason === null ? '' : ` [skipped: ${shmReason}]`}`, () => {
  it('every kind of shared object fails with ENOSPC saying what to do, leaves nothing, and is made once there is room', async () => {
    const r = await run('create');
    completed(r);
    const kinds = Object.keys(r.out.full);
    expect(kinds.length).toBeGreaterThanOrEqual(21);
    for (const kind of kinds) {
      const full = r.out.full[kind];
      expect({ kind, ok: full.ok, cls: full.error?.cls, code: full.error?.code, clean: full.clean }).toEqual({
        kind,
        ok: false,
        cls: 'Error',
        code: 'ENOSPC',
        clean: true,
      });
      expect(full.error.message, kind).toMatch(FULL);
      if (full.noChildren !== undefined) expect(full.noChildren, kind).toBe(true);
      expect(r.out.freed[kind], kind).toEqual({ ok: true });
    }
  });

  it('with any amount of room short of enough, a many-piece object leaves no name and no used space (no GC needed)', async () => {
    const r = await run('partial');
    completed(r);
    for (const [kind, steps] of Object.entries(r.out as Record<string, { room: number; ok: boolean; code?: string; clean: boolean }[]>)) {
      const last = steps[steps.length - 1]!;
      expect(last.ok, `${kind}: made at last`).toBe(true);
      expect(steps.length, `${kind}: failed first`).toBeGreaterThan(1);
      for (const step of steps.slice(0, -1)) expect(step, `${kind} ${JSON.stringify(step)}`).toMatchObject({ ok: false, code: 'ENOSPC', clean: true });
    }
  });

  it('a big message is refused with ENOSPC; the queue and the pipe go on with nothing lost or doubled', async () => {
    const r = await run('queue');
    completed(r);
    const o = r.out;
    for (const [call, what] of [
      ['put', 'Queue.put'],
      ['putSync', 'Queue.putSync'],
      ['putNowait', 'Queue.putSync'],
      ['joinablePut', 'JoinableQueue.put'],
      ['send', 'Connection.send'],
      ['sendBytes', 'Connection.sendBytes'],
    ]) {
      expect(o[call], call).toMatchObject({ cls: 'Error', code: 'ENOSPC' });
      expect(o[call].message, call).toContain(`${what}: no shared memory for a`);
      expect(o[call].message, call).toMatch(FULL);
    }
    expect(o.clean).toBe(true);
    expect(o.got).toEqual(['a', 'b', 'c']);
    expect(o.emptyAfter).toBe(true);
    expect(o.received).toBe('small');
    expect(o.pipeEmptyAfter).toBe(true);
    expect(o.joinable).toEqual(['j', 0]);
    expect(o.joined).toBe(true);
    expect(o.afterFree).toEqual([200_000, 200_000, true]);
  });

  it('a child handed shared objects works on a full /dev/shm (attaching needs no room)', async () => {
    const r = await run('child');
    completed(r);
    expect(r.out).toEqual({
      report: { value: 8, last: 2.5, byte: 42, item: 'two', create: 'ENOSPC', bigPut: 'ENOSPC' },
      exitcode: 0,
      value: 8,
    });
  });

  // Without a GC (node runs without --expose-gc, and these loops make too little garbage
  // to start one): a tmpfs page is freed only when its segment is unlinked AND unmapped, so
  // each close must unmap this process's ring, not leave it to the buffer's collection.
  // Before, the 16 MB were full after 28 queues, 111 pipes or 13 big messages.
  it.each([
    // The bytes in use during a step at least: two rings (a header of 768 bytes and the
    // data), or a message's block.
    ['loopQueues', '500 Queues and JoinableQueues made, used and closed', 500, 2 * (768 + (256 << 10))],
    ['loopPipes', '500 duplex Pipes made, used and closed', 500, 2 * (768 + (64 << 10))],
    ['loopBigMessages', '200 messages of 1 MiB put and got', 200, 1 << 20],
  ])('%s: %s in a 16 MB /dev/shm give their space back at each close', async (mode, _what, n, inUse) => {
    const r = await run(mode);
    completed(r);
    const o = r.out;
    expect(o.gc, 'run without --expose-gc').toBe('undefined');
    expect({ done: o.done, error: o.error, used: o.used }).toEqual({ done: n, error: undefined, used: 0 });
    expect(o.peak, 'the memory did exist while in use').toBeGreaterThanOrEqual(inUse);
    if (mode === 'loopBigMessages') expect(o.end, "the queue's ring went at its close").toBeLessThan(0);
  });

  it("a process's first segment gives its space back when unlinked (the forked resource tracker does not hold it)", async () => {
    const r = await run('firstSegment');
    completed(r);
    expect(r.out).toEqual({ used: 4 << 20, back: true });
  });
});

// A host with a raised vm.max_map_count (Elasticsearch hosts: 262144) would need that
// many segments (and their inodes) to show the limit: not in a test.
const maxMapCount = shmReason === null ? Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8')) : 0;

describe.skipIf(shmReason !== null)(`too many segments, too few descriptors${shmReason === null ? '' : ` [skipped: ${shmReason}]`}`, () => {
  it.skipIf(maxMapCount > 70_000)('past its share of vm.max_map_count a process gets ENOMEM with a hint, and room again after closing some', async () => {
    const r = await run('maps', { shm: 'size=512m,nr_inodes=100k' });
    completed(r);
    const o = r.out;
    // Well below vm.max_map_count (65530 by default): the rest is the runtime's own.
    expect(o.made).toBeGreaterThan(1000);
    expect(o.error).toMatchObject({ cls: 'Error', code: 'ENOMEM' });
    expect(o.error.message).toMatch(/this process already maps \d+ shared memory segments.*close segments no longer used, or raise vm\.max_map_count/);
    expect(o.value).toMatchObject({ code: 'ENOMEM' });
    expect(o.left).toBe(o.made); // the refused one left no file
    expect(o.afterClosing).toBe(true);
    expect(o.valueAfterClosing).toBe(true);
  });

  it('segments hold no descriptor (300 under RLIMIT_NOFILE 64); with none left, EMFILE saying ulimit -n', async () => {
    const r = await run('nofile', { prefix: ['prlimit', '--nofile=64'] });
    completed(r);
    const o = r.out;
    expect(o.made).toBe(300);
    expect(o.exhausted).toBe('EMFILE');
    for (const call of ['create', 'attach', 'value']) {
      expect(o[call], call).toMatchObject({ code: 'EMFILE' });
      expect(o[call].message, call).toContain('too many open files: close some or raise the limit (ulimit -n)');
    }
    expect(o.start).toMatchObject({ cls: 'ProcessError', causeCode: 'EMFILE' });
    expect(o.start.message).toContain('ulimit -n');
    expect(o.afterClosing).toBe(true);
  });
});

const PROCESS_LIMIT = /spawning node failed with EAGAIN \(the system refused a new process: .*ulimit -u/;

describe.skipIf(nprocReason !== null)(`too many processes${nprocReason === null ? '' : ` [skipped: ${nprocReason}]`}`, () => {
  it('Process.start and new Pool throw a ProcessError naming the limit, leaving no process and no segment', async () => {
    const r = await run('nproc', { prefix: AS_NOBODY });
    completed(r);
    const o = r.out;
    expect(o.start).toMatchObject({ cls: 'ProcessError', causeCode: 'EAGAIN' });
    expect(o.start.message).toMatch(PROCESS_LIMIT);
    expect(o.pool).toMatchObject({ cls: 'ProcessError', causeCode: 'EAGAIN' });
    expect(o.clean, JSON.stringify(o.debug)).toBe(true);
    // No thread for an async wait either: a clean EAGAIN; a sync wait needs none.
    expect(o.asyncWait).toMatchObject({ cls: 'Error', code: 'EAGAIN' });
    expect(o.asyncWait.message).toContain('process/thread limit');
    expect(o.syncWait).toBe(false);
  });

  it('a pool that cannot replace a dead worker fails its tasks with that error instead of crashing', async () => {
    const r = await run('nprocPool', { prefix: AS_NOBODY });
    completed(r);
    const o = r.out;
    expect(o.before).toBe(42);
    expect(o.running).toMatchObject({ cls: 'WorkerLostError' }); // the task the killed worker ran
    expect(o.queued).toMatchObject({ cls: 'ProcessError' });
    expect(o.queued.message).toMatch(/^the pool cannot replace a worker that exited: could not start a child process: /);
    expect(o.queued.message).toMatch(PROCESS_LIMIT);
    expect(o.later).toEqual(o.queued);
    expect(o.noChildren).toBe(true);
  });
});

describe('a pool whose workers cannot start', () => {
  it('fails its tasks after a few attempts instead of re-spawning forever', async () => {
    // What a worker does at its thread limit (node aborts), without needing the limit.
    const pool = new mp.Pool({ processes: 2, initializer: () => process.kill(process.pid, 'SIGABRT') });
    try {
      const err = await pool.apply((x: number) => x, [1]).then(
        () => null,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(mp.ProcessError);
      expect(err?.message).toMatch(/^the pool's workers keep dying before they are ready \(3 in a row, the last PoolWorker-\d+ with SIGABRT\)/);
      await expect(pool.apply((x: number) => x, [2])).rejects.toBe(err);
    } finally {
      await pool.terminate();
    }
  });
});
