// Seed 002, example 1: 开进程的方法一, four Processes on a function.
//
//   def piao(name):
//       print('%s piaoing' % name)
//       time.sleep(random.randrange(1, 5))
//       print('%s piao end' % name)
//   p1 = Process(target=piao, args=('A',)) ... p4 (B, C, D)
//   p1.start() ... p4.start()
//   print('主线程')
//
// The seed starts the processes at the top level of the module, which only works with
// fork (the seed itself explains why Windows needs the guard). A child here imports this
// module, as spawn does, so the starting code sits under the guard.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
// random.randrange(start, stop): an integer in [start, stop)
const randrange = (start: number, stop: number) => start + Math.floor(Math.random() * (stop - start));

export async function piao(name: string) {
  console.log(`${name} piaoing`);
  await sleep(randrange(1, 5));
  console.log(`${name} piao end`);
}

if (mp.isMainModule(import.meta)) {
  const p1 = new mp.Process({ target: piao, args: ['A'] });
  const p2 = new mp.Process({ target: piao, args: ['B'] });
  const p3 = new mp.Process({ target: piao, args: ['C'] });
  const p4 = new mp.Process({ target: piao, args: ['D'] });
  p1.start();
  p2.start();
  p3.start();
  p4.start();
  console.log('主线程');
}
