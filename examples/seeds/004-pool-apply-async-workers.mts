// Seed 004, example 8: applyAsync of five workers on a default-sized Pool; one throws.
//
//   def worker_0(interval): print("错误的工作"); time.sleep(interval); 0/0; print("end工作失误")
//   def worker_1(interval): print("工作1"); time.sleep(interval); print("end工作1")
//   ... worker_2 ("工作212"), worker_3 ("工作three"), worker_4 ("工作four")
//   function_list = [worker_1, worker_2, worker_3, worker_4, worker_0]
//   pool = multiprocessing.Pool()
//   for func in function_list: pool.apply_async(func, (1,))
//   pool.close(); pool.join()
//   print('finsh:', b - a)
//
// Every worker prints its start and end lines except worker_0, whose error stays in its
// AsyncResult (nobody asks for it, so nothing is reported), as in Python. JS's 0/0 is
// NaN, not an error, so worker0 divides with a helper that throws as Python does. The
// starting code sits under the guard (the seed runs it at the top level).
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
const time = () => Date.now() / 1000;

class ZeroDivisionError extends Error {
  override name = 'ZeroDivisionError';
}

// Python's a / b
function divide(a: number, b: number) {
  if (b === 0) throw new ZeroDivisionError('division by zero');
  return a / b;
}

export async function worker0(interval: number) {
  console.log('错误的工作');
  await sleep(interval);
  divide(0, 0);
  console.log('end工作失误');
}

export async function worker1(interval: number) {
  console.log('工作1');
  await sleep(interval);
  console.log('end工作1');
}

export async function worker2(interval: number) {
  console.log('工作212');
  await sleep(interval);
  console.log('end工作212');
}

export async function worker3(interval: number) {
  console.log('工作three');
  await sleep(interval);
  console.log('end工作three');
}

export async function worker4(interval: number) {
  console.log('工作four');
  await sleep(interval);
  console.log('end工作four');
}

if (mp.isMainModule(import.meta)) {
  const functionList = [worker1, worker2, worker3, worker4, worker0];
  const a = time();
  const pool = new mp.Pool();
  for (const func of functionList) {
    pool.applyAsync(func, [1]);
  }
  pool.close();
  await pool.join();
  const b = time();
  console.log('finsh:', b - a);
}
