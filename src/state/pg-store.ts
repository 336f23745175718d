/**
 * The state store in PostgreSQL, shared by every replica (`state: { type: postgres, url }`).
 *
 * Every operation is one transaction (READ COMMITTED) whose must-happen-once parts are enforced
 * by the database, not by luck:
 * - an agent's operations (open a request: pending cap and cooldown; issue or redeem a token:
 *   token cap) take a transaction-scoped advisory lock on the agent, so they run one at a time
 *   per agent across replicas;
 * - a decision locks the approval's row (SELECT … FOR UPDATE): quorum counts distinct admins once;
 * - a use is one conditional UPDATE (`uses < max_uses`), and a CHECK keeps `uses <= max_uses`;
 * - rows locked together are locked in id order; a deadlock or serialization failure is retried.
 * Every commit that changed something NOTIFYs `ass_state`: each process LISTENs, so open
 * dashboards of every replica learn of a change at once (`changeMarker`). A connection failure
 * is STATE_UNAVAILABLE (the pool reconnects by itself when PostgreSQL is back).
 */
import type pg from 'pg';
import type { OutboxState } from '../shared/approval-events.js';
import { AssError } from '../shared/errors.js';
import type { PgClient, PgDatabase } from '../shared/pg/pool.js';
import { retryAfterS, type RateLimits, type RateVerdict } from './rate-limit.js';
import type { ApprovalRecord, TokenRecord } from './records.js';
import { StateStore, type RecordBackend, type RecordTx } from './store.js';

export const STATE_CHANNEL = 'ass_state';
/** The payload of a NOTIFY that says a secret was written (read caches of every replica drop their entries). */
const SECRET_WRITE = 'secret-write';
/** SQLSTATEs worth retrying the whole transaction for: deadlock detected, serialization failure. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

type Row = { record: ApprovalRecord | TokenRecord };

/*
 * One rate-limit take as one statement ($1 key, $2 count, $3 burst, $4 per minute). A new key
 * starts full; an existing bucket is refilled for the time since its last take, then the count
 * is taken if it fits. Concurrent takes on one key queue on the row (ON CONFLICT locks it), so
 * of racing replicas no more than the bucket holds pass. Time is the database's (one clock for
 * every replica); a take that waited for the row never refills backwards (greatest(0, …)).
 */
const REFILLED = `least($3::float8, b.tokens + greatest(0, extract(epoch FROM statement_timestamp() - b.at)) * $4::float8 / 60)`;
const LEFT = `(CASE WHEN ${REFILLED} >= $2::float8 THEN ${REFILLED} - $2::float8 ELSE ${REFILLED} END)`;
const TAKE_RATE_SQL = `
  INSERT INTO ass_state_rate_buckets AS b (key, tokens, at, full_at, allowed)
  VALUES ($1, CASE WHEN $2::float8 <= $3::float8 THEN $3::float8 - $2::float8 ELSE $3::float8 END, statement_timestamp(),
          statement_timestamp() + make_interval(secs => CASE WHEN $2::float8 <= $3::float8 THEN $2::float8 ELSE 0 END * 60 / $4::float8),
          $2::float8 <= $3::float8)
  ON CONFLICT (key) DO UPDATE SET
    tokens = ${LEFT},
    at = greatest(b.at, statement_timestamp()),
    full_at = greatest(b.at, statement_timestamp()) + make_interval(secs => ($3::float8 - ${LEFT}) * 60 / $4::float8),
    allowed = ${REFILLED} >= $2::float8
  RETURNING tokens, allowed`;

/** A token as stored: the record, with `uses` from its column (the one a use updates). */
function tokenOf(row: { record: TokenRecord; uses: number }): TokenRecord {
  return { ...row.record, uses: row.uses };
}

class PgTx implements RecordTx {
  private readonly approvals = new Map<string, ApprovalRecord | null>();
  private readonly tokens = new Map<string, TokenRecord | null>();
  private readonly lockedAgents = new Set<string>();
  private readonly revoked = new Set<string>();
  private outboxState: { value: OutboxState; text: string } | null = null;
  /** Rows this transaction wrote (in the order of the first write): flushed before COMMIT. */
  private readonly dirty = new Map<string, () => Promise<void>>();

