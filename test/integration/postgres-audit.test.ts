/**
 * The audit log in PostgreSQL against a real server: two processes (two "replicas") appending
 * 1,000 records each at once make ONE keyed chain that verifies with nothing lost; a record
 * deleted, edited or cut from the end makes verify fail; a replica with another audit key is
 * refused; PostgreSQL stopped → AUDIT_UNAVAILABLE (fail closed), then appends go on when it is back.
 */
import { runTsWorker } from '../helpers/ts-worker.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditKey, readAuditKey } from '../../src/audit/audit-key.js';
import { AUDIT_MIGRATIONS, createPgAuditLog, verifyPgAuditLog } from '../../src/audit/pg-audit-log.js';
import { AssError } from '../../src/shared/errors.js';
import { applyMigrations, createPgDatabase, PgConnectionSchema, type PgDatabase } from '../../src/shared/pg/index.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';

const missing = postgresPeerMissing();

if (missing) {
  describeMissingPeer('PostgreSQL audit log', missing, POSTGRES_INSTALL_HINT);
} else {
  describe('PostgreSQL audit log (real server)', () => {
    let peer: PostgresPeer;
    let root: string;
    const opened: PgDatabase[] = [];

    async function freshChain(): Promise<{ url: string; db: PgDatabase; keyPath: string }> {
      const url = await peer.newDatabase('ass_audit');
      const db = createPgDatabase(PgConnectionSchema.parse({ url, connect_timeout_ms: 3000 }), { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
      opened.push(db);
      await applyMigrations(db, [AUDIT_MIGRATIONS]);
      const keyPath = path.join(await mkdtemp(path.join(root, 'k-')), 'audit.key');
      return { url, db, keyPath };
    }

    beforeAll(async () => {
      peer = await startPostgresPeer();
      root = await mkdtemp(path.join(tmpdir(), 'ass-pg-audit-'));
    });
    afterAll(async () => {
      for (const db of opened) await db.close().catch(() => undefined);
      await peer?.destroy();
      if (root) await rm(root, { recursive: true, force: true });
    });

    it(
      'two processes appending 1,000 records each at once: one chain, verify passes, nothing lost',
      async () => {
        const { url, db, keyPath } = await freshChain();
        const PER = 1000;
        const run = (id: number) => runTsWorker('test/helpers/pg-audit-worker.ts', [keyPath, String(id), String(PER)], { ASS_PG_URL: url });
        const started = performance.now();
        const results = await Promise.all([run(1), run(2)]);
        console.log(`[pg audit] 2 processes x ${PER} appends took ${((performance.now() - started) / 1000).toFixed(1)} s`);
        for (const r of results) expect(r.code, r.stderr).toBe(0);
        const spans = results.map((r) => (JSON.parse(r.stdout.trim()) as { seqs: [number, number] }).seqs);
        // Both really ran at once: their sequence ranges overlap (interleaved on one chain).
        expect(spans[0]![0] < spans[1]![1] && spans[1]![0] < spans[0]![1]).toBe(true);

        const key = readAuditKey(keyPath);
        expect(key).not.toBeNull();
        const result = await verifyPgAuditLog(db, { key });
        expect(result.problems).toEqual([]);
        expect(result.ok).toBe(true);
        expect(result.keyed).toBe(true);
        expect(result.count).toBe(2 * PER);
        for (const id of [1, 2]) {
          const rows = await db.query<{ n: string }>(`SELECT count(DISTINCT record::json->>'reason') AS n FROM ass_audit WHERE record::json->>'actor' = $1`, [`agent:w${id}`]);
          expect(Number(rows.rows[0]!.n)).toBe(PER);
        }
      },
      300_000,
    );

    async function chainOf(n: number) {
      const chain = await freshChain();
      const audit = createPgAuditLog(chain.db, () => new Date(), { keyPath: chain.keyPath });
      for (let i = 0; i < n; i += 1) await audit.append({ actor: 'agent:bot', action: 'get_secret', namespace: 'ns', key: `K${i}`, outcome: 'allowed' });
      const key = readAuditKey(chain.keyPath);
      expect((await verifyPgAuditLog(chain.db, { key })).ok).toBe(true);
      return { ...chain, audit, key };
    }

    it('a deleted record makes verify fail', async () => {
      const { db, key } = await chainOf(5);
      await db.query('DELETE FROM ass_audit WHERE seq = 3');
      const result = await verifyPgAuditLog(db, { key });
      expect(result.ok).toBe(false);
      expect(result.problems.map((p) => p.problem).join('\n')).toMatch(/sequence 4 where 3 was expected/);
    });

    it('an edited record makes verify fail, even with the hash column left alone', async () => {
      const { db, key } = await chainOf(5);
      await db.query(`UPDATE ass_audit SET record = replace(record, '"outcome":"allowed"', '"outcome":"denied"') WHERE seq = 2`);
      const result = await verifyPgAuditLog(db, { key });
      expect(result.ok).toBe(false);
      expect(result.problems.map((p) => p.problem).join('\n')).toMatch(/does not match its hash/);
    });

    it('records cut from the end make verify fail (the head row no longer matches)', async () => {
      const { db, key } = await chainOf(5);
      await db.query('DELETE FROM ass_audit WHERE seq >= 4');
      const result = await verifyPgAuditLog(db, { key });
      expect(result.ok).toBe(false);
      expect(result.problems.map((p) => p.problem).join('\n')).toMatch(/chain ends at record 3 but its head row says 5/);
    });

    it('a replica with another audit key is refused (AUDIT_UNAVAILABLE), the chain untouched', async () => {
      const { db, key } = await chainOf(2);
      const otherKeyPath = path.join(await mkdtemp(path.join(root, 'other-')), 'audit.key');
      createAuditKey(otherKeyPath, 1);
      const other = createPgAuditLog(db, () => new Date(), { keyPath: otherKeyPath });
      const error = await other.append({ actor: 'agent:bot', action: 'get_secret', outcome: 'allowed' }).catch((e: unknown) => e);
      expect((error as AssError).code).toBe('AUDIT_UNAVAILABLE');
      expect((error as AssError).message).toMatch(/not the key the PostgreSQL audit chain is written with/);
      const result = await verifyPgAuditLog(db, { key });
      expect(result.ok).toBe(true);
      expect(result.count).toBe(2);
    });

    it('PostgreSQL stopped: appends fail closed with AUDIT_UNAVAILABLE; when it is back they go on, one chain', async () => {
      const { db, audit, key } = await chainOf(3);
      await peer.stop();
      try {
        const error = await audit.append({ actor: 'agent:bot', action: 'get_secret', outcome: 'allowed' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AssError);
        expect((error as AssError).code).toBe('AUDIT_UNAVAILABLE');
        expect((error as AssError).message).toMatch(/PostgreSQL\) could not be written \(/);
        expect((error as AssError).message).not.toContain(peer.password);
      } finally {
        await peer.start();
      }
      let appended = false;
      for (let i = 0; i < 20 && !appended; i += 1) {
        appended = await audit.append({ actor: 'agent:bot', action: 'get_secret', outcome: 'allowed' }).then(
          () => true,
          () => false,
        );
      }
      expect(appended).toBe(true);
      const result = await verifyPgAuditLog(db, { key });
      expect(result.ok).toBe(true);
      expect(result.count).toBe(4);
    });
  });
}
