// Seed 001, example 4: subclass Process; start() runs run() in the child.
//
//   class MyProcess(Process):
//       def __init__(self): super().__init__()
//       def run(self): print("hello")
//   p1 = MyProcess(); p2 = MyProcess(); p1.start(); p2.start()
//
// Prints hello twice. (The seed's __init__ only calls super().__init__(), which is what
// a class without a constructor does.) The class is exported so the child can find it.
import * as mp from 'multiprocessing';

export class MyProcess extends mp.Process {
  override run() {
    console.log('hello');
  }
}

if (mp.isMainModule(import.meta)) {
  const p1 = new MyProcess();
  const p2 = new MyProcess();
  p1.start(); // 会调用MyProcess中的run方法
  p2.start();
}
