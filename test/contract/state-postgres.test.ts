/**
 * The state-store contract on PostgreSQL (Debian's server, started for this file by
 * test/helpers/postgres-peer.ts): each case gets a new database; each store instance has its own
 * pool, as replicas have. Then what only this store has: a use cannot pass max_uses even written
 * by hand (a CHECK), and PostgreSQL stopped mid-run gives STATE_UNAVAILABLE, then recovery.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { applyMigrations, createPgDatabase } from '../../src/shared/pg/index.js';
import { STATE_MIGRATIONS } from '../../src/state/pg-migrations.js';
import { createPgStateStore, type PgStateStore } from '../../src/state/pg-store.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { runStateContract } from './state-contract.js';

const missing = postgresPeerMissing();
let peerStarting: Promise<PostgresPeer> | undefined;
const peer = () => (peerStarting ??= startPostgresPeer());

async function openStore(url: string, migrate: boolean): Promise<PgStateStore> {
  const db = createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 5, connect_timeout_ms: 5000, migrate_on_start: migrate }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
  if (migrate) await applyMigrations(db, [STATE_MIGRATIONS]);
  return createPgStateStore(db);
}

if (missing) {
  describeMissingPeer('postgres state store', missing, POSTGRES_INSTALL_HINT);
} else {
  afterAll(async () => {
    if (peerStarting) await (await peerStarting).destroy();
  });

  runStateContract('postgres', async () => {
    const url = await (await peer()).newDatabase('state');
    const stores: PgStateStore[] = [];
    let migrated = false;
    return {
      open: async () => {
        const store = await openStore(url, !migrated);
        migrated = true;
        stores.push(store);
        return store;
      },
      cleanup: async () => {
        await Promise.all(stores.map((s) => s.close()));
      },
    };
  }, { sharedRateLimits: true });

  describe('postgres state store: what the database itself enforces', () => {
    it('a use beyond max_uses cannot be stored, even by a write that skips the store (CHECK constraint)', async () => {
      const url = await (await peer()).newDatabase('statecheck');
      const store = await openStore(url, true);
      try {
        const now = new Date();
        await store.issueToken({ id: 'tok-1', agent_id: 'bot', scopes: ['secrets:read:a/*'], issued_at: now.toISOString(), expires_at: new Date(now.getTime() + 60_000).toISOString(), uses: 0, max_uses: 2 }, now, 200);
        const db = createPgDatabase({ url, statement_timeout_ms: 5000, pool_max: 1, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
        try {
          await expect(db.query('UPDATE ass_state_tokens SET uses = 3 WHERE id = $1', ['tok-1'])).rejects.toMatchObject({ code: '23514' });
        } finally {
          await db.close();
        }
      } finally {
        await store.close();
      }
    });

    it('upgrade from state schema 1: migrate applies only versions 2 and 3 (the rate-limit buckets, the dashboard sessions), keeps every record, and the buckets work', async () => {
      const url = await (await peer()).newDatabase('stateupgrade');
      const db = createPgDatabase({ url, statement_timeout_ms: 5000, pool_max: 1, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
      try {
        const v1 = { component: 'state', migrations: STATE_MIGRATIONS.migrations.filter((m) => m.version === 1) };
        expect(await applyMigrations(db, [v1])).toEqual([{ component: 'state', version: 1, name: STATE_MIGRATIONS.migrations[0]!.name }]);
        const old = createPgStateStore(createPgDatabase({ url, statement_timeout_ms: 5000, pool_max: 2, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' }));
        const now = new Date();
        await old.issueToken({ id: 'tok-old', agent_id: 'bot', scopes: ['secrets:read:a/*'], issued_at: now.toISOString(), expires_at: new Date(now.getTime() + 600_000).toISOString(), uses: 1, max_uses: 3 }, now, 200);
        await old.close();
        expect((await applyMigrations(db, [STATE_MIGRATIONS])).map((m) => m.version)).toEqual([2, 3]);
        const store = await openStore(url, false);
        try {
          expect((await store.getToken('tok-old'))?.uses).toBe(1);
          expect(await store.takeRateLimit('http:bot', 1, { perMinute: 1, burst: 1 })).toEqual({ ok: true });
          expect(await store.takeRateLimit('http:bot', 1, { perMinute: 1, burst: 1 })).toMatchObject({ ok: false, retryAfterS: 60 });
        } finally {
          await store.close();
        }
      } finally {
        await db.close();
      }
    });

    it('PostgreSQL stopped: STATE_UNAVAILABLE naming neither password nor address; started again: the same store works, no restart', async () => {
      const pgPeer = await peer();
      const url = await pgPeer.newDatabase('stateoutage');
      const store = await openStore(url, true);
      try {
        const now = new Date();
        const issued = await store.issueToken({ id: 'tok-2', agent_id: 'bot', scopes: ['secrets:read:a/*'], issued_at: now.toISOString(), expires_at: new Date(now.getTime() + 600_000).toISOString(), uses: 0, max_uses: 10 }, now, 200);
        await pgPeer.stop();
        const error = await store.consumeUse(issued.id).then(() => null, (e: unknown) => e as { code: string; message: string });
        expect(error).toMatchObject({ code: 'STATE_UNAVAILABLE' });
        expect(error!.message).toMatch(/state store \(PostgreSQL\) is unavailable/);
        expect(error!.message).not.toContain(pgPeer.password);
        expect(error!.message).not.toContain(String(pgPeer.port));
        await expect(store.isRevoked('ab'.repeat(32))).rejects.toMatchObject({ code: 'STATE_UNAVAILABLE' });
        // A rate limit that cannot be counted lets nothing through.
        await expect(store.takeRateLimit('http:bot', 1, { perMinute: 60, burst: 5 })).rejects.toMatchObject({ code: 'STATE_UNAVAILABLE' });
        await pgPeer.start();
        // Recovery: bounded retries while the server finishes starting.
        let uses = -1;
        for (let i = 0; i < 50 && uses < 0; i++) {
          uses = await store.consumeUse(issued.id).then((t) => t.uses, () => -1);
          if (uses < 0) await new Promise((r) => setTimeout(r, 200));
        }
        expect(uses).toBe(1);
        expect((await store.getToken(issued.id))!.uses).toBe(1);
      } finally {
        await store.close();
      }
    });
  });
}
