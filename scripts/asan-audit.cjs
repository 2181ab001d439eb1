// Preloaded (NODE_OPTIONS=--require) into every Node process of `npm run test:asan`:
// writes one line per native addon the process loads, with whether libasan is mapped
// into it, to the file MP_ASAN_AUDIT names. scripts/test-asan.mjs reads the file after
// the run to show that every process that loaded multiprocessing.node loaded the
// sanitized one. Logged before the load, so a process that dies later still counts.
'use strict';
const fs = require('node:fs');

const log = process.env.MP_ASAN_AUDIT;
if (log) {
  const dlopen = process.dlopen;
  process.dlopen = function auditedDlopen(module, filename, ...rest) {
    const asan = /\/libasan\.so/.test(fs.readFileSync('/proc/self/maps', 'utf8'));
    fs.appendFileSync(log, `${JSON.stringify({ pid: process.pid, addon: filename, asan })}\n`);
    return dlopen.call(this, module, filename, ...rest);
  };
}
