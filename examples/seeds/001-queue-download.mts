// Seed 001, example 1: two processes download the images listed in a shared Queue.
//
//   def download(q: Queue):
//       while True:
//           url = q.get()
//           r = requests.get(url)
//           img_name = os.path.join('./', url.split('/')[-1])
//           with open(img_name, 'wb') as f: f.write(r.content)
//           if q.empty(): break
//   tasks = Queue(); tasks.put(url1); tasks.put(url2)
//   p1, p2 = Process(target=download, args=(tasks,)) x2; start both; join both
//   print("主进程运行结束")
//
// requests.get becomes fetch. The images land in the current directory. URLs given on
// the command line replace the seed's two (the tests point them at a local server).
//
// One change: the seed's q.get() has no timeout, so when one process has taken both URLs
// the other waits forever and the join never returns (the seed only gets away with it
// while downloads are slow). Here get gives up after a second and that process stops.
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as mp from 'multiprocessing';

export async function download(q: mp.Queue) {
  while (true) {
    let url: string;
    try {
      url = (await q.get({ timeout: 1 })) as string;
    } catch (e) {
      if (e instanceof mp.Empty) break;
      throw e;
    }
    const r = await fetch(url);
    const imgName = path.join('./', url.split('/').at(-1)!);
    // 把服务器返回的信息(图片)保存到文件中
    await writeFile(imgName, Buffer.from(await r.arrayBuffer()));
    if (q.empty()) break;
  }
}

if (mp.isMainModule(import.meta)) {
  const tasks = new mp.Queue();
  const urls = process.argv.slice(2);
  if (urls.length === 0) {
    urls.push(
      'https://dss0.bdstatic.com/-0U0bnSm1A5BphGlnYG/tam-ogel/067d0e8627b667778ea8729e6e480a47_254_96.png',
      'https://dss0.bdstatic.com/-0U0bnSm1A5BphGlnYG/tam-ogel/3f52ff39e52f182d1bfd9ce061e9c6a6_254_144.jpg',
    );
  }
  // put相当于list中的append方法
  for (const url of urls) await tasks.put(url);

  // 创建两个来执行download函数的进程p1,p2
  const p1 = new mp.Process({ target: download, args: [tasks] });
  const p2 = new mp.Process({ target: download, args: [tasks] });
  p1.start();
  p2.start();
  await p1.join();
  await p2.join();
  console.log('主进程运行结束');
}
