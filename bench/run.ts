import { cpus, totalmem } from 'node:os';
import { runBoundsBench } from './bounds.js';
import { runCoreBench } from './core.js';
import { runExternalBench } from './external.js';
import { runRemoteBench } from './remote.js';

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
  await runExternalBench(),
  '',
  await runBoundsBench(),
];
process.stdout.write(`${sections.join('\n')}\n`);
