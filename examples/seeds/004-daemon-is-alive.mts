// Seed 004, example 3: name, daemon, is_alive(): the main process does not wait for the
// second daemon, which dies with it.
//
//   p1 = Process(target=worker_1, args=(4,)); p2 = Process(target=worker_2, args=(6,))
//   p1.daemon = True; p2.daemon = True
//   p1.start(); p2.start(); p1.join()
//   print('进程1:', p1, '\n', '进程2:', p2)
//   print('进程1:', p1.is_alive(), '\n', '进程2:', p2.is_alive())
//   print('finish', b - a)
//
// Expected: 工作1, 工作212, end工作1, the two processes (p1 stopped, p2 started),
// 进程1: false / 进程2: true, finish ~4; end工作212 never comes, because p2 is a
// daemon and is ended when the main process exits.
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
  p1.daemon = true;
  p2.daemon = true;
  p1.start();
  p2.start();
  await p1.join();
  console.log('进程1:', p1, '\n', '进程2:', p2);
  console.log('进程1:', p1.isAlive(), '\n', '进程2:', p2.isAlive());
  const b = time();
  console.log('finish', b - a);
}
