// A demo worker: attaches the shared image by name and renders the rows it is given.
import * as mp from 'multiprocessing';
import { mandelbrotRows } from './mandelbrot.mjs';

process.on('message', ({ name, width, height, maxIter, rows }) => {
  const shm = new mp.SharedMemory({ name });
  const image = new Int32Array(shm.buf.buffer, shm.buf.byteOffset, width * height);
  mandelbrotRows(image, width, height, maxIter, rows);
  shm.close();
  process.send('done');
});
