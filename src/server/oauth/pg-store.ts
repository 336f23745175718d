/**
 * The OAuth store in PostgreSQL (`state: { type: postgres }`): clients, grants, codes and pending
 * sign-ins shared by every replica, so a sign-in begun on one replica is answered, exchanged,
 * refreshed and revoked on any other. Each operation is one transaction; what must happen once
 * is enforced by row locks and conditional statements, not by luck:
 * - a code is redeemed under its row lock (`FOR UPDATE`): a second redemption, on any replica,
 *   waits, then sees `grant_id` set and gets the grant to revoke;
 * - a grant changes under its row lock: two refreshes with one token rotate it once, the second
 *   finds the token among the used ones (reuse detection);
 * - a pending sign-in (consent, or the identity provider's callback) is answered by `DELETE … RETURNING`: one answer gets it;
 * - the client and pending caps are counted under a transaction-scoped advisory lock.
 */
import type { PgClient, PgDatabase } from '../../shared/pg/pool.js';
import { findGrant, grantEndedAt, oidcPendingKey, pendingKey, type GrantLookup, type OidcPendingRecord, type OAuthClientRecord, type OAuthCodeRecord, type OAuthGrantRecord, type OAuthPendingRecord, type OAuthPruneCutoffs, type OAuthState, type OAuthStore, type Redemption } from './store.js';

const lockKey = (name: string): string => `ass-oauth:${name}`;

async function writeGrant(client: PgClient, grant: OAuthGrantRecord): Promise<void> {
  await client.query(
    `INSERT INTO ass_oauth_grants (id, client_id, refresh_sha256, used_refresh_sha256, ended_at_ms, record) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET client_id = EXCLUDED.client_id, refresh_sha256 = EXCLUDED.refresh_sha256, used_refresh_sha256 = EXCLUDED.used_refresh_sha256, ended_at_ms = EXCLUDED.ended_at_ms, record = EXCLUDED.record`,
    [grant.id, grant.client_id, grant.refresh_sha256, grant.used_refresh_sha256, grantEndedAt(grant), JSON.stringify(grant)],
  );
}

async function writeClient(client: PgClient, record: OAuthClientRecord): Promise<void> {
  await client.query(
    `INSERT INTO ass_oauth_clients (client_id, registered_at, record) VALUES ($1, $2, $3)
     ON CONFLICT (client_id) DO UPDATE SET registered_at = EXCLUDED.registered_at, record = EXCLUDED.record`,
    [record.client_id, record.registered_at, JSON.stringify(record)],
  );
}

export class PgOAuthStore implements OAuthStore {
  constructor(private readonly db: PgDatabase) {}

  private async loadAll(client: Pick<PgClient, 'query'>): Promise<OAuthState> {
    const clients = await client.query<{ record: OAuthClientRecord }>('SELECT record FROM ass_oauth_clients');
    const grants = await client.query<{ record: OAuthGrantRecord }>('SELECT record FROM ass_oauth_grants');
    return {
      clients: Object.fromEntries(clients.rows.map((r) => [r.record.client_id, r.record])),
      grants: Object.fromEntries(grants.rows.map((r) => [r.record.id, r.record])),
    };
  }

  read(): Promise<OAuthState> {
    return this.db.transaction((client) => this.loadAll(client));
  }

  /** Whole-state change: both tables locked against writers of every replica, then only the rows that changed are written. */
  transact<T>(fn: (state: OAuthState) => T): Promise<T> {
    return this.db.transaction(async (client) => {
      await client.query('LOCK TABLE ass_oauth_clients, ass_oauth_grants IN SHARE ROW EXCLUSIVE MODE');
      const state = await this.loadAll(client);
      const before = { clients: new Map(Object.entries(state.clients).map(([k, v]) => [k, JSON.stringify(v)])), grants: new Map(Object.entries(state.grants).map(([k, v]) => [k, JSON.stringify(v)])) };
      const out = fn(state);
      for (const [id, record] of Object.entries(state.clients)) if (before.clients.get(id) !== JSON.stringify(record)) await writeClient(client, record);
      for (const id of before.clients.keys()) if (!Object.hasOwn(state.clients, id)) await client.query('DELETE FROM ass_oauth_clients WHERE client_id = $1', [id]);
      for (const [id, grant] of Object.entries(state.grants)) if (before.grants.get(id) !== JSON.stringify(grant)) await writeGrant(client, grant);
      for (const id of before.grants.keys()) if (!Object.hasOwn(state.grants, id)) await client.query('DELETE FROM ass_oauth_grants WHERE id = $1', [id]);
      return out;
    });
  }

