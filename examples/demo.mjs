// npm start: render a Mandelbrot image into shared memory, first with one process, then
// with one process per core, check both images agree, and print the speed-up.
//
// Each worker writes its rows straight into one shared Int32Array: no result is copied
// back. (Workers are plain child_process forks that attach the segment by name; once
// mp.Process and mp.Pool land, this becomes a Pool over an mp.Array.)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as mp from 'multiprocessing';

const width = 1600;
const height = 1200;
const maxIter = 400;
const cores = (await import('node:os')).availableParallelism();

function startWorkers(n) {
  const worker = fileURLToPath(new URL('./demo-worker.mjs', import.meta.url));
  return Array.from({ length: n }, () => fork(worker, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
}

async function render(workers) {
  const shm = new mp.SharedMemory({ create: true, size: width * height * 4 });
  const image = new Int32Array(shm.buf.buffer, shm.buf.byteOffset, width * height);
  const start = performance.now();
  // Interleaved rows balance the load: the set's costly middle is shared by everyone.
  await Promise.all(
    workers.map((w, k) => {
      const rows = [];
      for (let y = k; y < height; y += workers.length) rows.push(y);
      w.send({ name: shm.name, width, height, maxIter, rows });
      return once(w, 'message');
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const copy = image.slice();
  shm.close();
  shm.unlink();
  return { seconds, image: copy };
}

const workers = startWorkers(cores);
// Warm-up: the first render also compiles the kernel in every worker.
await render(workers);
const one = await render(workers.slice(0, 1));
const all = await render(workers);
for (const w of workers) w.disconnect();

let same = one.image.length === all.image.length;
for (let i = 0; same && i < one.image.length; i++) same = one.image[i] === all.image[i];
let inside = 0;
for (const n of all.image) if (n === maxIter) inside++;

console.log(`Mandelbrot ${width}x${height}, ${maxIter} iterations max, into one shared Int32Array`);
console.log(`  1 process:   ${one.seconds.toFixed(3)} s`);
console.log(`  ${cores} processes: ${all.seconds.toFixed(3)} s`);
console.log(`  speed-up:    ${(one.seconds / all.seconds).toFixed(2)}x on ${cores} cores`);
console.log(`  results agree: ${same ? 'yes' : 'NO'} (${inside} points inside the set)`);
if (!same) process.exitCode = 1;
