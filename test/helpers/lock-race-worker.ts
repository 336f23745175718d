/**
 * One process contending for a withFileLock, for test/unit/file-lock-race.test.ts.
 * usage: lock-race-worker.ts <name> <dir> <delayMs> <stallAfterStaleLookMs> <holdMs>
 *
 * It logs `ready` once loaded, waits for the test to write `<dir>/go` (a start time in ms),
 * then starts `delayMs` after that time.
 *
 * With a stall, the process pauses right after it first looks at a lock file's age (statSync on
 * `*.lock`), as if the OS had descheduled it between judging the lock stale and acting on it.
 * Inside the lock it reads data.json, waits `holdMs`, appends its name and writes it back, so
 * two holders at once show up as a lost name. Events go to events.log, one line each.
 * A `holdMs` of -1 holds until SIGTERM, which exits through process.exit (as `serve` does).
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const [name, dir, delayMs, stallMs, holdMs] = process.argv.slice(2) as [string, string, string, string, string];
const log = (event: string) => fs.appendFileSync(`${dir}/events.log`, `${JSON.stringify({ t: Date.now(), name, event })}\n`);

let stall = Number(stallMs);
if (stall > 0) {
  const original = fs.statSync;
  (fs as { statSync: unknown }).statSync = function statSync(this: unknown, file: fs.PathLike, ...rest: unknown[]) {
    const result = (original as (...args: unknown[]) => unknown).call(this, file, ...rest);
    if (stall > 0 && String(file).endsWith('.lock')) {
      const ms = stall;
      stall = 0;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    }
    return result;
  };
  syncBuiltinESMExports();
}

const { withFileLock } = await import('../../src/shared/durable-file.js');
log('ready');
const deadline = Date.now() + 60_000;
while (!fs.existsSync(`${dir}/go`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
const startAt = Number(fs.readFileSync(`${dir}/go`, 'utf8')) + Number(delayMs);
while (Date.now() < startAt) await new Promise((r) => setTimeout(r, 1));
try {
  await withFileLock(`${dir}/secret`, async () => {
    log('enter');
    if (Number(holdMs) < 0) {
      process.once('SIGTERM', () => process.exit(0));
      // A timer keeps the process alive (the lock's own refresh timer does not).
      await new Promise(() => setInterval(() => undefined, 1_000));
    }
    const names = JSON.parse(fs.readFileSync(`${dir}/data.json`, 'utf8')) as string[];
    await new Promise((r) => setTimeout(r, Number(holdMs)));
    fs.writeFileSync(`${dir}/data.json`, JSON.stringify([...names, name]));
    log('exit');
  }, { staleMs: 5_000 });
  log('resolved');
} catch (error) {
  log(`rejected ${(error as { code?: string }).code ?? String(error)}`);
}
