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
import * as fs from 'node:fs';
import { type TrackerState, native } from './native.js';

export const TRACKER_FD_ENV = 'MP_TRACKER_FD';
export const TRACKER_INO_ENV = 'MP_TRACKER_INO';

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
  send(`R ${name}\n`);
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
  return { fd, env: { [TRACKER_FD_ENV]: String(childFd), [TRACKER_INO_ENV]: String(fs.fstatSync(fd).ino) } };
}
