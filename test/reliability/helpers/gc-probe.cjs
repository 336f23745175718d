/**
 * Test-only preload for the soak suites, never part of the product: the soak starts the built
 * server as `node --expose-gc --require <this file> dist/cli/main.js …`. On SIGUSR2 it runs a
 * full garbage collection (twice, so weak references and finalizers settle) and writes
 * `process.memoryUsage()` as JSON to the file named by ASS_TEST_GC_PROBE_OUT (renamed into
 * place, so the test never reads a half-written file). It answers nothing on stdout, which is
 * the MCP channel, and adds no listener anywhere else.
 */
'use strict';
const fs = require('node:fs');

const out = process.env.ASS_TEST_GC_PROBE_OUT;
if (out && typeof global.gc === 'function') {
  process.on('SIGUSR2', () => {
    global.gc();
    global.gc();
    const usage = process.memoryUsage();
    fs.writeFileSync(`${out}.tmp`, JSON.stringify({ ...usage, at: Date.now() }));
    fs.renameSync(`${out}.tmp`, out);
  });
}
