// The cleaner of last resort, as Python's resource_tracker: every shared-memory name this
// library creates is registered with one small process per process tree, which unlinks
// whatever is still registered once every process of the tree is gone.
//
// "Gone" is observed through a pipe: each process of the tree holds the write end, so the
// tracker reads EOF exactly when the last one exits, however it died (SIGKILL included).
// The tracker itself is forked by the addon (no second Node runtime to boot); see
// native/tracker_posix.cc. Children learn the inherited fd from MP_TRACKER_FD and check it
// with MP_TRACKER_INO, so a stale variable in an unrelated process is never trusted.
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { withContext } from './error_context.js';
import { native } from './native.js';

export const TRACKER_FD_ENV = 'MP_TRACKER_FD';
export const TRACKER_INO_ENV = 'MP_TRACKER_INO';
export const TRACKER_ROOT_ENV = 'MP_TRACKER_ROOT';

interface Tracker {
  fd: number;
  ino: number;
  /** Pid of the process that started the tracker: the root of the tree it serves. */
  root: number;
}

let tracker: Tracker | null = null;
/** Names this process registered and has not unregistered: re-sent if a tracker restarts. */
const registered = new Set<string>();

function inheritedTracker(): Tracker | null {
  const fd = Number(process.env[TRACKER_FD_ENV]);
  const ino = Number(process.env[TRACKER_INO_ENV]);
  const root = Number(process.env[TRACKER_ROOT_ENV]);
  if (!Number.isInteger(fd) || fd < 3 || !Number.isFinite(ino)) return null;
  try {
    const st = fs.fstatSync(fd);
    if (st.isFIFO() && st.ino === ino) {
      // Inherited without CLOEXEC; unrelated programs this process execs must not hold it.
      native.fdSetCloexec(fd);
      return { fd, ino, root: Number.isSafeInteger(root) && root > 0 ? root : process.pid };
    }
  } catch {
    // Not open here: the variables came from somewhere else.
  }
  return null;
}

/** Pid of the tracker this process started (null when inherited or not started yet). */
let startedPid: number | null = null;

function startTracker(): Tracker {
  const { fd, pid } = native.trackerStart();
  startedPid = pid;
  return { fd, ino: fs.fstatSync(fd).ino, root: process.pid };
}

/** For tests and diagnostics: the pid of the tracker this process started, if it did. */
export function trackerPid(): number | null {
  return startedPid;
}

function current(): Tracker {
  if (tracker === null) tracker = inheritedTracker() ?? startTracker();
  return tracker;
}

function send(line: string): void {
  if (process.platform === 'win32') return; // mappings vanish with their last handle
  try {
    fs.writeSync(current().fd, line);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
    // The tracker was killed: start a new one and give it what this process still owns.
    if (tracker !== null) fs.closeSync(tracker.fd);
    tracker = startTracker();
    for (const name of registered) fs.writeSync(tracker.fd, `R ${name}\n`);
    if (!line.startsWith('R ') || !registered.has(line.slice(2, -1))) fs.writeSync(tracker.fd, line);
  }
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
 * Track a segment this process just created, or, when that fails (no tracker could be
 * started: a process limit), unmap and unlink it and throw: an untracked segment could
 * outlive the process tree.
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
  const t = current();
  return {
    fd: t.fd,
    env: { [TRACKER_FD_ENV]: String(childFd), [TRACKER_INO_ENV]: String(t.ino), [TRACKER_ROOT_ENV]: String(t.root) },
  };
}

const NAME_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A fresh segment name: the addon's prefix, the tree's root pid in base 36, and 10 random
 * characters (mp_<root>_<random>, at most 19 bytes, within macOS's 30). The root pid says
 * which process tree made a segment found in /dev/shm (the test suite's leak check names
 * the test file from it).
 */
function randomSegmentName(): string {
  const root = process.platform === 'win32' ? process.pid : current().root;
  let name = `${native.shmPrefix}${root.toString(36)}_`;
  for (let i = 0; i < 10; i++) name += NAME_ALPHABET[randomInt(36)];
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
