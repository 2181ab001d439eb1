// Seed 001, example 7: daemon = false and no join: the main process finishes its own
// code at once, and the children go on until they are done.
//
//   p1 = Process(target=play_music); p2 = Process(target=play_lol)
//   p1.daemon = False; p2.daemon = False
//   p1.start(); p2.start()
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
  const startTime = time();
  const p1 = new mp.Process({ target: playMusic });
  const p2 = new mp.Process({ target: playLol });

  // 守护进程,使用在进程启动之前。默认值是False,当为True的时候,主进程结束,会强制结束子进程
  p1.daemon = false;
  p2.daemon = false;

  p1.start();
  p2.start();

  const endTime = time();
  // 统计子进程所用时间
  console.log(`多进程所用的时间${endTime - startTime}`);
  console.log('主进程pid: ', process.pid);
}
