// Per-file half of the /dev/shm leak check (vitest setupFiles; the check itself runs at
// the end of the run, in shm.global.ts). Each test file runs in a worker process of its
// own, the root of the process tree whose resource tracker registers every segment the
// file's tests make, and the library names those segments mp_<root pid in base 36>_...:
// so recording "this worker pid ran this file" lets the run's check name the file that
// left a segment behind.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect } from 'vitest';

const registry = process.env.MP_LEAK_REGISTRY;
if (registry !== undefined) {
  beforeAll(() => {
    const file = expect.getState().testPath ?? '(unknown file)';
    writeFileSync(join(registry, String(process.pid)), file);
  });
}
