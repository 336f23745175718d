/**
 * State-store operation latency against the history kept (issue 9 finding 1, issue 10): each
 * operation timed on a store holding 10,000 records (approvals decided by humans and live tokens,
 * spread over 1,000 agents) beside the same operation on a store holding 10, in the same run.
 * A ratio near 1 means an operation's cost does not grow with the history. Then the same
 * operations on PostgreSQL (a throwaway local server, as the tests start) beside the file store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApprovalRecord, TokenRecord } from '../src/state/records.js';
import { createFileStateStore } from '../src/state/file-store.js';
import type { StateStore } from '../src/state/store.js';
import { DEFAULT_PENDING_LIMITS } from '../src/state/rules.js';
import { applyMigrations, createPgDatabase } from '../src/shared/pg/index.js';
import { STATE_MIGRATIONS } from '../src/state/pg-migrations.js';
import { createPgStateStore } from '../src/state/pg-store.js';
import { postgresPeerMissing, startPostgresPeer } from '../test/helpers/postgres-peer.js';
import { figure, measure, ms, ratio, table, type Summary } from './stats.js';

function decided(i: number, now: Date): ApprovalRecord {
  const at = new Date(now.getTime() - 60_000).toISOString();
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, kind: 'secret_access', agent_id: `agent-${i % 1000}`,
    scopes: [`secrets:read:team-${i % 13}/service-${i}/API_KEY`], ttl_ms: 3_600_000, reason: `get_secret on team-${i % 13}/service-${i}/API_KEY (critical tier)`,
    rule: 'tier:critical', created_at: at, expires_at: new Date(now.getTime() + 900_000).toISOString(), approvers_required: 1, delay_ms: 0,
    approvals: [], status: 'denied', denied_by: 'admin', resolved_at: at,
  };
}

function token(id: string, agentId: string, now: Date, maxUses?: number): TokenRecord {
  return { id, agent_id: agentId, scopes: ['secrets:read:a/*'], issued_at: now.toISOString(), expires_at: new Date(now.getTime() + 86_400_000).toISOString(), uses: 0, ...(maxUses ? { max_uses: maxUses } : {}) };
}

/** Fills a store with `records` records: 90% decided approvals, 10% live tokens, over 1,000 agents. */
export async function seedHistory(store: StateStore, records: number): Promise<void> {
  const now = new Date();
  const batch = 500;
  for (let from = 0; from < records; from += batch) {
    await store.records.transact(async (tx) => {
      for (let i = from; i < Math.min(records, from + batch); i++) {
        if (i % 10 === 9) tx.putToken(token(`seed-${i}`, `agent-${i % 1000}`, now));
        else tx.putApproval(decided(i, now));
      }
    });
  }
  await store.issueToken(token('counted', 'bench', now, 1_000_000_000), now, 1_000_000);
}

export interface StateOpTimes {
  consumeUse: Summary;
  readToken: Summary;
  openAndDeny: Summary;
  issueToken: Summary;
  /** One HTTP request's rate-limit take (every request on `serve --http` pays it). */
  takeRate: Summary;
}

/** Times the hot operations on `store` (seeded already), n of each. */
export async function timeStateOps(store: StateStore, n: number): Promise<StateOpTimes> {
  const now = () => new Date();
  const consumeUse = await measure(n, 5, () => store.consumeUse('counted'));
  const readToken = await measure(n, 5, () => store.getToken('counted'));
  let k = 0;
  const tag = Math.random().toString(36).slice(2, 8);
  const openAndDeny = await measure(n, 5, async () => {
    const at = now();
    const candidate: ApprovalRecord = {
      id: `bench-${tag}-${k++}`, kind: 'secret_access', agent_id: `fresh-${tag}-${k}`, scopes: ['secrets:read:a/B'], ttl_ms: 60_000, reason: 'bench', rule: 'bench',
      created_at: at.toISOString(), expires_at: new Date(at.getTime() + 900_000).toISOString(), approvers_required: 1, delay_ms: 0, approvals: [], status: 'pending',
    };
    await store.openApproval({ candidate, now: at, cooldownMs: 0, limits: DEFAULT_PENDING_LIMITS });
    await store.decide(candidate.id, 'deny', 'admin', at);
  });
  const issueToken = await measure(n, 5, async () => {
    await store.issueToken(token(`issued-${tag}-${k++}`, `issuer-${tag}-${k}`, now()), now(), 200);
  });
  const limits = { perMinute: 1_000_000_000, burst: 1_000_000_000 };
  const takeRate = await measure(n, 5, () => store.takeRateLimit(`http:bench-${tag}`, 1, limits));
  return { consumeUse, readToken, openAndDeny, issueToken, takeRate };
}

