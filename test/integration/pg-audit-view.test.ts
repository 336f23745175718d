/**
 * Security review H10-3 against a real PostgreSQL: the dashboard's audit page on a large chain
 * (20,000 records built by the real record code and inserted in batches, then continued by the
 * real append) gets the newest matching records from SQL and a verification that is cached and
 * extended from the last verified record, not re-read per request; tampering after caching is
 * still found (at once at the tail, by the periodic full re-check further back).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditKey } from '../../src/audit/audit-key.js';
import { nextRecord, type AuditRecord } from '../../src/audit/audit-log.js';
import { AUDIT_MIGRATIONS, auditKeyCheck, createPgAuditLog } from '../../src/audit/pg-audit-log.js';
import { createPgAuditVerifier, newestPgAuditRecords, PG_AUDIT_COUNT_CAP, pgLastActivity } from '../../src/audit/pg-audit-view.js';
import { applyMigrations, createPgDatabase, PgConnectionSchema, type PgDatabase } from '../../src/shared/pg/index.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';

const missing = postgresPeerMissing();
const ROWS = 20_000;
const BASE_TIME = Date.parse('2026-01-01T00:00:00.000Z');

if (missing) {
  describeMissingPeer('PostgreSQL audit page', missing, POSTGRES_INSTALL_HINT);
} else {
  describe('PostgreSQL audit page on a large chain (real server)', () => {
    let peer: PostgresPeer;
    let root: string;
    let db: PgDatabase;
    let keyPath: string;
    const written: AuditRecord[] = [];
    let clock = BASE_TIME + ROWS * 1000;
    const now = () => new Date(clock);

    const event = (i: number) =>
      i % 1000 === 0
        ? { actor: 'admin:root', action: 'agents.revoke', outcome: 'ok', reason: `revoke agent a${(i / 1000) % 10}` }
        : { actor: `agent:a${i % 10}`, action: i % 3 === 0 ? 'list_secrets' : 'get_secret', namespace: 'prod', key: `k${i % 7}`, outcome: i % 4 === 0 ? 'denied' : 'allowed' };

    beforeAll(async () => {
      peer = await startPostgresPeer();
      root = await mkdtemp(path.join(tmpdir(), 'ass-pg-audit-view-'));
      db = createPgDatabase(PgConnectionSchema.parse({ url: await peer.newDatabase('ass_view'), connect_timeout_ms: 5000, statement_timeout_ms: 120_000 }), { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
      await applyMigrations(db, [AUDIT_MIGRATIONS]);
      keyPath = path.join(root, 'audit.key');
      const key = createAuditKey(keyPath, 1);
      // The chain built by the log's own record code (nextRecord: keyed hash, prev link), inserted
      // 2,000 rows a statement: 20,000 appends one by one would take minutes on a loaded machine.
      let head = { seq: 0, hash: '0'.repeat(64) };
      for (let start = 1; start <= ROWS; start += 2000) {
        const batch: AuditRecord[] = [];
        for (let i = start; i < start + 2000; i++) {
          const record = nextRecord(head, new Date(BASE_TIME + i * 1000), event(i), key);
          batch.push(record);
          head = record;
        }
        written.push(...batch);
        await db.query('INSERT INTO ass_audit (seq, record, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])', [batch.map((r) => r.seq), batch.map((r) => JSON.stringify(r)), batch.map((r) => r.hash)]);
      }
      await db.query('UPDATE ass_audit_head SET seq = $1, hash = $2, v = 2, key_check = $3', [head.seq, head.hash, auditKeyCheck(key.key)]);
    }, 300_000);
    afterAll(async () => {
      await db?.close().catch(() => undefined);
      await peer?.destroy();
      if (root) await rm(root, { recursive: true, force: true });
    });

    const append = async (n: number) => {
      const log = createPgAuditLog(db, now, { keyPath });
      for (let i = 0; i < n; i++) {
        clock += 1000;
        written.push(await log.append({ actor: 'agent:a1', action: 'get_secret', namespace: 'prod', key: 'late', outcome: 'allowed' }));
      }
    };

    it('the newest records and the count of matches come from SQL, filtered as the file reader filters', async () => {
      await append(3); // the real append goes on from the batch-built chain
      const all = await newestPgAuditRecords(db, {}, 200);
      expect(all.records).toHaveLength(200);
      expect(all.records[0]!.seq).toBe(ROWS + 3);
      expect(all.records.at(-1)!.seq).toBe(ROWS + 3 - 199);
      expect(all).toMatchObject({ matched: PG_AUDIT_COUNT_CAP, capped: true });

      const expected = (pred: (r: AuditRecord) => boolean) => written.filter(pred).reverse();
      const agentA3 = await newestPgAuditRecords(db, { agent: 'a3' }, 3000);
      const wantA3 = expected((r) => r.actor === 'agent:a3' || (r.reason ?? '').includes('agent a3'));
      expect(agentA3.records.map((r) => r.seq)).toEqual(wantA3.map((r) => r.seq));
      expect(agentA3).toMatchObject({ matched: wantA3.length, capped: false });
      expect(agentA3.records.some((r) => r.actor === 'admin:root')).toBe(true);

      const from = new Date(BASE_TIME + 5000 * 1000).toISOString();
      const to = new Date(BASE_TIME + 6000 * 1000).toISOString();
      const narrow = await newestPgAuditRecords(db, { action: 'get_secret', outcome: 'denied', from, to }, 200);
      const wantNarrow = expected((r) => r.action === 'get_secret' && r.outcome === 'denied' && r.ts >= from && r.ts <= to);
      expect(narrow.records.map((r) => r.seq)).toEqual(wantNarrow.map((r) => r.seq));
      expect(narrow.matched).toBe(wantNarrow.length);
      // A filter value is data, never SQL or a LIKE pattern.
      expect(await newestPgAuditRecords(db, { agent: "a3' OR '1'='1" }, 10)).toMatchObject({ records: [], matched: 0 });
      expect(await newestPgAuditRecords(db, { agent: '%' }, 10)).toMatchObject({ records: [], matched: 0 });

      const activity = await pgLastActivity(db, ['a0', 'a1', 'ghost']);
      expect(activity.get('a1')).toBe(written.at(-1)!.ts);
      expect(activity.get('a0')).toBe(expected((r) => r.actor === 'agent:a0')[0]!.ts);
      expect(activity.has('ghost')).toBe(false);
    });

    it('verification is cached and extended from the last verified record; tampering after caching is still found', async () => {
      const key = (await import('../../src/audit/audit-key.js')).readAuditKey(keyPath);
      const verifier = createPgAuditVerifier(db, { now, fullRecheckMs: 5 * 60_000 });
      const first = await verifier.verify(key);
      expect(first).toMatchObject({ ok: true, count: written.length, head: written.at(-1)!.hash, keyed: true, checkedNow: written.length });

      // Page loads at once share one run.
      const together = await Promise.all([verifier.verify(key), verifier.verify(key), verifier.verify(key)]);
      expect(together[1]).toBe(together[0]);
      expect(together[0]).toMatchObject({ ok: true, checkedNow: 0 });

      await append(2);
      expect(await verifier.verify(key)).toMatchObject({ ok: true, count: written.length, checkedNow: 2 });

      // A record appended after the cache, then edited: found by the incremental check.
      await append(1);
      const last = written.at(-1)!;
      await db.query(`UPDATE ass_audit SET record = replace(record, '"allowed"', '"denied"') WHERE seq = $1`, [last.seq]);
      const editedNew = await verifier.verify(key);
      expect(editedNew.ok).toBe(false);
      expect(editedNew.problems.map((p) => p.problem).join('\n')).toMatch(/content does not match its hash/);

      // The last verified record edited: found at once (the tail is compared on every call).
      await db.query('UPDATE ass_audit SET record = $1 WHERE seq = $2', [JSON.stringify(last), last.seq]);
      clock += 5 * 60_000; // past the full re-check: a clean slate
      expect(await verifier.verify(key)).toMatchObject({ ok: true, checkedNow: written.length });
      await db.query(`UPDATE ass_audit SET record = replace(record, '"late"', '"other"') WHERE seq = $1`, [last.seq]);
      const editedTail = await verifier.verify(key);
      expect(editedTail.ok).toBe(false);
      expect(editedTail.problems.map((p) => p.problem).join('\n')).toMatch(new RegExp(`record ${last.seq}, verified earlier, was changed or deleted since[\\s\\S]*content does not match its hash`));
      await db.query('UPDATE ass_audit SET record = $1 WHERE seq = $2', [JSON.stringify(last), last.seq]);
      clock += 5 * 60_000;
      expect(await verifier.verify(key)).toMatchObject({ ok: true });

      // A record far back edited: the incremental call does not re-read it; the full re-check finds it.
      const middle = written[9_998]!; // seq 9999, an agent record with a namespace
      await db.query(`UPDATE ass_audit SET record = replace(record, '"prod"', '"dev"') WHERE seq = $1`, [middle.seq]);
      expect(await verifier.verify(key)).toMatchObject({ ok: true, checkedNow: 0 });
      clock += 5 * 60_000;
      const rechecked = await verifier.verify(key);
      expect(rechecked.ok).toBe(false);
      expect(rechecked.problems).toContainEqual(expect.objectContaining({ line: middle.seq, problem: expect.stringMatching(/content does not match its hash/) }));
      await db.query('UPDATE ass_audit SET record = $1 WHERE seq = $2', [JSON.stringify(middle), middle.seq]);
      clock += 5 * 60_000;
      expect(await verifier.verify(key)).toMatchObject({ ok: true });

      // The tail cut and the head row moved back to match: a full verify alone would call this
      // shorter chain intact; the cache knows a verified record is gone.
      const previous = written.at(-2)!;
      await db.transaction(async (client) => {
        await client.query('DELETE FROM ass_audit WHERE seq = $1', [last.seq]);
        await client.query('UPDATE ass_audit_head SET seq = $1, hash = $2', [previous.seq, previous.hash]);
      });
      const cut = await verifier.verify(key);
      expect(cut.ok).toBe(false);
      expect(cut.problems.map((p) => p.problem)).toContain(`record ${last.seq}, verified earlier, was changed or deleted since`);
    }, 300_000);
  });
}
