// Pool hot paths compiled before the first task, not during it. V8 optimizes a function
// only after it has run hot for a while, so a fresh worker (and a parent's first pool)
// ran its first maps 3-7x slower than its later ones: 37 ms, then 19, 15, 5 for the same
// 100,000-item map. Running the codec and a queue round trip on a private queue at start
// (about 10 ms, in parallel in every worker) makes the first map as fast as the later.
import { Queue } from './queues.js';

let done = false;

export function warmUp(): void {
  if (done) return;
  done = true;
  let q: Queue<unknown>;
  try {
    q = new Queue<unknown>();
  } catch {
    return; // no shared memory to spare (a full /dev/shm): only speed is lost, not the pool
  }
  try {
    const small: unknown[] = [0, 1, 0, [0]];
    for (let i = 0; i < 3000; i++) {
      small[0] = i;
      (small[3] as number[])[0] = i * 0.5;
      q.putSync(small);
      q.getSync();
    }
    const ints = Array.from({ length: 4096 }, (_, i) => i);
    const floats = ints.map((i) => i + 0.5);
    for (let i = 0; i < 20; i++) {
      q.putSync([i, 1, 0, ints]);
      q.putSync([i, 1, floats]);
      q.getSync();
      q.getSync();
    }
  } finally {
    q.close();
  }
}
