// Element access on mp.Array('d', 1e6) against a plain Float64Array: the same read loop
// and the same write loop, each compiled separately per array kind (so every loop is
// monomorphic, as in real code that works on one kind of array), warmed, then timed in
// interleaved rounds; the median round is reported.
//
//   node bench/element-access.mjs [--rounds 15] [--n 1000000]
//
// Prints JSON lines: {"bench":"element-access","op":"read"|"write","impl":...,"value":ns,"unit":"ns/elem"}
// and one {"bench":"element-access","op":...,"impl":"ratio mp:Array / node:Float64Array",...}.
// Also measures the design alternative (a plain Float64Array over the same shared
// memory with non-enumerable extra properties) for the record.
import * as mp from 'multiprocessing';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = opt('n', 1_000_000);
const ROUNDS = opt('rounds', 15);
const REPS = 10; // loops over the array per timed sample

// Fresh functions from source, one per array kind, so each stays monomorphic. The source
// must differ (a comment is enough): V8 caches `new Function` by source text and then the
// closures share one SharedFunctionInfo and deoptimize each other ("wrong map").
let uid = 0;
const makeRead = () =>
  new Function(
    'a',
    'reps',
    `/* ${uid++} */ let s = 0; for (let r = 0; r < reps; r++) for (let i = 0; i < a.length; i++) s += a[i]; return s;`,
  );
const makeWrite = () =>
  new Function(
    'a',
    'reps',
    `/* ${uid++} */ for (let r = 0; r < reps; r++) for (let i = 0; i < a.length; i++) a[i] = i * 0.5 + r; return a[0];`,
  );

function plainWithProps() {
  const raw = mp.RawArray('d', N);
  const a = new Float64Array(raw.buffer, raw.byteOffset, N);
  Object.defineProperties(a, {
    typecode: { value: 'd' },
    getLock: { value: () => null },
    getObj: { value: () => a },
    keep: { value: raw },
  });
  return a;
}

const impls = [
  { impl: 'mp:Array', arr: mp.Array('d', N) },
  { impl: 'node:Float64Array', arr: new Float64Array(N) },
  { impl: 'alt:Float64Array+props', arr: plainWithProps() },
];
for (const x of impls) {
  x.read = makeRead();
  x.write = makeWrite();
  x.samples = { read: [], write: [] };
}

let sink = 0;
function time(fn, arr) {
  const t0 = process.hrtime.bigint();
  sink += fn(arr, REPS);
  return Number(process.hrtime.bigint() - t0) / (REPS * arr.length);
}

// Warm-up: let every loop reach the optimizing tier.
for (let i = 0; i < 5; i++) {
  for (const x of impls) {
    time(x.write, x.arr);
    time(x.read, x.arr);
  }
}

for (let r = 0; r < ROUNDS; r++) {
  for (const x of r % 2 === 0 ? impls : [...impls].reverse()) {
    x.samples.write.push(time(x.write, x.arr));
    x.samples.read.push(time(x.read, x.arr));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const round = (x) => Math.round(x * 10000) / 10000;
const result = {};
for (const op of ['read', 'write']) {
  for (const x of impls) {
    const value = median(x.samples[op]);
    result[`${op}:${x.impl}`] = value;
    console.log(JSON.stringify({ bench: 'element-access', op, impl: x.impl, value: round(value), unit: 'ns/elem', n: N }));
  }
  const ratio = result[`${op}:mp:Array`] / result[`${op}:node:Float64Array`];
  console.log(
    JSON.stringify({ bench: 'element-access', op, impl: 'ratio mp:Array / node:Float64Array', value: round(ratio), unit: 'x' }),
  );
}
if (Number.isNaN(sink)) console.log('');
