// Unix socket paths and sun_path: 108 bytes on Linux, 104 on macOS and the BSDs. Node cuts
// a longer path short without a word, so the socket appears under another name and stays
// behind after close (it unlinks the name it was given). Python's bind refuses it; so do we.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValueError } from './errors.js';

const SUN_PATH_BYTES = process.platform === 'linux' ? 108 : 104;

/**
 * Refuse a path that does not fit sun_path: a file path needs its closing NUL there; a
 * Linux abstract name ('\0...') does not (Python allows 107 and 108 bytes likewise).
 */
export function checkSocketPathLength(name: string, path: string): void {
  if (process.platform === 'win32') return; // a named pipe, not a sun_path
  const bytes = Buffer.byteLength(path);
  const max = process.platform === 'linux' && path.startsWith('\0') ? SUN_PATH_BYTES : SUN_PATH_BYTES - 1;
  if (bytes > max) {
    throw new ValueError(
      `${name} is a socket path of ${bytes} bytes; ${process.platform} allows at most ${max} ` +
        '(AF_UNIX path too long): use a shorter path, e.g. a short name in os.tmpdir(), or pass null for a fresh one',
    );
  }
}

/**
 * The directory for a fresh socket whose path below it takes `reserve` bytes: os.tmpdir(),
 * or /tmp when a TMPDIR too long would make the path too long (CPython 3.14 does the same).
 */
export function socketDir(reserve: number): string {
  const dir = tmpdir();
  if (process.platform === 'win32' || Buffer.byteLength(join(dir, 'x'.repeat(reserve))) < SUN_PATH_BYTES) return dir;
  return '/tmp';
}
