// Seed 004, example 7: the two ends of a duplex Pipe in two Process subclasses.
//
//   class Consumer(Process):
//       def __init__(self, pipe): Process.__init__(self); self.pipe = pipe
//       def run(self):
//           self.pipe.send('Consumer Words')
//           print('Consumer Received:', self.pipe.recv())
//   class Producer(Process):
//       def __init__(self, pipe): Process.__init__(self); self.pipe = pipe
//       def run(self):
//           print('Producer Received:', self.pipe.recv())
//           self.pipe.send('Producer Words')
//   pipe = Pipe()
//   p = Producer(pipe[0]); c = Consumer(pipe[1])
//   p.daemon = c.daemon = True
//   p.start(); c.start(); p.join(); c.join()
//   print('Ended!')
//
// Expected: Producer Received: Consumer Words, Consumer Received: Producer Words,
// Ended!. As in 002-start-function, the starting code sits under the guard (the seed
// runs it at the top level, which only works with fork). The classes are exported so
// the children can find them.
import * as mp from 'multiprocessing';

type Connection = ReturnType<typeof mp.Pipe>[0];

export class Consumer extends mp.Process {
  pipe: Connection;

  constructor(pipe: Connection) {
    super();
    this.pipe = pipe;
  }

  override async run() {
    await this.pipe.send('Consumer Words');
    console.log('Consumer Received:', await this.pipe.recv());
  }
}

export class Producer extends mp.Process {
  pipe: Connection;

  constructor(pipe: Connection) {
    super();
    this.pipe = pipe;
  }

  override async run() {
    console.log('Producer Received:', await this.pipe.recv());
    await this.pipe.send('Producer Words');
  }
}

if (mp.isMainModule(import.meta)) {
  const pipe = mp.Pipe();
  const p = new Producer(pipe[0]);
  const c = new Consumer(pipe[1]);
  p.daemon = c.daemon = true;
  p.start();
  c.start();
  await p.join();
  await c.join();
  console.log('Ended!');
}
