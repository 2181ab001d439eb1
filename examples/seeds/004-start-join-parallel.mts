// Seed 004, example 1: Process(), start(), join(): two workers at once, then finish.
//
//   def worker_1(interval): print("工作1"); time.sleep(interval); print("end工作1")
//   def worker_2(interval): print("工作212"); time.sleep(interval); print("end工作212")
//   a = time.time()
//   p1 = Process(target=worker_1, args=(4,)); p2 = Process(target=worker_2, args=(6,))
//   p1.start(); p2.start(); p1.join(); p2.join()
//   b = time.time(); print('finish', b - a)
//
// Expected: 工作1, 工作212, end工作1, end工作212, finish ~6. (The seed defines
// worker_0..worker_4 once for all its examples; each file here defines the ones it uses.)
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
const time = () => Date.now() / 1000;

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

if (mp.isMainModule(import.meta)) {
  const a = time();
  const p1 = new mp.Process({ target: worker1, args: [4] });
  const p2 = new mp.Process({ target: worker2, args: [6] });
  p1.start();
  p2.start();
  await p1.join();
  await p2.join();
  const b = time();
  console.log('finish', b - a);
}
