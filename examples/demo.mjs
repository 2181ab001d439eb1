// npm start: render a Mandelbrot image into a shared mp.Array, first in this one process,
// then with a Pool of one worker per core, check that both images agree, and print the
// speed-up.
//
// The workers write their rows straight into the shared array: no pixel is copied back,
// each task returns only how many rows it drew.
import * as mp from 'multiprocessing';
import { mandelbrotRows } from './mandelbrot.mjs';

const width = 1600;
const height = 1200;
const maxIter = 400;

/** Draw rows first, first + step, ... of the image (a pool task; exported for the workers). */
export function renderBand(image, width, height, maxIter, first, step) {
  const rows = [];
  for (let y = first; y < height; y += step) rows.push(y);
  mandelbrotRows(image, width, height, maxIter, rows);
  return rows.length;
}

/** Interleaved bands balance the load: the set's costly middle is shared by everyone. */
function bands(image, iterations, count) {
  return Array.from({ length: count }, (_, k) => [image, width, height, iterations, k, count]);
}

if (mp.isMainModule(import.meta)) {
  const cores = mp.cpuCount();

  // One process. A first, smaller render compiles the kernel, as the pool's warm-up does.
  const serial = mp.RawArray('i', width * height);
  renderBand(serial, width, height, 50, 0, 1);
  let start = performance.now();
  renderBand(serial, width, height, maxIter, 0, 1);
  const oneSeconds = (performance.now() - start) / 1000;

  // One worker per core. (`await using pool = ...` does the close where the syntax
  // exists: Node 24, or TypeScript.)
  const pool = new mp.Pool({ processes: cores });
  const image = mp.RawArray('i', width * height);
  let drawn;
  let allSeconds;
  try {
    await pool.starmap(renderBand, bands(image, 50, cores * 8));
    start = performance.now();
    drawn = await pool.starmap(renderBand, bands(image, maxIter, cores * 8));
    allSeconds = (performance.now() - start) / 1000;
  } finally {
    pool.close();
    await pool.join();
  }

  let same = drawn.reduce((a, b) => a + b, 0) === height;
  for (let i = 0; same && i < image.length; i++) same = image[i] === serial[i];
  let inside = 0;
  for (const n of image) if (n === maxIter) inside++;

  console.log(`Mandelbrot ${width}x${height}, ${maxIter} iterations max, into one shared mp.Array`);
  console.log(`  1 process:   ${oneSeconds.toFixed(3)} s`);
  console.log(`  ${cores} processes: ${allSeconds.toFixed(3)} s (mp.Pool, ${cores * 8} tasks)`);
  console.log(`  speed-up:    ${(oneSeconds / allSeconds).toFixed(2)}x on ${cores} cores`);
  console.log(`  results agree: ${same ? 'yes' : 'NO'} (${inside} points inside the set)`);
  if (!same) process.exitCode = 1;
}
