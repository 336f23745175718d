/**
 * Worker for the file-lease tests: takes the lease on <target> (idle limit 60 s, so only a
 * request or death makes it let go), prints `held`, then either SIGKILLs itself (`die`) or runs
 * a section every 5 ms until <ms> have passed (`busy`), printing `released` when it let go.
 */
import { FileLease } from '../../src/shared/file-lease.js';

const [target, mode, ms] = process.argv.slice(2) as [string, 'die' | 'busy', string];
const lease = new FileLease(target, { idleMs: 60_000 });
await lease.run(() => undefined);
process.stdout.write('held\n');
if (mode === 'die') process.kill(process.pid, 'SIGKILL');
const until = Date.now() + Number(ms);
let reported = false;
while (Date.now() < until) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  if (!lease.held && !reported) {
    reported = true;
    process.stdout.write('released\n');
  }
  // Only sections while it holds the lease: taking it back would race the test's own lock.
  if (lease.held) await lease.run(() => undefined);
}
lease.release();
