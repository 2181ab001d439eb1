// Seed 000, example 2: a Value and an Array in shared memory, changed by two children.
//
//   def func(a, b):
//       a.value = 3.333333333333333
//       for i in range(len(b)): b[i] = -b[i]
//   num = Value('d', 0.0); arr = Array('i', range(11))
//   (two Processes run func(num, arr); join both; print num.value and each element)
//
// Both children negate every element, so the array ends where it started: 0..10. (The
// output printed in the seed, 3.1415927 and 0..-9, belongs to a different version of
// the code.) Element updates are not locked, as in Python: if the two children
// interleave on one element it can end up negative.
import * as mp from 'multiprocessing';

type SharedNumber = ReturnType<typeof mp.Value>;
type SharedInts = ReturnType<typeof mp.Array>;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function func(a: SharedNumber, b: SharedInts) {
  a.value = 3.333333333333333;
  for (let i = 0; i < b.length; i++) b[i] = -b[i];
}

if (mp.isMainModule(import.meta)) {
  const num = mp.Value('d', 0.0);
  const arr = mp.Array('i', range(11));
  const c = new mp.Process({ target: func, args: [num, arr] });
  const d = new mp.Process({ target: func, args: [num, arr] });
  c.start();
  d.start();
  await c.join();
  await d.join();
  console.log(num.value);
  for (const i of arr) console.log(i);
}
