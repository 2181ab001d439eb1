// Seed 001, example 9: Pool.mapAsync returns at once; nobody asks for the result.
//
//   def square(x): time.sleep(2); result = x * x; print("~~~~~~~~~~"); return result
//   pool = Pool(8)
//   result = pool.map_async(square, [1, 2, 3, 4])   # 不会阻塞主程序
//   #print(result.get())
//   print(f"总共使用了{(end - start):.2f}")
//   print("主程序结束")
//
// The main process prints about 0.00 and 主程序结束 and ends. Python terminates the
// pool at exit, so the squares are never finished and ~~~~~~~~~~ is not printed.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
const time = () => Date.now() / 1000;

export async function square(x: number) {
  await sleep(2);
  const result = x * x;
  console.log('~~~~~~~~~~');
  return result;
}

if (mp.isMainModule(import.meta)) {
  const start = time();
  const pool = new mp.Pool({ processes: 8 });
  const result = pool.mapAsync(square, [1, 2, 3, 4]); // 不会阻塞主程序
  // console.log(await result.get()); // .get(): 获取运行结果, the same as pool.map
  void result; // unused, as in the seed
  const end = time();
  console.log(`总共使用了${(end - start).toFixed(2)}`);
  console.log('主程序结束');
  // Python terminates a pool left open when the interpreter exits. Node has no such
  // hook, so say it.
  await pool.terminate();
}
