// Seed 000, example 5: Pool.applyAsync with a callback, then close and join.
//
//   def f1(i): time.sleep(0.5); print(i); return i + 100
//   def f2(arg): print(arg)
//   pool = Pool(5)
//   for i in range(1, 31): pool.apply_async(func=f1, args=(i,), callback=f2)
//   pool.close(); pool.join()
//
// Five workers take the 30 calls (about 3 s). Each worker prints i; the callback runs in
// the main process and prints i + 100.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

export async function f1(i: number) {
  await sleep(0.5);
  console.log(i);
  return i + 100;
}

export function f2(arg: number) {
  console.log(arg);
}

if (mp.isMainModule(import.meta)) {
  const pool = new mp.Pool({ processes: 5 });
  for (let i = 1; i < 31; i++) {
    pool.applyAsync(f1, [i], { callback: f2 });
  }
  pool.close();
  await pool.join();
}
