/**
 * Bounded state figures (issue 9): each beside a baseline measured in the same run.
 *
 * - A state transaction (one token use counted: a write) with 1,000 settled approvals kept vs
 *   10: the cost that grows with history. Beside it, the same transaction done the way it was
 *   before (re-read and parse after every write, serialize twice) on the same 1,000 records.
 * - list_namespaces on the file backend, 40 secrets x 20 versions: warm (summaries cached by
 *   file identity) vs cold (every file decrypted, as every listing did before).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileBackend, createKeyFile } from '../src/adapters/file/index.js';
import type { FileBackend } from '../src/adapters/file/file-backend.js';
import { createFileStateStore, type State } from '../src/approvals/state-store.js';
import type { ApprovalRecord } from '../src/approvals/types.js';
import { withFileLock, writeFileAtomic } from '../src/shared/durable-file.js';
import { figure, measure, ms, ratio, table } from './stats.js';

function settled(i: number, now: Date): ApprovalRecord {
  const at = new Date(now.getTime() - 60_000).toISOString();
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, kind: 'secret_access', agent_id: `agent-${i % 7}`,
    scopes: [`secrets:read:team-${i % 13}/service-${i}/API_KEY`], ttl_ms: 3_600_000, reason: `get_secret on team-${i % 13}/service-${i}/API_KEY (critical tier)`,
    rule: 'tier:critical', created_at: at, expires_at: new Date(now.getTime() + 900_000).toISOString(), approvers_required: 1, delay_ms: 0,
    approvals: [], status: 'denied', denied_by: 'admin', resolved_at: at,
  };
}

async function stateWithHistory(records: number): Promise<{ path: string; store: ReturnType<typeof createFileStateStore> }> {
  const path = join(mkdtempSync(join(tmpdir(), 'ass-bench-state-')), 'state.json');
  const store = createFileStateStore(path);
  const now = new Date();
  await store.transact((state) => {
    for (let i = 0; i < records; i++) state.approvals[settled(i, now).id] = settled(i, now);
    state.tokens.t = { id: 't', agent_id: 'agent-0', scopes: ['secrets:read:a/*'], issued_at: now.toISOString(), expires_at: new Date(now.getTime() + 86_400_000).toISOString(), uses: 0 };
  });
  return { path, store };
}

/** The transaction as it was before: read back and parse after every write, serialize twice. */
async function previousTransact(path: string, fn: (s: State) => void): Promise<void> {
  await withFileLock(path, async () => {
    const state = structuredClone(JSON.parse(readFileSync(path, 'utf8')) as State);
    const before = JSON.stringify(state);
    fn(state);
    const after = JSON.stringify(state);
    if (after !== before) await writeFileAtomic(path, after);
  });
}

/** A ratio far below 1, with enough digits to read. */
const fine = (a: number, b: number): string => `${(a / b).toFixed(4)}×`;

export async function runBoundsBench(options: { transactions?: number; listings?: number } = {}): Promise<string> {
  const n = options.transactions ?? 200;
  const useToken = (s: State) => {
    s.tokens.t!.uses += 1;
  };
  const small = await stateWithHistory(10);
  const large = await stateWithHistory(1000);
  const previous = await stateWithHistory(1000);
  const t10 = await measure(n, 10, () => small.store.transact(useToken));
  const t1000 = await measure(n, 10, () => large.store.transact(useToken));
  const tPrev = await measure(n, 10, () => previousTransact(previous.path, useToken));
  const bytes = (p: string) => readFileSync(p).length;

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
      [`state transaction (a token use), 1,000 settled approvals (${bytes(large.path)} B) vs 10 (${bytes(small.path)} B)`, ms(t1000.p50), ms(t10.p50), figure('state transaction p50, 1,000 settled approvals vs 10', t1000.p50, t10.p50, 'ms'), ms(t1000.p99), ms(t10.p99), ratio(t1000.p99, t10.p99)],
      ['state transaction, 1,000 settled: now vs before (read back after each write, serialized twice)', ms(t1000.p50), ms(tPrev.p50), figure('state transaction p50, now vs before', t1000.p50, tPrev.p50, 'ms'), ms(t1000.p99), ms(tPrev.p99), ratio(t1000.p99, tPrev.p99)],
      ['list_namespaces, file backend, 40 secrets x 20 versions: warm (summaries cached) vs cold (all decrypted)', ms(warm.p50), ms(cold.p50), (figure('list_namespaces p50, warm vs cold', warm.p50, cold.p50, 'ms'), fine(warm.p50, cold.p50)), ms(warm.p99), ms(cold.p99), fine(warm.p99, cold.p99)],
    ]),
    '',
    'The state file stays bounded by the caps (approvals.max_pending_per_agent, max_pending_bytes_per_agent) and pruning (lapsed requests and expired tokens after 1 h); what still grows with history is the 7-day record of human decisions.',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${await runBoundsBench()}\n`);
