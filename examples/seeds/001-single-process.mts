// Seed 001, example 5: the two tasks run one after the other in one process (~10 s).
//
//   def play_music():
//       print("子进程p1,PID:", os.getpid())
//       for i in range(5): print('play music ...'); time.sleep(1)
//   def play_lol(): (the same, "子进程p2" and 'play lol ...')
//   start1 = time.time(); play_music(); play_lol(); end1 = time.time()
//   print(f"单进程使用时间是:{end1 - start1:.2f}")
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
  // 1.第一种方式:运行了10秒
  const start1 = time();
  await playMusic();
  await playLol();
  const end1 = time();
  console.log(`单进程使用时间是:${(end1 - start1).toFixed(2)}`);
}