  constructor(private readonly client: PgClient) {}

  private async lockAgent(agentId: string): Promise<void> {
    if (this.lockedAgents.has(agentId)) return;
    await this.client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`ass-state-agent:${agentId}`]);
    this.lockedAgents.add(agentId);
  }

  async approval(id: string): Promise<ApprovalRecord | undefined> {
    if (this.approvals.has(id)) return this.approvals.get(id) ?? undefined;
    const { rows } = await this.client.query<Row>('SELECT record FROM ass_state_approvals WHERE id = $1 FOR UPDATE', [id]);
    const record = (rows[0]?.record as ApprovalRecord | undefined) ?? null;
    this.approvals.set(id, record);
    return record ?? undefined;
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    if (this.tokens.has(id)) return this.tokens.get(id) ?? undefined;
    const { rows } = await this.client.query<{ record: TokenRecord; uses: number }>('SELECT record, uses FROM ass_state_tokens WHERE id = $1 FOR UPDATE', [id]);
    const record = rows[0] ? tokenOf(rows[0]) : null;
    this.tokens.set(id, record);
    return record ?? undefined;
  }

  async agentApprovals(agentId: string): Promise<ApprovalRecord[]> {
    await this.lockAgent(agentId);
    const { rows } = await this.client.query<{ id: string; record: ApprovalRecord }>('SELECT id, record FROM ass_state_approvals WHERE agent_id = $1 ORDER BY id FOR UPDATE', [agentId]);
    for (const row of rows) if (!this.approvals.has(row.id)) this.approvals.set(row.id, row.record);
    // Include what this transaction added for the agent already.
    return [...this.approvals.values()].filter((a): a is ApprovalRecord => a !== null && a.agent_id === agentId);
  }

  async agentTokens(agentId: string): Promise<TokenRecord[]> {
    await this.lockAgent(agentId);
    const { rows } = await this.client.query<{ id: string; record: TokenRecord; uses: number }>('SELECT id, record, uses FROM ass_state_tokens WHERE agent_id = $1 ORDER BY id FOR UPDATE', [agentId]);
    for (const row of rows) if (!this.tokens.has(row.id)) this.tokens.set(row.id, tokenOf(row));
    return [...this.tokens.values()].filter((t): t is TokenRecord => t !== null && t.agent_id === agentId);
  }

  putApproval(record: ApprovalRecord): void {
    this.approvals.set(record.id, record);
    this.dirty.set(`a:${record.id}`, async () => {
      const current = this.approvals.get(record.id);
      if (!current) return;
      await this.client.query(
        `INSERT INTO ass_state_approvals (id, agent_id, status, record) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET agent_id = EXCLUDED.agent_id, status = EXCLUDED.status, record = EXCLUDED.record`,
        [current.id, current.agent_id, current.status, JSON.stringify(current)],
      );
    });
  }

  deleteApproval(record: ApprovalRecord): void {
    this.approvals.set(record.id, null);
    this.dirty.set(`a:${record.id}`, async () => {
      await this.client.query('DELETE FROM ass_state_approvals WHERE id = $1', [record.id]);
    });
  }

  putToken(record: TokenRecord): void {
    this.tokens.set(record.id, record);
    this.dirty.set(`t:${record.id}`, async () => {
      const current = this.tokens.get(record.id);
      if (!current) return;
      await this.client.query(
        `INSERT INTO ass_state_tokens (id, agent_id, uses, max_uses, revoked, record) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET uses = EXCLUDED.uses, max_uses = EXCLUDED.max_uses, revoked = EXCLUDED.revoked, record = EXCLUDED.record`,
        [current.id, current.agent_id, current.uses, current.max_uses ?? null, Boolean(current.revoked_at), JSON.stringify(current)],
      );
    });
  }

  deleteToken(record: TokenRecord): void {
    this.tokens.set(record.id, null);
    this.dirty.set(`t:${record.id}`, async () => {
      await this.client.query('DELETE FROM ass_state_tokens WHERE id = $1', [record.id]);
    });
  }

  addRevokedKey(keySha256: string): void {
    if (this.revoked.has(keySha256)) return;
    this.revoked.add(keySha256);
    this.dirty.set(`r:${keySha256}`, async () => {
      await this.client.query('INSERT INTO ass_state_revoked_keys (key_sha256) VALUES ($1) ON CONFLICT DO NOTHING', [keySha256]);
    });
  }

  async outbox(): Promise<OutboxState> {
    if (!this.outboxState) {
      const { rows } = await this.client.query<{ data: OutboxState }>('SELECT data FROM ass_state_outbox WHERE id = 1 FOR UPDATE');
      const value = rows[0]?.data ?? { outbox: [] };
      this.outboxState = { value, text: JSON.stringify(value) };
      this.dirty.set('outbox', async () => {
        const text = JSON.stringify(this.outboxState!.value);
        if (text !== this.outboxState!.text) await this.client.query('UPDATE ass_state_outbox SET data = $1 WHERE id = 1', [text]);
      });
    }
    return this.outboxState.value;
  }

  /** Writes what changed; true when anything was written. */
  async flush(): Promise<boolean> {
    for (const write of this.dirty.values()) await write();
    return this.dirty.size > 0;
  }
}

