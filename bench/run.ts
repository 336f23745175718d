import { cpus, totalmem } from 'node:os';
import { runBoundsBench } from './bounds.js';
import { runCoreBench } from './core.js';
import { runEventStoreBench } from './event-store.js';
import { runExternalBench } from './external.js';
import { runNotifyBench } from './notify.js';
import { runRemoteBench } from './remote.js';
import { recordedFigures } from './stats.js';
import { runTokenTimeBench } from './token-time.js';

/**
 * `npm run bench`: every figure beside a baseline measured in the same run, as a ratio,
 * because these machines are noisy. Prints markdown for bench/RESULTS.md; with `--json`, one
 * JSON document instead: the machine and one object per figure (name, ours, baseline, unit,
 * ratio, target, met), to compare runs with a script, and the tables on stderr.
 */
const json = process.argv.includes('--json');
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const at = new Date().toISOString();
const sections: string[] = [
  `Machine: ${machine}, ${at}`,
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
];
if (json) {
  process.stdout.write(`${JSON.stringify({ machine, at, measures: recordedFigures() }, null, 2)}\n`);
  // The tables too, for a human, on stderr: stdout stays one JSON document.
  process.stderr.write(`${sections.join('\n')}\n`);
} else process.stdout.write(`${sections.join('\n')}\n`);
