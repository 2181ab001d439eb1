// Seed 001, example 2: a plain list passed to two processes is copied, not shared.
//
//   def work1(q):
//       print("这个是work2中的参数q的id: ", id(q))
//       while q: print(f"work1 从q中获得了 {q.pop()}")
//   def work2(q): (the same, printing "work2 ...")
//   q = ['a', 'b', 'c']
//   p1 = Process(target=work1, args=(q,)); p2 = Process(target=work2, args=(q,))
//   p1.start(); p2.start()
//   print(f'主进程运行完毕!')
//
// Each child pops all three items from its own copy: c, b, a twice. The main process
// does not join; the children keep it alive until they finish. (Both functions print
// "work2" in the id line, as in the seed.)
import * as mp from 'multiprocessing';

// Python's id(): an object's identity, unique within one process. JS has none, so this
// numbers objects as it first sees them, prefixed by the pid.
const ids = new WeakMap<object, string>();
let nextId = 0;
function id(obj: object) {
  let v = ids.get(obj);
  if (v === undefined) ids.set(obj, (v = `${process.pid}-${++nextId}`));
  return v;
}

export function work1(q: string[]) {
  console.log('这个是work2中的参数q的id: ', id(q));
  while (q.length > 0) {
    console.log(`work1 从q中获得了 ${q.pop()}`);
  }
}

export function work2(q: string[]) {
  console.log('这个是work2中的参数q的id: ', id(q));
  while (q.length > 0) {
    console.log(`work2 从q中获得了 ${q.pop()}`);
  }
}

if (mp.isMainModule(import.meta)) {
  // work1与work2会做重复工作: each child gets its own copy of the list
  const q = ['a', 'b', 'c'];
  const p1 = new mp.Process({ target: work1, args: [q] });
  const p2 = new mp.Process({ target: work2, args: [q] });
  p1.start();
  p2.start();
  console.log('主进程运行完毕!');
}