  async client(clientId: string): Promise<OAuthClientRecord | undefined> {
    const { rows } = await this.db.query<{ record: OAuthClientRecord }>('SELECT record FROM ass_oauth_clients WHERE client_id = $1', [clientId]);
    return rows[0]?.record;
  }

  addClient(record: OAuthClientRecord, max: number): Promise<boolean> {
    return this.db.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('clients')]);
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM ass_oauth_clients');
      if (rows[0]!.n >= max) {
        const spare = await client.query<{ client_id: string }>(
          `SELECT c.client_id FROM ass_oauth_clients c WHERE NOT EXISTS (SELECT 1 FROM ass_oauth_grants g WHERE g.client_id = c.client_id)
           ORDER BY c.registered_at LIMIT 1`,
        );
        if (spare.rows.length === 0) return false;
        await client.query('DELETE FROM ass_oauth_clients WHERE client_id = $1', [spare.rows[0]!.client_id]);
      }
      await writeClient(client, record);
      return true;
    });
  }

  async clientHasGrant(clientId: string): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM ass_oauth_grants WHERE client_id = $1 LIMIT 1', [clientId]);
    return rows.length > 0;
  }

  async grant(id: string): Promise<OAuthGrantRecord | undefined> {
    const { rows } = await this.db.query<{ record: OAuthGrantRecord }>('SELECT record FROM ass_oauth_grants WHERE id = $1', [id]);
    return rows[0]?.record;
  }

  async listGrants(): Promise<OAuthGrantRecord[]> {
    const { rows } = await this.db.query<{ record: OAuthGrantRecord }>('SELECT record FROM ass_oauth_grants');
    return rows.map((r) => r.record);
  }

  updateGrant<T>(lookup: GrantLookup, fn: (grant: OAuthGrantRecord) => T): Promise<T | undefined> {
    return this.db.transaction(async (client) => {
      let id: string | undefined;
      if ('id' in lookup) id = lookup.id;
      else {
        const found = await client.query<{ id: string }>('SELECT id FROM ass_oauth_grants WHERE refresh_sha256 = $1 OR used_refresh_sha256 @> ARRAY[$1]::text[]', [lookup.refreshSha256]);
        id = found.rows[0]?.id;
      }
      if (id === undefined) return undefined;
      // The row as it is once locked (another replica may have rotated it meanwhile): the lookup is checked again on it.
      const { rows } = await client.query<{ record: OAuthGrantRecord }>('SELECT record FROM ass_oauth_grants WHERE id = $1 FOR UPDATE', [id]);
      const grant = rows[0] ? findGrant([rows[0].record], lookup) : undefined;
      if (!grant) return undefined;
      const out = fn(grant);
      await writeGrant(client, grant);
      return out;
    });
  }

  async addPending(id: string, record: OAuthPendingRecord, max: number): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('pending')]);
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM ass_oauth_pending WHERE expires_at_ms > $1', [record.createdAt]);
      const over = rows[0]!.n - max + 1;
      if (over > 0) {
        await client.query('DELETE FROM ass_oauth_pending WHERE id_sha256 IN (SELECT id_sha256 FROM ass_oauth_pending WHERE expires_at_ms > $1 ORDER BY expires_at_ms ASC LIMIT $2)', [record.createdAt, over]);
      }
      await client.query('INSERT INTO ass_oauth_pending (id_sha256, expires_at_ms, record) VALUES ($1, $2, $3)', [pendingKey(id), record.expiresAt, JSON.stringify(record)]);
    });
  }

  async pending(id: string, now: number): Promise<OAuthPendingRecord | undefined> {
    const { rows } = await this.db.query<{ record: OAuthPendingRecord }>('SELECT record FROM ass_oauth_pending WHERE id_sha256 = $1 AND expires_at_ms > $2', [pendingKey(id), now]);
    return rows[0]?.record;
  }

  async takePending(id: string, now: number): Promise<OAuthPendingRecord | undefined> {
    const { rows } = await this.db.query<{ record: OAuthPendingRecord; expires_at_ms: string }>('DELETE FROM ass_oauth_pending WHERE id_sha256 = $1 RETURNING record, expires_at_ms', [pendingKey(id)]);
    const row = rows[0];
    return row && Number(row.expires_at_ms) > now ? row.record : undefined;
  }

  async addOidcPending(id: string, record: OidcPendingRecord, max: number): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('oidc-pending')]);
      await client.query('DELETE FROM ass_oauth_oidc_pending WHERE expires_at_ms <= $1', [record.createdAt]);
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM ass_oauth_oidc_pending');
      const over = rows[0]!.n - max + 1;
      if (over > 0) {
        await client.query('DELETE FROM ass_oauth_oidc_pending WHERE id_sha256 IN (SELECT id_sha256 FROM ass_oauth_oidc_pending ORDER BY expires_at_ms ASC LIMIT $1)', [over]);
      }
      await client.query('INSERT INTO ass_oauth_oidc_pending (id_sha256, expires_at_ms, record) VALUES ($1, $2, $3)', [oidcPendingKey(id), record.expiresAt, JSON.stringify(record)]);
    });
  }

  async takeOidcPending(id: string, now: number): Promise<OidcPendingRecord | undefined> {
    const { rows } = await this.db.query<{ record: OidcPendingRecord; expires_at_ms: string }>('DELETE FROM ass_oauth_oidc_pending WHERE id_sha256 = $1 RETURNING record, expires_at_ms', [oidcPendingKey(id)]);
    const row = rows[0];
    return row && Number(row.expires_at_ms) > now ? row.record : undefined;
  }

  async addCode(codeSha256: string, record: OAuthCodeRecord): Promise<void> {
    await this.db.query('INSERT INTO ass_oauth_codes (code_sha256, expires_at_ms, grant_id, record) VALUES ($1, $2, NULL, $3)', [codeSha256, record.expiresAt, JSON.stringify(record)]);
  }

  async code(codeSha256: string, now: number): Promise<OAuthCodeRecord | undefined> {
    const { rows } = await this.db.query<{ record: OAuthCodeRecord; grant_id: string | null }>('SELECT record, grant_id FROM ass_oauth_codes WHERE code_sha256 = $1 AND expires_at_ms > $2', [codeSha256, now]);
    const row = rows[0];
    if (!row) return undefined;
    return row.grant_id ? { ...row.record, grantId: row.grant_id } : row.record;
  }

  redeemCode(codeSha256: string, now: number, grant: OAuthGrantRecord): Promise<Redemption> {
    return this.db.transaction(async (client): Promise<Redemption> => {
      const { rows } = await client.query<{ grant_id: string | null; expires_at_ms: string }>('SELECT grant_id, expires_at_ms FROM ass_oauth_codes WHERE code_sha256 = $1 FOR UPDATE', [codeSha256]);
      const row = rows[0];
      if (!row || Number(row.expires_at_ms) <= now) return { unknown: true };
      if (row.grant_id) return { reusedGrantId: row.grant_id };
      await client.query('UPDATE ass_oauth_codes SET grant_id = $2 WHERE code_sha256 = $1', [codeSha256, grant.id]);
      await writeGrant(client, grant);
      return { issued: true };
    });
  }

  async prune(cutoffs: OAuthPruneCutoffs): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM ass_oauth_grants WHERE ended_at_ms < $1', [cutoffs.grantsEndedBefore]);
      await client.query('DELETE FROM ass_oauth_pending WHERE expires_at_ms < $1', [cutoffs.expiredBefore]);
      await client.query('DELETE FROM ass_oauth_oidc_pending WHERE expires_at_ms < $1', [cutoffs.expiredBefore]);
      await client.query('DELETE FROM ass_oauth_codes WHERE expires_at_ms < $1', [cutoffs.expiredBefore]);
      // registered_at is an ISO-8601 UTC instant: text order is time order.
      await client.query(
        `DELETE FROM ass_oauth_clients c WHERE c.record->>'kind' = 'dynamic' AND c.registered_at < $1
           AND NOT EXISTS (SELECT 1 FROM ass_oauth_grants g WHERE g.client_id = c.client_id)`,
        [new Date(cutoffs.clientsUnusedBefore).toISOString()],
      );
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
