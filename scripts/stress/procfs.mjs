// Reading /proc and /dev/shm: process trees, start times, the shared-memory segments a
// process maps, and whether a process carries the run's token in its environment.
import { readFileSync, readdirSync, statSync } from 'node:fs';

const SHM = '/dev/shm';

export function listShm() {
  try {
    return new Set(readdirSync(SHM));
  } catch {
    return new Set();
  }
}

export function shmSize(name) {
  try {
    return statSync(`${SHM}/${name}`).size;
  } catch {
    return 0;
  }
}

export function pids() {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** { ppid, start } of `pid` (start: clock ticks after boot), or null when it is gone. */
export function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: Number(f[1]), start: Number(f[19]) };
  } catch {
    return null;
  }
}

/** `root` and every process below it: pid -> start time. */
export function tree(root) {
  const children = new Map();
  const starts = new Map();
  for (const pid of pids()) {
    const st = procStat(pid);
    if (st === null) continue;
    starts.set(pid, st.start);
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(pid);
  }
  const out = new Map();
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop();
    if (!starts.has(pid) || out.has(pid)) continue;
    out.set(pid, starts.get(pid));
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Names of the /dev/shm segments `pid` maps. */
export function mappedShm(pid) {
  const out = new Set();
  let maps;
  try {
    maps = readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch {
    return out;
  }
  for (const m of maps.matchAll(/ \/dev\/shm\/(\S+)/g)) out.add(m[1]);
  return out;
}

/** Whether `pid`'s environment has `name=value`. */
export function hasEnv(pid, name, value) {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`${name}=${value}`);
  } catch {
    return false;
  }
}
