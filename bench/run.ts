import { cpus, totalmem } from 'node:os';
import { runBoundsBench } from './bounds.js';
import { runContainerBench } from './container.js';
import { runCoreBench } from './core.js';
import { runEventStoreBench } from './event-store.js';
import { runExternalBench } from './external.js';
import { runNotifyBench } from './notify.js';
import { runPostgresBench } from './postgres.js';
import { runRemoteBench } from './remote.js';
import { runReplicasBench } from './replicas.js';
import { runStateBench } from './state.js';
import { recordedFigures } from './stats.js';
import { runTokenTimeBench } from './token-time.js';

/**
 * `npm run bench`: every figure beside a baseline measured in the same run, as a ratio,
 * because these machines are noisy. Prints markdown for bench/RESULTS.md; with `--json`, one
 * JSON document instead: the machine and one object per figure (name, ours, baseline, unit,
 * ratio, target, met), to compare runs with a script, and the tables on stderr.
 * (`npm run --silent bench -- --json` keeps npm's own banner off stdout.)
 * Each section is printed as it finishes; one that fails is reported and the run goes on.
 * `--only core,external` runs just the named sections (names as in the list below, spaces as
 * dashes: `event-store`, `token-time`), to measure one change without the whole run.
 */
const json = process.argv.includes('--json');
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? new Set((process.argv[onlyAt + 1] ?? '').split(',').map((name) => name.trim()).filter(Boolean)) : null;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const at = new Date().toISOString();
const tables = json ? process.stderr : process.stdout;
const failed: string[] = [];

const sections: Array<[string, () => Promise<string>]> = [
  ['core', () => runCoreBench()],
  ['remote', () => runRemoteBench()],
  ['event store', () => runEventStoreBench()],
  ['external', () => runExternalBench()],
  ['token time', () => runTokenTimeBench()],
  ['notify', () => runNotifyBench()],
  ['bounds', () => runBoundsBench()],
  ['state', () => runStateBench()],
  ['postgres', () => runPostgresBench()],
  ['replicas', () => runReplicasBench()],
  ['container', () => runContainerBench()],
];
const sectionKey = (name: string) => name.replace(/ /g, '-');
const usage = `Usage: npm run bench [-- [--json] [--only <sections>]]

Every figure beside a baseline measured in the same run, as a ratio (see bench/RESULTS.md).
  --json             one JSON document on stdout (machine, figures with ratio, target, met); tables on stderr
  --only <sections>  a comma-separated list of: ${sections.map(([name]) => sectionKey(name)).join(', ')}
                     (without it, every section runs; "container" starts the tests' own Docker engine)
  -h, --help         this text
`;
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(usage);
  process.exit(0);
}
// An argument we do not know is refused rather than ignored: ignoring it would start the whole
// run (tens of minutes, a Docker engine) when the person meant something else.
const unknownArgs = process.argv.slice(2).filter((arg, i, all) => arg !== '--json' && arg !== '--only' && all[i - 1] !== '--only');
if (unknownArgs.length > 0) {
  process.stderr.write(`bench: unknown argument ${unknownArgs.join(' ')}\n\n${usage}`);
  process.exit(2);
}
const unknownSections = only ? [...only].filter((name) => !sections.some(([known]) => sectionKey(known) === name)) : [];
if (only && (only.size === 0 || unknownSections.length > 0)) {
  process.stderr.write(`bench: --only takes a comma-separated list of sections: ${sections.map(([name]) => sectionKey(name)).join(', ')}${unknownSections.length ? ` (unknown: ${unknownSections.join(', ')})` : ''}\n`);
  process.exit(2);
}
tables.write(`Machine: ${machine}, ${at}\n\n`);
for (const [name, run] of sections) {
  if (only && !only.has(sectionKey(name))) continue;
  try {
    tables.write(`${await run()}\n\n`);
  } catch (error) {
    failed.push(name);
    tables.write(`### ${name}: FAILED\n\n${String((error as Error)?.stack ?? error).slice(0, 2000)}\n\n`);
  }
}
if (json) process.stdout.write(`${JSON.stringify({ machine, at, failed, measures: recordedFigures() }, null, 2)}\n`);
if (failed.length > 0) process.exitCode = 1;
