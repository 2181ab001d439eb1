// Which shared-memory segments this process maps now (Linux: /proc/self/maps), for tests
// that check a segment is unmapped when it should be, not at a GC.
import { readFileSync } from 'node:fs';

/** The names of the /dev/shm segments this process maps, unlinked ones too ("(deleted)"). */
export function mappedSegments(): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /\/dev\/shm\/(\S+)(?: \(deleted\))?$/.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}
