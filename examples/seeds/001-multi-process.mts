// Seed 001, example 6: the same two tasks in two processes at once (~5 s).
//
//   p1 = Process(target=play_music); p2 = Process(target=play_lol)
//   p1.start(); p2.start(); p1.join(); p2.join()
//   print(f"多进程所用的时间{end_time-start_time}")
//   print("主进程pid: ", os.getpid())
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
const time = () => Date.now() / 1000;

export async function playMusic() {
  console.log('子进程p1,PID:', process.pid);
  for (let i = 0; i < 5; i++) {
    console.log('play music ...');
    await sleep(1);
  }
}

export async function playLol() {
  console.log('子进程p2,PID:', process.pid);
  for (let i = 0; i < 5; i++) {
    console.log('play lol ...');
    await sleep(1);
  }
}

if (mp.isMainModule(import.meta)) {
  // 1.第二种方式:使用多进程运行,运行了5秒,说明了在同时运行
  const startTime = time();
  const p1 = new mp.Process({ target: playMusic });
  const p2 = new mp.Process({ target: playLol });

  p1.start(); // 操作系统 启动一个进程 用来运行 target=play_music 的进程
  p2.start();

  await p1.join();
  await p2.join(); // 代表 运行完p1与p2的子进程后 在运行主进

  const endTime = time();
  // 统计子进程所用时间
  console.log(`多进程所用的时间${endTime - startTime}`);
  console.log('主进程pid: ', process.pid);
}
