/**
 * What the dashboard reads of the PostgreSQL audit chain, without loading it (security review
 * H10-3: every page load used to read the whole chain into one string and re-verify all of it,
 * a memory/CPU sink any signed-in admin or a refresh loop could drive):
 *
 * - `newestPgAuditRecords`: the newest N records matching the filters, chosen in SQL on the
 *   indexed columns of migration 2 (the count of matches is bounded too);
 * - `pgLastActivity`: each agent's latest record, one index probe per agent;
 * - `createPgAuditVerifier`: the chain's verification kept between requests and extended from
 *   the last verified sequence. Each call also re-reads the last verified record (an edit or a
 *   cut at the tail is seen at once) and checks the head row; the whole chain is re-verified
 *   again after `fullRecheckMs`, which catches an edit further back. Calls share one run, so
 *   concurrent page loads never multiply the work.
 */
import type { PgDatabase } from '../shared/pg/pool.js';
import type { AuditKey } from './audit-key.js';
import type { AuditRecord } from './audit-log.js';
import { auditKeyCheck, PG_AUDIT_NAME } from './pg-audit-log.js';
import { checkChainLine, newChainState, type AuditVerification, type ChainState } from './verify.js';

const GENESIS = '0'.repeat(64);

/** The dashboard's filters (the same meaning as the file reader's in dashboard/audit-reader.ts). */
export interface PgAuditFilter {
  /** `agent:<id>` as actor, or a reason naming `agent <id>` (a human acting on that agent). */
  agent?: string;
  action?: string;
  outcome?: string;
  /** ISO timestamps, inclusive. */
  from?: string;
  to?: string;
}

/** Counting matches stops here: the page says "more than" rather than scanning a huge log. */
export const PG_AUDIT_COUNT_CAP = 10_000;

function whereClause(filter: PgAuditFilter): { sql: string; values: unknown[] } {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (filter.agent) conditions.push(`(actor = ${param(`agent:${filter.agent}`)} OR strpos((record::jsonb) ->> 'reason', ${param(`agent ${filter.agent}`)}) > 0)`);
  if (filter.action) conditions.push(`action = ${param(filter.action)}`);
  if (filter.outcome) conditions.push(`outcome = ${param(filter.outcome)}`);
  if (filter.from) conditions.push(`ts >= ${param(filter.from)}`);
  if (filter.to) conditions.push(`ts <= ${param(filter.to)}`);
  return { sql: conditions.length ? `WHERE ${conditions.join(' AND ')}` : '', values };
}

/**
 * The newest `limit` records matching `filter`, newest first, and how many match (at most
 * `PG_AUDIT_COUNT_CAP`; `capped` when there are more). Rows that are not JSON cannot exist here
 * (the generated columns parse every row); verification reports anything else.
 */
export async function newestPgAuditRecords(db: PgDatabase, filter: PgAuditFilter, limit: number): Promise<{ records: AuditRecord[]; matched: number; capped: boolean }> {
  const { sql, values } = whereClause(filter);
  const n = values.length;
  const [rows, count] = await Promise.all([
    db.query<{ record: string }>(`SELECT record FROM ass_audit ${sql} ORDER BY seq DESC LIMIT $${n + 1}`, [...values, limit]),
    db.query<{ n: string }>(`SELECT count(*) AS n FROM (SELECT 1 FROM ass_audit ${sql} LIMIT $${n + 1}) AS m`, [...values, PG_AUDIT_COUNT_CAP + 1]),
  ]);
  const matched = Number(count.rows[0]!.n);
  return {
    records: rows.rows.map((r) => JSON.parse(r.record) as AuditRecord),
    matched: Math.min(matched, PG_AUDIT_COUNT_CAP),
    capped: matched > PG_AUDIT_COUNT_CAP,
  };
}

/** The time of each agent's latest record (agents without one are absent). */
export async function pgLastActivity(db: PgDatabase, agentIds: readonly string[]): Promise<Map<string, string>> {
  if (agentIds.length === 0) return new Map();
  const rows = await db.query<{ id: string; ts: string }>(
    `SELECT a.id, last.ts FROM unnest($1::text[]) AS a(id)
       CROSS JOIN LATERAL (SELECT ts FROM ass_audit WHERE actor = 'agent:' || a.id ORDER BY seq DESC LIMIT 1) AS last`,
    [agentIds],
  );
  return new Map(rows.rows.map((r) => [r.id, r.ts]));
}

