// Seed 004, example 6: one process writes to a Queue, then another reads it.
//
//   def write(q):
//       for value in ['A', 'B', 'C']:
//           print('Put %s to queue...' % value); q.put(value); time.sleep(random.random())
//   def read(q):
//       while True:
//           if not q.empty():
//               value = q.get(True); print('Get %s from queue.' % value)
//               time.sleep(random.random())
//           else: break
//   q = Queue()
//   pw = Process(target=write, args=(q,)); pr = Process(target=read, args=(q,))
//   pw.start(); pw.join(); pr.start(); pr.join()
//   print('所有数据都写入并且读完')
//
// The reader starts after the writer has finished, so the output is in this order:
// Put A/B/C to queue..., Get A/B/C from queue., 所有数据都写入并且读完.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

// 写数据进程执行的代码:
export async function write(q: mp.Queue) {
  for (const value of ['A', 'B', 'C']) {
    console.log(`Put ${value} to queue...`);
    await q.put(value);
    await sleep(Math.random());
  }
}

// 读数据
export async function read(q: mp.Queue) {
  while (true) {
    if (!q.empty()) {
      const value = await q.get({ block: true });
      console.log(`Get ${value} from queue.`);
      await sleep(Math.random());
    } else {
      break;
    }
  }
}

if (mp.isMainModule(import.meta)) {
  const q = new mp.Queue();
  const pw = new mp.Process({ target: write, args: [q] });
  const pr = new mp.Process({ target: read, args: [q] });
  pw.start();
  await pw.join();
  pr.start();
  await pr.join();
  console.log('所有数据都写入并且读完');
}
