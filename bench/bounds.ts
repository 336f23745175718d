/**
 * Bounded state figures (issue 9): each beside a baseline measured in the same run.
 *
 * (State-store operations against the history kept are in state.ts.)
 * - list_namespaces on the file backend, 40 secrets x 20 versions: warm (summaries cached by
 *   file identity) vs cold (every file decrypted, as every listing did before).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileBackend, createKeyFile } from '../src/adapters/file/index.js';
import type { FileBackend } from '../src/adapters/file/file-backend.js';
import { figure, measure, ms, table } from './stats.js';

/** A ratio far below 1, with enough digits to read. */
const fine = (a: number, b: number): string => `${(a / b).toFixed(4)}×`;

export async function runBoundsBench(options: { listings?: number } = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-list-'));
  await createKeyFile(join(dir, 'store.key'));
  const config = { type: 'file' as const, path: dir, key_file: join(dir, 'store.key'), max_versions: 20 };
  const writer = (await createFileBackend(config)) as FileBackend;
  for (let s = 0; s < 40; s++) {
    for (let v = 0; v < 20; v++) {
      await writer.put({ namespace: `team-${s % 5}/svc`, key: `K${s}`, value: `${v}:${'x'.repeat(2048)}`, secret_type: 'custom', access_tier: 'standard', metadata: { team: `t${s % 5}`, n: String(v) } });
    }
  }
  const listings = options.listings ?? 50;
  // Cold: a new backend instance each time (nothing cached: every file read and decrypted).
  const cold = await measure(Math.max(5, Math.floor(listings / 5)), 1, async () => (await createFileBackend(config)).listNamespaces());
  const reader = await createFileBackend(config);
  const warm = await measure(listings, 2, () => reader.listNamespaces());

  return [
    '### Bounded state (issue 9)',
    '',
    table([
      ['measure', 'ours p50', 'baseline p50', 'ratio p50', 'ours p99', 'baseline p99', 'ratio p99'],
      ['list_namespaces, file backend, 40 secrets x 20 versions: warm (summaries cached) vs cold (all decrypted)', ms(warm.p50), ms(cold.p50), (figure('list_namespaces p50, warm vs cold', warm.p50, cold.p50, 'ms'), fine(warm.p50, cold.p50)), ms(warm.p99), ms(cold.p99), fine(warm.p99, cold.p99)],
    ]),
    '',
    'The state stays bounded by the caps (approvals.max_pending_per_agent, max_pending_bytes_per_agent, tokens.max_active_per_agent) and pruning; the cost of a state operation against the history kept is in the state-store table.',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${await runBoundsBench()}\n`);
