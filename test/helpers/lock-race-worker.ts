/**
 * One process contending for a withFileLock, for test/unit/file-lock-race.test.ts.
 * usage: lock-race-worker.ts <name> <dir> <stall: 0|1> <hold: release|sigterm|0>
 *
 * Driven by events, not by time: it logs `ready` once loaded and starts when the test creates
 * `<dir>/go-<name>`.
 *
 * With stall 1, the process blocks (synchronously, as if the OS had descheduled it) right after
 * it first looks at a lock file's age (statSync on `*.lock`), logging `stalled`, until the test
 * creates `<dir>/resume-<name>`; it logs `resumed`, and `acted` once the synchronous work on
 * that look is done (the next turn of the event loop).
 * Inside the lock it reads data.json, holds (until `<dir>/release-<name>` exists with
 * `release`), appends its name and writes it back, so two holders at once show up as a lost
 * name. `sigterm` holds until SIGTERM, which exits through process.exit (as `serve` does).
 * Events go to events.log, one line each, in the order they happened on this machine.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const [name, dir, stallArg, hold] = process.argv.slice(2) as [string, string, string, string];
const log = (event: string) => fs.appendFileSync(`${dir}/events.log`, `${JSON.stringify({ name, event })}\n`);
const deadline = Date.now() + 120_000;

/** Blocks this whole process (no event loop) until `file` exists; bounded. */
function blockUntil(file: string): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!fs.existsSync(file) && Date.now() < deadline) Atomics.wait(cell, 0, 0, 5);
}

async function waitFor(file: string): Promise<void> {
  while (!fs.existsSync(file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

let stall = stallArg === '1';
if (stall) {
  const original = fs.statSync;
  (fs as { statSync: unknown }).statSync = function statSync(this: unknown, file: fs.PathLike, ...rest: unknown[]) {
    const result = (original as (...args: unknown[]) => unknown).call(this, file, ...rest);
    if (stall && String(file).endsWith('.lock')) {
      stall = false;
      log('stalled');
      blockUntil(`${dir}/resume-${name}`);
      log('resumed');
      setImmediate(() => log('acted'));
    }
    return result;
  };
  syncBuiltinESMExports();
}

const { withFileLock } = await import('../../src/shared/durable-file.js');
log('ready');
await waitFor(`${dir}/go-${name}`);
try {
  await withFileLock(`${dir}/secret`, async () => {
    log('enter');
    if (hold === 'sigterm') {
      process.once('SIGTERM', () => process.exit(0));
      // A timer keeps the process alive (the lock's own refresh timer does not).
      await new Promise(() => setInterval(() => undefined, 1_000));
    }
    const names = JSON.parse(fs.readFileSync(`${dir}/data.json`, 'utf8')) as string[];
    if (hold === 'release') await waitFor(`${dir}/release-${name}`);
    fs.writeFileSync(`${dir}/data.json`, JSON.stringify([...names, name]));
    log('exit');
  }, { staleMs: 5_000 });
  log('resolved');
} catch (error) {
  log(`rejected ${(error as { code?: string }).code ?? String(error)}`);
}
