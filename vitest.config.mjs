import { defineConfig } from 'vitest/config';

// Tests import the built package ('multiprocessing' resolves to dist/ through the
// package's own exports), so they exercise exactly what users install.
export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,mts,js,mjs}'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    server: { deps: { external: [/\/dist\//] } },
    // Leak checks: no file leaves processes running; the run leaves nothing in /dev/shm.
    setupFiles: ['test/setup/processes.ts', 'test/setup/shm.file.ts'],
    globalSetup: ['test/setup/shm.global.ts'],
  },
});
