/**
 * The audit log in PostgreSQL (when `state.type: postgres`): ONE hash chain that every replica
 * appends to, in order. Each append is one transaction that locks the chain head row
 * (`ass_audit_head … FOR UPDATE`), builds the next record exactly as the file log does
 * (`nextRecord`: keyed HMAC with the audit key, record-hash.ts), inserts it and moves the head.
 * Appenders on any replica queue on that row lock, so sequence numbers never fork or skip;
 * `seq` is also the primary key, so even a bypassed lock could not fork the chain.
 *
 * Fail-closed as the file log: any failure throws AUDIT_UNAVAILABLE and the caller refuses the
 * request. The audit key stays a file beside each replica's data (never in the database): every
 * replica needs the same `audit.key`. The head row keeps an HMAC of a fixed text under the key
 * (not the key), so a replica with another key is refused instead of breaking the chain.
 */
import { createHmac } from 'node:crypto';
import { AssError, isAssError } from '../shared/errors.js';
import type { ComponentMigrations } from '../shared/pg/migrations.js';
import { pgUnavailableReason, type PgDatabase } from '../shared/pg/pool.js';
import type { AuditKey } from './audit-key.js';
import { keyFor, nextRecord, type AuditEvent, type AuditLog, type AuditRecord } from './audit-log.js';
import { checkChainLine, newChainState, type AuditVerification } from './verify.js';

const GENESIS = '0'.repeat(64);
/** What `audit verify` and messages call this log. */
export const PG_AUDIT_NAME = 'postgresql:ass_audit';

export const AUDIT_MIGRATIONS: ComponentMigrations = {
  component: 'audit',
  migrations: [
    {
      version: 1,
      name: 'create audit chain and head tables',
      sql: `
        CREATE TABLE ass_audit (
          seq bigint PRIMARY KEY CHECK (seq >= 1),
          record text NOT NULL,
          hash text NOT NULL
        );
        CREATE TABLE ass_audit_head (
          singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
          seq bigint NOT NULL,
          hash text NOT NULL,
          v integer,
          key_check text
        );
        INSERT INTO ass_audit_head (seq, hash) VALUES (0, '${GENESIS}');
      `,
    },
    {
      // The dashboard filters in SQL (pg-audit-view.ts) instead of loading the chain: the fields
      // it filters on, derived from the record itself (never written separately, so they cannot
      // disagree with what the hash covers), each indexed with seq for "newest N matching".
      version: 2,
      name: 'index audit records for the dashboard',
      sql: `
        ALTER TABLE ass_audit
          ADD COLUMN actor text GENERATED ALWAYS AS ((record::jsonb) ->> 'actor') STORED,
          ADD COLUMN action text GENERATED ALWAYS AS ((record::jsonb) ->> 'action') STORED,
          ADD COLUMN outcome text GENERATED ALWAYS AS ((record::jsonb) ->> 'outcome') STORED,
          ADD COLUMN ts text GENERATED ALWAYS AS ((record::jsonb) ->> 'ts') STORED;
        CREATE INDEX ass_audit_actor_seq ON ass_audit (actor, seq);
        CREATE INDEX ass_audit_action_seq ON ass_audit (action, seq);
        CREATE INDEX ass_audit_outcome_seq ON ass_audit (outcome, seq);
        CREATE INDEX ass_audit_ts ON ass_audit (ts);
      `,
    },
  ],
};

/** An HMAC of a fixed text under the audit key: tells two keys apart without revealing either. */
export function auditKeyCheck(key: Buffer): string {
  return createHmac('sha256', key).update('agent-secret-store audit key check v1').digest('hex');
}

export interface PgAuditLogOptions {
  /** The audit key file (the same on every replica); created on the first append when absent. */
  keyPath?: string;
  /** Awaited before each append (the schema check, retried until it passes); a failure fails the append. */
  ready?: () => Promise<void>;
}

interface HeadRow {
  seq: string;
  hash: string;
  v: number | null;
  key_check: string | null;
}

