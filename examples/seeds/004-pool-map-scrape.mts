// Seed 004, example 9: Pool.map of a scraper over a list of URLs.
//
//   def scrape(url):
//       try: print(requests.get(url))
//       except ConnectionError: print('Error Occured', url)
//       finally: print('URL', url, 'Scraped')
//   pool = Pool()
//   urls = ['https://www.baidu.com', 'http://www.meituan.com/', 'http://blog.csdn.net/',
//           'http://xxxyxxx.net']
//   pool.map(scrape, urls)
//
// requests.get becomes fetch; a response prints as requests prints it, <Response [200]>,
// and a connection failure (fetch's "fetch failed") is the ConnectionError. URLs given on
// the command line replace the seed's four (the tests point them at a local server). The
// seed ran in IPython, which echoes map's result, [None, None, None, None]; this prints
// it. The starting code sits under the guard (the seed runs it at the top level).
import * as mp from 'multiprocessing';

function isConnectionError(e: unknown) {
  return e instanceof TypeError && e.message === 'fetch failed';
}

export async function scrape(url: string) {
  try {
    const r = await fetch(url);
    await r.arrayBuffer();
    console.log(`<Response [${r.status}]>`);
  } catch (e) {
    if (!isConnectionError(e)) throw e;
    console.log('Error Occured', url);
  } finally {
    console.log('URL', url, 'Scraped');
  }
}

if (mp.isMainModule(import.meta)) {
  const pool = new mp.Pool();
  const urls = process.argv.slice(2);
  if (urls.length === 0) {
    urls.push('https://www.baidu.com', 'http://www.meituan.com/', 'http://blog.csdn.net/', 'http://xxxyxxx.net');
  }
  console.log(await pool.map(scrape, urls));
  // Python terminates a pool left open when the interpreter exits. Node has no such
  // hook, so say it.
  await pool.terminate();
}
