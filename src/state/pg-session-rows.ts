/**
 * Dashboard sign-in sessions in PostgreSQL (`ass_dashboard_sessions`, state schema version 3),
 * shared by every replica: a session opened on one is found by all, and a sign-out (a DELETE) on
 * one ends it on all at once. Instants are the servers' clocks in ms, not the database's.
 * `add` sweeps and counts under a transaction-scoped advisory lock, so two replicas signing
 * people in at once cannot both fit under a cap that only one more fits under.
 */
import type { PgDatabase } from '../shared/pg/pool.js';
import type { SessionBounds, SessionRow, SessionRowStore } from './session-rows.js';

interface Row {
  id_sha256: string;
  admin_id: string;
  created_at_ms: string;
  last_seen_at_ms: string;
  sealed: string;
}

const toRow = (r: Row): SessionRow => ({ idSha256: r.id_sha256, adminId: r.admin_id, createdAt: Number(r.created_at_ms), lastSeenAt: Number(r.last_seen_at_ms), sealed: r.sealed });

const ENDED = 'last_seen_at_ms <= $1::bigint - $2::bigint OR created_at_ms <= $1::bigint - $3::bigint';

export class PgSessionRows implements SessionRowStore {
  constructor(private readonly db: PgDatabase) {}

  async add(row: SessionRow, b: SessionBounds): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', ['ass-dashboard-sessions']);
      await client.query(`DELETE FROM ass_dashboard_sessions WHERE ${ENDED}`, [b.now, b.idleMs, b.absoluteMs]);
      await client.query(
        `DELETE FROM ass_dashboard_sessions WHERE id_sha256 IN (
           SELECT id_sha256 FROM ass_dashboard_sessions WHERE admin_id = $1 ORDER BY last_seen_at_ms ASC
           LIMIT GREATEST(0, (SELECT count(*) FROM ass_dashboard_sessions WHERE admin_id = $1) - $2::int + 1))`,
        [row.adminId, b.perAdmin],
      );
      await client.query(
        `DELETE FROM ass_dashboard_sessions WHERE id_sha256 IN (
           SELECT id_sha256 FROM ass_dashboard_sessions ORDER BY last_seen_at_ms ASC
           LIMIT GREATEST(0, (SELECT count(*) FROM ass_dashboard_sessions) - $1::int + 1))`,
        [b.total],
      );
      await client.query('INSERT INTO ass_dashboard_sessions (id_sha256, admin_id, created_at_ms, last_seen_at_ms, sealed) VALUES ($1, $2, $3, $4, $5)', [
        row.idSha256,
        row.adminId,
        row.createdAt,
        row.lastSeenAt,
        row.sealed,
      ]);
    });
  }

  async get(idSha256: string): Promise<SessionRow | undefined> {
    const { rows } = await this.db.query<Row>('SELECT id_sha256, admin_id, created_at_ms, last_seen_at_ms, sealed FROM ass_dashboard_sessions WHERE id_sha256 = $1', [idSha256]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  async seen(idSha256: string, at: number): Promise<void> {
    await this.db.query('UPDATE ass_dashboard_sessions SET last_seen_at_ms = $2 WHERE id_sha256 = $1 AND last_seen_at_ms < $2', [idSha256, at]);
  }

  async remove(idSha256: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM ass_dashboard_sessions WHERE id_sha256 = $1', [idSha256]);
    return (rowCount ?? 0) > 0;
  }

  async removeAdmin(adminId: string): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM ass_dashboard_sessions WHERE admin_id = $1', [adminId]);
    return rowCount ?? 0;
  }

  async sweep(b: Pick<SessionBounds, 'now' | 'idleMs' | 'absoluteMs'>): Promise<number> {
    const { rowCount } = await this.db.query(`DELETE FROM ass_dashboard_sessions WHERE ${ENDED}`, [b.now, b.idleMs, b.absoluteMs]);
    return rowCount ?? 0;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