export function createPgAuditLog(db: PgDatabase, clock: () => Date = () => new Date(), options: PgAuditLogOptions = {}): AuditLog {
  let auditKey: AuditKey | null = null;

  async function append(event: AuditEvent, now: Date = clock()): Promise<AuditRecord> {
    try {
      await options.ready?.();
      return await db.transaction(async (client) => {
        const headRows = await client.query<HeadRow>('SELECT seq, hash, v, key_check FROM ass_audit_head FOR UPDATE');
        const row = headRows.rows[0];
        if (!row) throw new Error('ass_audit_head has no row (the audit schema was damaged)');
        const head = { seq: Number(row.seq), hash: row.hash, ...(row.v !== null ? { v: row.v } : {}) };
        // Under the head lock: the first replica to key the chain creates the key file; the others
        // (sharing the file) read it. A replica on another machine must have a copy.
        if (options.keyPath) auditKey ??= keyFor(options.keyPath, head, PG_AUDIT_NAME);
        const check = auditKey ? auditKeyCheck(auditKey.key) : null;
        if (row.key_check !== null && check !== row.key_check) {
          throw new AssError(
            'AUDIT_UNAVAILABLE',
            `This replica's audit key (${options.keyPath ?? 'none'}) is not the key the PostgreSQL audit chain is written with. Copy audit.key from the replica that created it; every replica needs the same file.`,
          );
        }
        const record = nextRecord(head, now, event, auditKey);
        await client.query('INSERT INTO ass_audit (seq, record, hash) VALUES ($1, $2, $3)', [record.seq, JSON.stringify(record), record.hash]);
        await client.query('UPDATE ass_audit_head SET seq = $1, hash = $2, v = $3, key_check = COALESCE(key_check, $4)', [record.seq, record.hash, record.v ?? null, check]);
        return record;
      });
    } catch (error) {
      if (isAssError(error) && error.code === 'AUDIT_UNAVAILABLE') throw error;
      // Security: fail closed. The caller must not act (or return a value) without its record.
      const why = pgUnavailableReason(isAssError(error) ? error.cause : error);
      const reason = why ? ` (${why})` : '';
      throw new AssError('AUDIT_UNAVAILABLE', `The audit log (PostgreSQL) could not be written${reason}, so the request was refused. Retry shortly; an operator should check the database.`, {}, { cause: error });
    }
  }

  return { append, close: async () => undefined, path: PG_AUDIT_NAME };
}

/** Batches of this many rows are read at a time by verify and export (bounded memory). */
const PAGE = 1000;

/** Every record in chain order, as the JSON line it was written as. */
export async function* pgAuditLines(db: PgDatabase): AsyncGenerator<string> {
  let after = -1;
  for (;;) {
    const page = await db.query<{ seq: string; record: string }>('SELECT seq, record FROM ass_audit WHERE seq > $1 ORDER BY seq LIMIT $2', [after, PAGE]);
    for (const row of page.rows) yield row.record;
    if (page.rows.length < PAGE) return;
    after = Number(page.rows.at(-1)!.seq);
  }
}

/**
 * `audit verify` on the PostgreSQL chain: every record as the file log's are checked (an edited
 * record breaks its hash, a deleted or inserted one breaks seq and prev), plus the head row: a
 * chain whose last records were deleted no longer reaches the head.
 */
export async function verifyPgAuditLog(db: PgDatabase, options: { key?: AuditKey | null; expectedHead?: string } = {}): Promise<AuditVerification> {
  const result: AuditVerification = { ok: true, count: 0, head: null, files: [PG_AUDIT_NAME], problems: [], keyed: Boolean(options.key) };
  const check = newChainState();
  for await (const line of pgAuditLines(db)) checkChainLine(check, line, PG_AUDIT_NAME, options.key ?? null, result.problems);
  result.count = check.count;
  result.head = check.head;
  const head = (await db.query<HeadRow>('SELECT seq, hash, v, key_check FROM ass_audit_head')).rows[0];
  if (!head) result.problems.push({ file: PG_AUDIT_NAME, line: 0, problem: 'the chain head row (ass_audit_head) is missing' });
  else if (head.hash !== (check.head ?? GENESIS) || Number(head.seq) !== check.count) {
    result.problems.push({ file: PG_AUDIT_NAME, line: check.count, problem: `the chain ends at record ${check.count} but its head row says ${head.seq} (records at the end were deleted, or the head was edited)` });
  }
  if (head?.key_check && options.key && auditKeyCheck(options.key.key) !== head.key_check) {
    result.problems.push({ file: PG_AUDIT_NAME, line: 0, problem: 'the audit key given is not the key this chain is written with' });
  }
  if (options.expectedHead && check.head !== options.expectedHead) {
    result.problems.push({ file: PG_AUDIT_NAME, line: check.count, problem: `the last record's hash is not the expected head ${options.expectedHead.slice(0, 12)}… (the tail was cut or extended)` });
  }
  result.ok = result.problems.length === 0;
  return result;
}
