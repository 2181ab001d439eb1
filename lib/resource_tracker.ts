// The cleaner of last resort, as Python's resource_tracker: every shared-memory name this
// library creates is registered with one small process per process tree, which unlinks
// whatever is still registered once every process of the tree is gone. Worker threads
// share their process's tracker (the addon keeps it for the whole process).
//
// "Gone" is observed through a pipe: each process of the tree holds the write end, so the
// tracker reads EOF exactly when the last one exits, however it died (SIGKILL included).
// The tracker itself is forked by the addon (no second Node runtime to boot); see
// native/tracker_posix.cc. Children learn the inherited fd from MP_TRACKER_FD and check it
// with MP_TRACKER_INO, so a stale variable in an unrelated process is never trusted.
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import { withContext } from './error_context.js';
import { type TrackerState, native } from './native.js';

export const TRACKER_FD_ENV = 'MP_TRACKER_FD';
export const TRACKER_INO_ENV = 'MP_TRACKER_INO';
export const TRACKER_ROOT_ENV = 'MP_TRACKER_ROOT';

/** Names this thread registered and has not unregistered: re-sent if the tracker restarts. */
const registered = new Set<string>();

/** The inherited tracker's fd, when the environment names one that is open here and is that pipe; else -1. */
function inheritedFd(): number {
  const fd = Number(process.env[TRACKER_FD_ENV]);
  const ino = Number(process.env[TRACKER_INO_ENV]);
  if (!Number.isInteger(fd) || fd < 3 || !Number.isFinite(ino)) return -1;
  try {
    const st = fs.fstatSync(fd);
    if (st.isFIFO() && st.ino === ino) {
      // Inherited without CLOEXEC; unrelated programs this process execs must not hold it.
      native.fdSetCloexec(fd);
      return fd;
    }
  } catch {
    // Not open here: the variables came from somewhere else.
  }
  return -1;
}

/**
 * The tracker as this thread last saw it. There is one per process, kept by the addon for
 * every thread (each worker thread loads its own copy of this module): `generation` goes
 * up when a thread restarts it, and the fd number stays the same.
 */
let seen: TrackerState | null = null;

/** The process's tracker (inherited, or started on first use); tells a restarted one what this thread owns. */
function current(): TrackerState {
  const t = native.trackerShared(seen === null ? inheritedFd() : -1);
  if (seen !== null && t.generation !== seen.generation) {
    for (const name of registered) fs.writeSync(t.fd, `R ${name}\n`);
  }
  seen = t;
  return t;
}

/** For tests and diagnostics: the pid of this process's tracker if this process started it (null when inherited or not used yet). */
export function trackerPid(): number | null {
  return seen === null || seen.pid === 0 ? null : seen.pid;
}

function send(line: string): void {
  if (process.platform === 'win32') return; // mappings vanish with their last handle
  const t = current();
  try {
    fs.writeSync(t.fd, line);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  }
  // The tracker was killed: a new one takes its place (once, whichever thread sees it
  // first) and current() gives it what this thread still owns, this line's name included.
  native.trackerRestart(t.generation);
  const fresh = current();
  if (!line.startsWith('R ') || !registered.has(line.slice(2, -1))) fs.writeSync(fresh.fd, line);
}

function checkName(name: string): void {
  // One line of the protocol; each write stays far below PIPE_BUF, so it is atomic.
  if (name.length === 0 || name.length > 255 || /[\s]/.test(name)) {
    throw new Error(`resource tracker: invalid segment name ${JSON.stringify(name)}`);
  }
}

/** Track `name` (a shm name without leading slash): unlinked when the tree is gone. */
export function register(name: string): void {
  checkName(name);
  registered.add(name);
  try {
    send(`R ${name}\n`);
  } catch (err) {
    registered.delete(name); // never re-sent to a later tracker: the name may be reused
    throw err;
  }
}

/**
 * Track a segment this process just created (under a name the user chose), or, when that
 * fails (no tracker could be started: a process limit), unmap and unlink it and throw: an
 * untracked segment could outlive the process tree.
 */
export function registerCreated(created: { name: string; buffer: ArrayBuffer }): void {
  try {
    register(created.name);
  } catch (err) {
    native.shmClose(created.buffer);
    try {
      native.shmUnlink(created.name);
    } catch {}
    throw withContext(err, `cannot track shared memory segment '${created.name}' with the resource tracker`);
  }
}

/** Stop tracking `name` (it was unlinked on purpose). */
export function unregister(name: string): void {
  checkName(name);
  registered.delete(name);
  send(`U ${name}\n`);
}

/**
 * For spawners: a child joins this tree's tracker when it inherits `fd` at descriptor
 * `childFd` (an extra entry of child_process's `stdio` array) and gets `env`.
 */
export function trackerForChild(childFd: number): { fd: number; env: Record<string, string> } | null {
  if (process.platform === 'win32') return null;
  const { fd } = current();
  return {
    fd,
    env: { [TRACKER_FD_ENV]: String(childFd), [TRACKER_INO_ENV]: String(fs.fstatSync(fd).ino), [TRACKER_ROOT_ENV]: String(treeRoot()) },
  };
}

let root = 0;

/**
 * The pid of the process whose tracker this tree first used: inherited with the tracker
 * (MP_TRACKER_ROOT), else this process. (A restarted tracker keeps the tree's root.)
 */
function treeRoot(): number {
  if (root === 0) {
    const inherited = current().pid === 0 ? Number(process.env[TRACKER_ROOT_ENV]) : 0;
    root = Number.isSafeInteger(inherited) && inherited > 0 ? inherited : process.pid;
  }
  return root;
}

const NAME_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A fresh segment name: the addon's prefix, the tree's root pid in base 36, and 10 random
 * characters (mp_<root>_<random>, at most 19 bytes, within macOS's 30). The root pid says
 * which process tree made a segment found in /dev/shm (the test suite's leak check names
 * the test file from it).
 */
function randomSegmentName(): string {
  const tree = process.platform === 'win32' ? process.pid : treeRoot();
  let name = `${native.shmPrefix}${tree.toString(36)}_`;
  // randomFillSync, not randomInt: randomInt draws from a per-process cache, which the
  // zygote's children would share (sibling processes drawing the same names).
  const bytes = randomFillSync(new Uint8Array(10));
  for (let i = 0; i < 10; i++) name += NAME_ALPHABET[bytes[i]! % 36];
  return name;
}

/**
 * Create a segment under a fresh name that is registered BEFORE the segment exists, so a
 * process killed at any point leaves nothing untracked: at worst the tracker later tries
 * to unlink a name that was never created. (Registering after creation left a window in
 * which a SIGKILL leaked the segment for good.)
 */
export function createTrackedSegment(size: number): { name: string; buffer: ArrayBuffer } {
  for (let attempt = 0; ; attempt++) {
    let name: string;
    try {
      name = randomSegmentName();
      register(name);
    } catch (err) {
      // No tracker could be started (a process limit): create nothing untracked.
      throw withContext(err, 'cannot track a new shared memory segment with the resource tracker');
    }
    try {
      return native.shmCreate(size, name);
    } catch (err) {
      // Not created: stop tracking a name that may be someone else's.
      unregister(name);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 100) throw err;
    }
  }
}
