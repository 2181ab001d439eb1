// Seed 001, example 10: Pool.apply blocks, Pool.applyAsync does not; keyword arguments.
//
//   def test(x, y, z=0): print("子程序正在运行")
//   pool = Pool(2)
//   pool.apply(test, (2, 3), {"z": 1})        # 阻塞 主程序
//   pool.apply_async(test, (2, 3), {"z": 1})  # 不阻塞 主程序
//   print("主程序运行结束")
//   print(help(pool.apply))
//
// Python's keyword arguments become a trailing options object: test(2, 3, { z: 1 }).
// apply prints 子程序正在运行 before 主程序运行结束; whether the applyAsync call gets to
// print before the pool is terminated at the end depends on timing. JS has no help();
// printing the method is the nearest thing.
import * as mp from 'multiprocessing';

export function test(x: number, y: number, { z = 0 }: { z?: number } = {}) {
  void [x, y, z]; // unused, as in the seed
  console.log('子程序正在运行');
}

if (mp.isMainModule(import.meta)) {
  const pool = new mp.Pool({ processes: 2 });
  await pool.apply(test, [2, 3, { z: 1 }]); // 阻塞 主程序(也就是主进程)
  pool.applyAsync(test, [2, 3, { z: 1 }]); // 不阻塞 主程序(也就是主进程)
  console.log('主程序运行结束');
  console.log(pool.apply);
  // Python terminates a pool left open when the interpreter exits. Node has no such
  // hook, so say it.
  await pool.terminate();
}
