// Seed 000, example 4: Pool.apply, one blocking call after another.
//
//   def f1(i): time.sleep(0.5); print(i); return i + 100
//   pool = Pool(5)
//   for i in range(1, 31): pool.apply(func=f1, args=(i,))
//
// apply waits for each result, so the 30 calls run one at a time (about 15 s) and print
// 1..30 in order.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

export async function f1(i: number) {
  await sleep(0.5);
  console.log(i);
  return i + 100;
}

if (mp.isMainModule(import.meta)) {
  const pool = new mp.Pool({ processes: 5 });
  for (let i = 1; i < 31; i++) {
    await pool.apply(f1, [i]);
  }
  // The script ends with the pool still open; Python terminates such a pool when the
  // interpreter exits. Node has no such hook, so say it.
  await pool.terminate();
}
