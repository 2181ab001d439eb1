// The numeric kernel of the demo: escape-time iteration counts of the Mandelbrot set.
export function mandelbrotRows(image, width, height, maxIter, rows) {
  for (const y of rows) {
    const ci = (y / height) * 2.4 - 1.2;
    for (let x = 0; x < width; x++) {
      const cr = (x / width) * 3.2 - 2.2;
      let zr = 0;
      let zi = 0;
      let n = 0;
      while (n < maxIter && zr * zr + zi * zi <= 4) {
        const t = zr * zr - zi * zi + cr;
        zi = 2 * zr * zi + ci;
        zr = t;
        n++;
      }
      image[y * width + x] = n;
    }
  }
}