export interface CachedVerification extends AuditVerification {
  /** Records read and checked by this call (all of them after a full re-check, else only the new ones). */
  checkedNow: number;
  /** When the whole chain was last verified from record 1 (ISO). */
  fullCheckAt: string;
}

export interface PgAuditVerifierOptions {
  /** Re-verify the whole chain once this long after the last full verification. */
  fullRecheckMs?: number;
  now?: () => Date;
}

export interface PgAuditVerifier {
  /** The chain's state now, with `key` (the audit key file's content, null when absent). */
  verify(key: AuditKey | null): Promise<CachedVerification>;
}

const PAGE = 1000;

interface Progress {
  check: ChainState;
  key: AuditKey | null;
  result: AuditVerification;
  /** The last record verified, as read: compared again on every call. */
  lastSeq: number;
  lastRecord: string | null;
  fullAt: Date;
  keyId: string;
}

const keyIdentity = (key: AuditKey | null) => (key ? `${auditKeyCheck(key.key)}:${key.keyedFromSeq}` : 'none');

export function createPgAuditVerifier(db: PgDatabase, options: PgAuditVerifierOptions = {}): PgAuditVerifier {
  const fullRecheckMs = options.fullRecheckMs ?? 5 * 60_000;
  const now = options.now ?? (() => new Date());
  let progress: Progress | null = null;
  let running: Promise<CachedVerification> | null = null;

  const fresh = (key: AuditKey | null): Progress => {
    const result: AuditVerification = { ok: true, count: 0, head: null, files: [PG_AUDIT_NAME], problems: [], keyed: Boolean(key) };
    return { check: newChainState(), key, result, lastSeq: 0, lastRecord: null, fullAt: now(), keyId: keyIdentity(key) };
  };

  async function run(key: AuditKey | null): Promise<CachedVerification> {
    // The head first: records are then read up to it only, so appends meanwhile (any replica)
    // are left for the next call instead of looking like a head that runs ahead of its chain.
    const head = (await db.query<{ seq: string; hash: string; key_check: string | null }>('SELECT seq, hash, key_check FROM ass_audit_head')).rows[0];
    const headSeq = head ? Number(head.seq) : Number.MAX_SAFE_INTEGER;
    let p = progress;
    if (!p || p.keyId !== keyIdentity(key) || now().getTime() - p.fullAt.getTime() >= fullRecheckMs) p = fresh(key);
    else if (p.lastRecord !== null) {
      // The last verified record must still be there, unchanged; otherwise start over, so the
      // report says what was changed.
      const tail = await db.query<{ record: string }>('SELECT record FROM ass_audit WHERE seq = $1', [p.lastSeq]);
      if (tail.rows[0]?.record !== p.lastRecord) {
        const gone = p.lastSeq;
        p = fresh(key);
        // Kept until the next full re-check: a cut tail with a matching head row would otherwise
        // verify as a shorter, intact chain.
        p.result.problems.push({ file: PG_AUDIT_NAME, line: gone, problem: `record ${gone}, verified earlier, was changed or deleted since` });
      }
    }
    progress = null;
    let checkedNow = 0;
    for (;;) {
      const page = await db.query<{ seq: string; record: string }>('SELECT seq, record FROM ass_audit WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3', [p.lastSeq, headSeq, PAGE]);
      for (const row of page.rows) {
        checkChainLine(p.check, row.record, PG_AUDIT_NAME, p.key, p.result.problems);
        p.lastSeq = Number(row.seq);
        p.lastRecord = row.record;
      }
      checkedNow += page.rows.length;
      if (page.rows.length < PAGE) break;
    }
    progress = p;
    const { check } = p;
    const problems = [...p.result.problems];
    if (!head) problems.push({ file: PG_AUDIT_NAME, line: 0, problem: 'the chain head row (ass_audit_head) is missing' });
    else if (head.hash !== (check.head ?? GENESIS) || headSeq !== check.count) {
      problems.push({ file: PG_AUDIT_NAME, line: check.count, problem: `the chain ends at record ${check.count} but its head row says ${head.seq} (records at the end were deleted, or the head was edited)` });
    }
    if (head?.key_check && key && auditKeyCheck(key.key) !== head.key_check) {
      problems.push({ file: PG_AUDIT_NAME, line: 0, problem: 'the audit key given is not the key this chain is written with' });
    }
    return { ...p.result, count: check.count, head: check.head, problems, ok: problems.length === 0, checkedNow, fullCheckAt: p.fullAt.toISOString() };
  }

  return {
    verify(key) {
      // One run at a time; callers arriving during a run share it.
      running ??= run(key).finally(() => {
        running = null;
      });
      return running;
    },
  };
}
