// Seed 004, example 5: a Lock passed to Process subclasses keeps their prints apart.
//
//   class MyProcess(Process):
//       def __init__(self, loop, lock):
//           Process.__init__(self); self.loop = loop; self.lock = lock
//       def run(self):
//           for count in range(self.loop):
//               time.sleep(0.1)
//               self.lock.acquire()
//               print('Pid: ' + str(self.pid) + ' LoopCount: ' + str(count))
//               self.lock.release()
//   lock = Lock()
//   for i in range(1, 5): p = MyProcess(i, lock); p.start()
//
// Four processes print 1, 2, 3 and 4 lines: ten lines in all, one at a time. The main
// process does not join; the children keep it alive until they finish.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

export class MyProcess extends mp.Process {
  loop: number;
  lock: mp.Lock;

  constructor(loop: number, lock: mp.Lock) {
    super();
    this.loop = loop;
    this.lock = lock;
  }

  override async run() {
    for (let count = 0; count < this.loop; count++) {
      await sleep(0.1);
      await this.lock.acquire();
      console.log('Pid: ' + String(this.pid) + ' LoopCount: ' + String(count));
      this.lock.release();
    }
  }
}

if (mp.isMainModule(import.meta)) {
  const lock = new mp.Lock();
  for (let i = 1; i < 5; i++) {
    const p = new MyProcess(i, lock);
    p.start();
  }
}