export class PgRecordBackend implements RecordBackend {
  private changes = 0;
  private secretWrites = 0;
  private listener: pg.PoolClient | null = null;
  private listening: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly db: PgDatabase) {}

  async transact<T>(fn: (tx: RecordTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async (client) => {
          const tx = new PgTx(client);
          const result = await fn(tx);
          if (await tx.flush()) await client.query('SELECT pg_notify($1, $2)', [STATE_CHANNEL, 'changed']);
          return result;
        });
      } catch (error) {
        const code = (error as { code?: unknown })?.code;
        if (attempt < MAX_ATTEMPTS && typeof code === 'string' && RETRYABLE.has(code)) continue;
        throw this.db.mapError(error);
      }
    }
  }

  private async rows<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
    return (await this.db.query<R>(sql, values)).rows;
  }

  async approval(id: string): Promise<ApprovalRecord | undefined> {
    return (await this.rows<{ record: ApprovalRecord }>('SELECT record FROM ass_state_approvals WHERE id = $1', [id]))[0]?.record;
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    const row = (await this.rows<{ record: TokenRecord; uses: number }>('SELECT record, uses FROM ass_state_tokens WHERE id = $1', [id]))[0];
    return row ? tokenOf(row) : undefined;
  }

  async agentApprovals(agentId: string): Promise<ApprovalRecord[]> {
    return (await this.rows<{ record: ApprovalRecord }>('SELECT record FROM ass_state_approvals WHERE agent_id = $1', [agentId])).map((r) => r.record);
  }

  async pendingApprovals(): Promise<ApprovalRecord[]> {
    return (await this.rows<{ record: ApprovalRecord }>("SELECT record FROM ass_state_approvals WHERE status = 'pending'")).map((r) => r.record);
  }

  async listApprovals(): Promise<ApprovalRecord[]> {
    return (await this.rows<{ record: ApprovalRecord }>('SELECT record FROM ass_state_approvals')).map((r) => r.record);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.rows<{ record: TokenRecord; uses: number }>('SELECT record, uses FROM ass_state_tokens')).map(tokenOf);
  }

  async isRevoked(keySha256: string): Promise<boolean> {
    return (await this.rows('SELECT 1 FROM ass_state_revoked_keys WHERE key_sha256 = $1', [keySha256])).length > 0;
  }

  async revocationCount(): Promise<number> {
    const [row] = await this.rows<{ n: string }>('SELECT count(*) AS n FROM ass_state_revoked_keys');
    return Number(row?.n ?? 0);
  }

  async outbox(): Promise<OutboxState> {
    return (await this.rows<{ data: OutboxState }>('SELECT data FROM ass_state_outbox WHERE id = 1'))[0]?.data ?? { outbox: [] };
  }

  /**
   * One use, as one statement: the row is updated only while a use is left, so of any number of
   * concurrent callers on any replicas exactly `max_uses` succeed.
   */
  async consumeUse(tokenId: string): Promise<TokenRecord> {
    const updated = await this.rows<{ record: TokenRecord; uses: number }>(
      `UPDATE ass_state_tokens SET uses = uses + 1 WHERE id = $1 AND NOT revoked AND (max_uses IS NULL OR uses < max_uses) RETURNING record, uses`,
      [tokenId],
    );
    if (updated[0]) {
      void this.db.query('SELECT pg_notify($1, $2)', [STATE_CHANNEL, 'changed']).catch(() => undefined);
      return tokenOf(updated[0]);
    }
    const current = await this.token(tokenId);
    if (!current || current.revoked_at) throw new AssError('UNAUTHENTICATED', 'The token is not valid any more.');
    throw new AssError('UNAUTHENTICATED', `The token has been used its ${current.max_uses} allowed times.`);
  }

  /** One atomic statement (TAKE_RATE_SQL); not NOTIFYed: a bucket is nothing a dashboard shows. */
  async takeRate(key: string, count: number, limits: RateLimits): Promise<RateVerdict> {
    const [row] = await this.rows<{ tokens: number; allowed: boolean }>(TAKE_RATE_SQL, [key, count, limits.burst, limits.perMinute]);
    if (!row) throw new AssError('STATE_UNAVAILABLE', 'The state store (PostgreSQL) returned no rate-limit bucket.');
    return row.allowed ? { ok: true } : { ok: false, retryAfterS: retryAfterS(Number(row.tokens), count, limits) };
  }

  async pruneRates(): Promise<number> {
    return (await this.db.query('DELETE FROM ass_state_rate_buckets WHERE full_at <= statement_timestamp()')).rowCount ?? 0;
  }

  /** A counter moved by every NOTIFY on the channel (from any replica), and by every reconnect of the listener. */
  async changeMarker(): Promise<string> {
    if (!this.listening && !this.closed) this.listening = this.listen();
    await this.listening?.catch(() => undefined);
    return String(this.changes);
  }

  private async listen(): Promise<void> {
    try {
      const client = await this.db.pool.connect();
      this.listener = client;
      client.on('notification', (message) => {
        if (message.channel !== STATE_CHANNEL) return;
        if (message.payload === SECRET_WRITE) this.secretWrites++;
        else this.changes++;
      });
      const lost = () => {
        if (this.listener !== client) return;
        this.listener = null;
        client.release(true);
        this.again();
      };
      client.on('error', lost);
      client.on('end', lost);
      await client.query(`LISTEN ${STATE_CHANNEL}`);
    } catch {
      this.again();
    }
  }

  /**
   * A counter moved by every secret-write NOTIFY (from any replica), and by every reconnect of
   * the listener. Waits until the listener is in place, so a cache filled after this read cannot
   * miss a later write's NOTIFY.
   */
  async secretWriteMarker(): Promise<string> {
    if (!this.listening && !this.closed) this.listening = this.listen();
    await this.listening?.catch(() => undefined);
    return String(this.secretWrites);
  }

  async publishSecretWrite(): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [STATE_CHANNEL, SECRET_WRITE]);
  }

  /** After the listener was lost (PostgreSQL restarted): changes may have been missed, so the markers move; listen again. */
  private again(): void {
    this.changes++;
    this.secretWrites++;
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.listening = this.closed ? null : this.listen();
    }, 1000);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.listener;
    this.listener = null;
    if (client) {
      await client.query(`UNLISTEN ${STATE_CHANNEL}`).catch(() => undefined);
      client.release();
    }
    await this.db.close();
  }
}

/** The state store over PostgreSQL; `consumeUse` is the database's own conditional update. */
export class PgStateStore extends StateStore {
  constructor(private readonly pgRecords: PgRecordBackend) {
    super(pgRecords);
  }

  override consumeUse(tokenId: string): Promise<TokenRecord> {
    return this.pgRecords.consumeUse(tokenId);
  }
}

export function createPgStateStore(db: PgDatabase): PgStateStore {
  return new PgStateStore(new PgRecordBackend(db));
}
