// Seed 004, example 2: join() right after each start(): the workers run one after the
// other.
//
//   p1 = Process(target=worker_1, args=(4,)); p2 = Process(target=worker_2, args=(6,))
//   p1.start(); p1.join(); p2.start(); p2.join()
//   print('finish', b - a)
//
// Expected: 工作1, end工作1, 工作212, end工作212, finish ~10.
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
  await p1.join();
  p2.start();
  await p2.join();
  const b = time();
  console.log('finish', b - a);
}
