// Seed 001, example 3: a Queue is shared, so two processes split its items.
//
//   def work3(q: Queue):
//       time.sleep(0.5)
//       print("这个是work3中的参数q的id: ", id(q))
//       while not q.empty(): print(f"work3 从q中获得了 {q.get()}")
//   def work4(q: Queue): (the same, printing "work4 ...")
//   q = Queue(); q.put('a'); q.put('b'); q.put('c')
//   p1 = Process(target=work3, args=(q,)); p2 = Process(target=work4, args=(q,))
//   start both; join both; print(f'主进程运行完毕!')
//
// a, b and c are each taken once, by one process or the other.
//
// One change: in the seed both processes can see the queue non-empty when one item is
// left; one takes it and the other waits in q.get() forever, so the join never returns.
// Here the get does not wait (getNowait) and an empty queue ends the loop.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

// Python's id(): an object's identity, unique within one process (see 001-list-not-shared).
const ids = new WeakMap<object, string>();
let nextId = 0;
function id(obj: object) {
  let v = ids.get(obj);
  if (v === undefined) ids.set(obj, (v = `${process.pid}-${++nextId}`));
  return v;
}

function getOrNull(q: mp.Queue) {
  try {
    return q.getNowait();
  } catch (e) {
    if (e instanceof mp.Empty) return null;
    throw e;
  }
}

export async function work3(q: mp.Queue) {
  await sleep(0.5);
  console.log('这个是work3中的参数q的id: ', id(q));
  while (!q.empty()) {
    const item = getOrNull(q);
    if (item === null) break;
    console.log(`work3 从q中获得了 ${item}`);
  }
}

export async function work4(q: mp.Queue) {
  await sleep(0.5);
  console.log('这个是work4中的参数q的id: ', id(q));
  while (!q.empty()) {
    const item = getOrNull(q);
    if (item === null) break;
    console.log(`work4 从q中获得了 ${item}`);
  }
}

if (mp.isMainModule(import.meta)) {
  // work3与work4共同完成q中的所有任务: the Queue is shared by p1 and p2
  const q = new mp.Queue();
  await q.put('a');
  await q.put('b');
  await q.put('c');
  const p1 = new mp.Process({ target: work3, args: [q] });
  const p2 = new mp.Process({ target: work4, args: [q] });
  p1.start();
  p2.start();
  await p1.join();
  await p2.join();
  console.log('主进程运行完毕!');
}
