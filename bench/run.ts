import { cpus, totalmem } from 'node:os';
import { runBoundsBench } from './bounds.js';
import { runCoreBench } from './core.js';
import { runEventStoreBench } from './event-store.js';
import { runExternalBench } from './external.js';
import { runNotifyBench } from './notify.js';
import { runPostgresBench } from './postgres.js';
import { runRemoteBench } from './remote.js';
import { runStateBench } from './state.js';
import { runTokenTimeBench } from './token-time.js';

/**
 * `npm run bench`: every figure beside a baseline measured in the same run, as a ratio,
 * because these machines are noisy. Prints markdown for bench/RESULTS.md.
 */
const sections: string[] = [
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString()}`,
  '',
  await runCoreBench(),
  '',
  await runRemoteBench(),
  '',
  await runEventStoreBench(),
  '',
  await runExternalBench(),
  '',
  await runTokenTimeBench(),
  '',
  await runNotifyBench(),
  '',
  await runBoundsBench(),
  '',
  await runStateBench(),
  '',
  await runPostgresBench(),
];
process.stdout.write(`${sections.join('\n')}\n`);
