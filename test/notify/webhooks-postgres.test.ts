/**
 * Webhooks with the state in PostgreSQL and two replicas (two store instances, each with its own
 * pool and its own notifier, as two `serve` processes have): each event reaches the receiver
 * once, not once per replica, whichever replica queued it and however they race to deliver.
 * Real PostgreSQL (test/helpers/postgres-peer.ts), a real HTTP receiver on loopback.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Approvals } from '../../src/approvals/approvals.js';
import { Notifier } from '../../src/notify/notifier.js';
import { applyMigrations, createPgDatabase } from '../../src/shared/pg/index.js';
import { STATE_MIGRATIONS } from '../../src/state/pg-migrations.js';
import { createPgStateStore, type PgStateStore } from '../../src/state/pg-store.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const missing = postgresPeerMissing();

if (missing) {
  describeMissingPeer('webhooks over the PostgreSQL state store', missing, POSTGRES_INSTALL_HINT);
} else {
  let peer: PostgresPeer | undefined;
  afterAll(async () => {
    await peer?.destroy();
  });

  describe('webhooks with two replicas on one PostgreSQL', () => {
    it('each event is delivered once: queued on A, decided on B, both draining at once', async () => {
      peer = await startPostgresPeer();
      const url = await peer.newDatabase('hooks');
      const receiver = await startReceiver('ok');
      const secretVar = `ASS_TEST_PG_HOOK_${randomBytes(4).toString('hex').toUpperCase()}`;
      const env = { [secretVar]: randomBytes(24).toString('hex') };
      const logger = { warn: () => undefined, error: () => undefined };
      const clock = () => new Date();
      const replicas: { store: PgStateStore; notifier: Notifier; approvals: Approvals }[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const db = createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 4, connect_timeout_ms: 5000, migrate_on_start: true }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
          await applyMigrations(db, [STATE_MIGRATIONS]);
          const store = createPgStateStore(db);
          const notifier = new Notifier({
            store: { read: () => store.readOutbox(), transact: (fn) => store.transactOutbox(fn) },
            clock, logger, env, webhooks: [{ url: receiver.url, format: 'generic', secretEnv: secretVar }],
            maxAttempts: 3, timeoutMs: 5000, queueSize: 100, links: () => ({ approvalUrl: null, showCommand: 'x' }),
          });
          store.afterEvents = () => notifier.kick();
          replicas.push({ store, notifier, approvals: new Approvals(store, clock, 15 * 60_000, { onEvent: notifier.sink }) });
        }
        const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) {
          const { approval } = await a.approvals.request({ kind: 'secret_access', agentId: 'bot', scopes: [`secrets:read:prod/K${i}`], ttlMs: 60_000, reason: 'r', rule: 'tier:critical', approvers: 1, delayMs: 0 });
          ids.push(approval.id);
        }
        await b.approvals.approve(ids[0]!, 'alice');
        await b.approvals.deny(ids[1]!, 'bob');
        // Both replicas drain at once, several times: 6 events (4 requested, granted, denied).
        await Promise.all([a.notifier.drain(), b.notifier.drain(), a.notifier.drain(), b.notifier.drain()]);
        const got = await receiver.waitFor(6);
        await Promise.all([a.notifier.drain(), b.notifier.drain()]);
        expect(receiver.received).toHaveLength(6);
        expect(new Set(receiver.received.map((r) => r.headers['x-ass-delivery'])).size).toBe(6);
        expect(got.map((r) => (r.json as { type: string }).type).sort()).toEqual(['approval.denied', 'approval.granted', ...Array(4).fill('approval.requested')].sort());
        expect((await a.store.readOutbox()).outbox).toEqual([]);
        expect((await b.store.readOutbox()).outbox_stats).toMatchObject({ delivered: 6, failed_attempts: 0 });
      } finally {
        for (const r of replicas) {
          await r.notifier.close(0);
          await r.store.close();
        }
        await receiver.close();
      }
    }, 120_000);
  });
}