export function stateRows(label: string, ours: StateOpTimes, base: StateOpTimes): string[][] {
  const row = (name: string, a: Summary, b: Summary) => [`${label}: ${name}`, ms(a.p50), ms(b.p50), ratio(a.p50, b.p50), ms(a.p99), ms(b.p99), ratio(a.p99, b.p99)];
  return [
    row('consume a use (max_uses)', ours.consumeUse, base.consumeUse),
    row('read a token (every token-authenticated call)', ours.readToken, base.readToken),
    row('open a request + deny it', ours.openAndDeny, base.openAndDeny),
    row('issue a token', ours.issueToken, base.issueToken),
    row('take a rate-limit call (every HTTP request)', ours.takeRate, base.takeRate),
  ];
}

export async function runStateBench(options: { operations?: number } = {}): Promise<string> {
  const n = options.operations ?? 200;
  const dirs: string[] = [];
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-bench-state-'));
    dirs.push(dir);
    return createFileStateStore({ dir: join(dir, 'state') });
  };
  try {
    const small = open();
    const large = open();
    await seedHistory(small, 10);
    await seedHistory(large, 10_000);
    const base = await timeStateOps(small, n);
    const ours = await timeStateOps(large, n);
    const rows = [...stateRows('file store', ours, base)];
    const notes: string[] = [];
    const missing = postgresPeerMissing();
    if (missing) {
      notes.push(`PostgreSQL rows skipped: ${missing}`);
    } else {
      // Durable like the file store (the test peer turns fsync off): a fair comparison.
      const peer = await startPostgresPeer({ settings: { fsync: 'on', full_page_writes: 'on', synchronous_commit: 'on' } });
      try {
        const openPg = async () => {
          const db = createPgDatabase({ url: await peer.newDatabase('bench'), statement_timeout_ms: 10_000, pool_max: 4, connect_timeout_ms: 5000, migrate_on_start: true }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
          await applyMigrations(db, [STATE_MIGRATIONS]);
          return createPgStateStore(db);
        };
        const [pgSmall, pgLarge] = [await openPg(), await openPg()];
        try {
          await seedHistory(pgSmall, 10);
          await seedHistory(pgLarge, 10_000);
          const pgBase = await timeStateOps(pgSmall, n);
          const pgOurs = await timeStateOps(pgLarge, n);
          rows.push(...stateRows('postgres', pgOurs, pgBase));
          rows.push(...stateRows('postgres vs file store (10,000 kept, same run)', pgOurs, ours).map((r) => [r[0]!, ...r.slice(1)]));
          // Issue 10's figures, for --json: a state operation on PostgreSQL ÷ the same on the file store (p50).
          figure('state: open a request + deny it, postgres vs file store (p50)', pgOurs.openAndDeny.p50, ours.openAndDeny.p50, 'ms');
          figure('state: consume a token use, postgres vs file store (p50)', pgOurs.consumeUse.p50, ours.consumeUse.p50, 'ms');
          figure('state: take a rate-limit call, postgres (shared) vs file store (in memory) (p50)', pgOurs.takeRate.p50, ours.takeRate.p50, 'ms');
        } finally {
          await Promise.all([pgSmall.close(), pgLarge.close()]);
        }
      } finally {
        await peer.destroy();
      }
    }
    return [
      '### State store: operation latency vs history (issue 9 finding 1, issue 10)',
      '',
      table([['measure', 'ours p50', 'baseline p50', 'ratio p50', 'ours p99', 'baseline p99', 'ratio p99'], ...rows]),
      '',
      'Rows "file store" and "postgres": 10,000 records kept (ours) vs 10 (baseline). Last rows: PostgreSQL (ours) vs the file store (baseline), both with 10,000 kept. Both durable: the file store fsyncs every commit, PostgreSQL (started here with fsync on) its WAL.',
      'One file per record: an operation reads and writes the records it names and its agent\'s; a listing for a human still reads every record kept.',
      ...notes,
    ].join('\n');
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${await runStateBench()}\n`);
