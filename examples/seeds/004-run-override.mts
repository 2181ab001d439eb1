// Seed 004, example 4: run(): a Process with no target runs its run(), here replaced on
// the instance.
//
//   def fun1():
//       print('this is fun1', time.ctime()); time.sleep(2); print('fun1 finish', time.ctime())
//   p = Process(); p.run = fun1; p.start(); p.join()
//   print('finish', b - a)
//
// Expected: this is fun1 <time>, fun1 finish <time + 2 s>, finish ~2.
import * as mp from 'multiprocessing';

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));
const time = () => Date.now() / 1000;

// time.ctime(): 'Mon Oct  9 17:30:53 2017'
function ctime(d = new Date()) {
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()];
  const two = (n: number) => String(n).padStart(2, '0');
  const clock = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return `${day} ${month} ${String(d.getDate()).padStart(2, ' ')} ${clock} ${d.getFullYear()}`;
}

export async function fun1() {
  console.log('this is fun1', ctime());
  await sleep(2);
  console.log('fun1 finish', ctime());
}

if (mp.isMainModule(import.meta)) {
  const a = time();
  const p = new mp.Process();
  p.run = fun1;
  p.start();
  await p.join();
  const b = time();
  console.log('finish', b - a);
}
