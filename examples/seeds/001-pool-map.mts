// Seed 001, example 8: Pool.map waits for all the results.
//
//   def square(x): result = x * x; time.sleep(1); return result
//   start = time.time()
//   pool = Pool(9)
//   result = pool.map(square, [1, 2, 3, 4])
//   print(result)
//   pool.close()
//   print(f"总共使用了{(endtimes1 - start):.2f}")
//
// Prints [ 1, 4, 9, 16 ] and about 1 s: the four calls run at the same time.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
const time = () => Date.now() / 1000;

export async function square(x: number) {
  const result = x * x;
  await sleep(1);
  return result;
}

if (mp.isMainModule(import.meta)) {
  const start = time();
  // 创建9个进程
  const pool = new mp.Pool({ processes: 9 });
  const result = await pool.map(square, [1, 2, 3, 4]); // map会阻塞主程序
  console.log(result);
  pool.close();
  const endtimes1 = time();
  // 打印所用时间并保存两位小数
  console.log(`总共使用了${(endtimes1 - start).toFixed(2)}`);
}
