// Seed 002, example 2: 开进程的方法二, a Process subclass that sets its name.
//
//   class Piao(Process):
//       def __init__(self, name): super().__init__(); self.name = name
//       def run(self):
//           print('%s piaoing' % self.name)
//           time.sleep(random.randrange(1, 5))
//           print('%s piao end' % self.name)
//   p1 = Piao('A') ... p4 = Piao('D'); p1.start() ... p4.start()
//   print('主线程')
//
// As in 002-start-function, the starting code sits under the guard (the seed runs it at
// the top level, which only works with fork). The class is exported so the child can
// find it.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
// random.randrange(start, stop): an integer in [start, stop)
const randrange = (start: number, stop: number) => start + Math.floor(Math.random() * (stop - start));

export class Piao extends mp.Process {
  constructor(name: string) {
    super();
    this.name = name;
  }

  override async run() {
    console.log(`${this.name} piaoing`);
    await sleep(randrange(1, 5));
    console.log(`${this.name} piao end`);
  }
}

if (mp.isMainModule(import.meta)) {
  const p1 = new Piao('A');
  const p2 = new Piao('B');
  const p3 = new Piao('C');
  const p4 = new Piao('D');
  p1.start(); // start会自动调用run
  p2.start();
  p3.start();
  p4.start();
  console.log('主线程');
}
