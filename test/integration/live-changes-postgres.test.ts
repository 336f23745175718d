/**
 * Open dashboards of every replica hear of a change made on another at once: the dashboard's
 * LiveChanges of replica B (its own PostgreSQL pool and LISTEN connection) fires when replica A
 * issues a token (nothing a status poll would see: only the NOTIFY tells) and when A decides.
 * Real PostgreSQL (test/helpers/postgres-peer.ts); event-driven waits, bounded.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Approvals } from '../../src/approvals/approvals.js';
import { LiveChanges } from '../../src/dashboard/live-changes.js';
import type { Runtime } from '../../src/server/runtime.js';
import { applyMigrations, createPgDatabase } from '../../src/shared/pg/index.js';
import { STATE_MIGRATIONS } from '../../src/state/pg-migrations.js';
import { createPgStateStore, type PgStateStore } from '../../src/state/pg-store.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';

const missing = postgresPeerMissing();

if (missing) {
  describeMissingPeer('live changes across replicas', missing, POSTGRES_INSTALL_HINT);
} else {
  let peer: PostgresPeer | undefined;
  afterAll(async () => {
    await peer?.destroy();
  });

  describe('dashboards of every replica, on one PostgreSQL', () => {
    it('replica B\'s live changes fire when replica A issues a token and when A approves', async () => {
      peer = await startPostgresPeer();
      const url = await peer.newDatabase('live');
      const stores: PgStateStore[] = [];
      const open = async (migrate: boolean) => {
        const db = createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 3, connect_timeout_ms: 5000, migrate_on_start: migrate }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
        if (migrate) await applyMigrations(db, [STATE_MIGRATIONS]);
        const store = createPgStateStore(db);
        stores.push(store);
        return store;
      };
      const clock = () => new Date();
      const [a, b] = [await open(true), await open(false)];
      // Only what LiveChanges reads of a runtime: the clock, the approvals and the state store.
      const runtimeB = { clock, state: b, approvals: new Approvals(b, clock, 15 * 60_000) } as unknown as Runtime;
      const live = new LiveChanges(runtimeB, () => [], 50);
      const versions: number[] = [];
      const unsubscribe = live.subscribe((v) => versions.push(v));
      const next = async (seen: number) => {
        for (let i = 0; i < 200 && versions.length <= seen; i++) await new Promise((r) => setTimeout(r, 25));
        return versions.length;
      };
      try {
        // Let the first poll settle the baseline (LISTEN started, signature taken).
        await b.changeMarker();
        await new Promise((r) => setTimeout(r, 200));
        const start = versions.length;
        const now = new Date();
        await a.issueToken({ id: 'live-token', agent_id: 'bot', scopes: ['secrets:read:a/*'], issued_at: now.toISOString(), expires_at: new Date(now.getTime() + 60_000).toISOString(), uses: 0 }, now, 200);
        expect(await next(start)).toBeGreaterThan(start);
        const approvalsA = new Approvals(a, clock, 15 * 60_000);
        const { approval } = await approvalsA.request({ kind: 'secret_access', agentId: 'bot', scopes: ['secrets:read:prod/K'], ttlMs: 60_000, reason: 'r', rule: 'tier:critical', approvers: 1, delayMs: 0 });
        // Quiet again (the poll and the notice may each have announced the request).
        let quiet = versions.length;
        for (let i = 0; i < 40; i++) {
          await new Promise((r) => setTimeout(r, 100));
          if (versions.length === quiet && i >= 3) break;
          quiet = versions.length;
        }
        const afterRequest = versions.length;
        await approvalsA.approve(approval.id, 'alice');
        expect(await next(afterRequest)).toBeGreaterThan(afterRequest);
      } finally {
        unsubscribe();
        live.stop();
        await Promise.all(stores.map((s) => s.close()));
      }
    }, 120_000);
  });
}
