// Seed 000, example 1: start one Process on a function and wait for it.
//
//   from multiprocessing import Process
//   def func(name): print('hello', name)
//   if __name__ == "__main__":
//       p = Process(target=func, args=('zhangyanlin',)); p.start(); p.join()
import * as mp from 'multiprocessing';

export function func(name: string) {
  console.log('hello', name);
}

if (mp.isMainModule(import.meta)) {
  const p = new mp.Process({ target: func, args: ['zhangyanlin'] });
  p.start();
  await p.join(); // 等待进程执行完毕
}
