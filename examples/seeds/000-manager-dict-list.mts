// Seed 000, example 3: a Manager's dict and list, changed by a child.
//
//   def f(d, l):
//       d["name"] = "zhangyanlin"; d["age"] = 18; d["Job"] = "pythoner"; l.reverse()
//   with Manager() as man:
//       d = man.dict(); l = man.list(range(10))
//       p = Process(target=f, args=(d, l)); p.start(); p.join()
//       print(d); print(l)
//
// Python's print(d) asks the manager for the dict's text; here copy() fetches a plain
// snapshot and console.log prints that. (The output printed in the seed,
// {0.25: None, 1: '1', '2': 2}, belongs to the Python docs' version of the code.)
import * as mp from 'multiprocessing';

type Manager = Awaited<ReturnType<typeof mp.Manager>>;
type DictProxy = Awaited<ReturnType<Manager['dict']>>;
type ListProxy = Awaited<ReturnType<Manager['list']>>;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export async function f(d: DictProxy, l: ListProxy) {
  await d.set('name', 'zhangyanlin');
  await d.set('age', 18);
  await d.set('Job', 'pythoner');
  await l.reverse();
}

if (mp.isMainModule(import.meta)) {
  await using man = await mp.Manager();
  const d = await man.dict();
  const l = await man.list(range(10));
  const p = new mp.Process({ target: f, args: [d, l] });
  p.start();
  await p.join();
  console.log(await d.copy());
  console.log(await l.copy());
}
