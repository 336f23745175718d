/**
 * PostgreSQL end to end, through the built CLI and a real stdio MCP server against a real
 * PostgreSQL: `migrate` (two at once), start-up refusing a schema that is behind, the `postgres`
 * backend with the audit in PostgreSQL (`state.type: postgres`), `audit verify` / `audit export`
 * / `doctor` on it, and PostgreSQL stopped under a running server: clear errors, never a value
 * without its audit record, and recovery without restarting the server.
 * The URL (with its per-run password) reaches the config through `${PG_URL}` interpolation.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, adminJson, call, connectAgent, ensureBuilt, fails, initHome, ok, removeHome, runServerUntilExit, type AgentConnection, type Home } from '../helpers/cli.js';
import { newestPgAuditRecords, pgLastActivity } from '../../src/audit/pg-audit-view.js';
import { closeAuditReaders, dashboardAuditVerification, pgAuditReader, verifyConfiguredAudit } from '../../src/server/postgres-setup.js';
import { loadSettings } from '../../src/server/settings.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';

const missing = postgresPeerMissing();

if (missing) {
  describeMissingPeer('PostgreSQL end to end', missing, POSTGRES_INSTALL_HINT);
} else {
  describe('PostgreSQL end to end (built CLI, real server)', () => {
    let peer: PostgresPeer;
    const homes: Home[] = [];
    const connections: AgentConnection[] = [];

    /** A home whose backend and/or state are in a new database of the peer. */
    async function pgHome(options: { backend: boolean; state: boolean; migrateOnStart?: boolean }): Promise<Home> {
      const url = await peer.newDatabase();
      const home = await initHome({
        ...(options.backend ? { backend: { type: 'postgres', url: '${PG_URL}', key_file: './store.key', migrate_on_start: options.migrateOnStart ?? false } } : {}),
        ...(options.state ? { state: { type: 'postgres', url: '${PG_URL}', migrate_on_start: options.migrateOnStart ?? false } } : {}),
      });
      home.env = { PG_URL: url };
      homes.push(home);
      return home;
    }

    beforeAll(async () => {
      [peer] = await Promise.all([startPostgresPeer(), ensureBuilt()]);
    });
    afterAll(async () => {
      for (const c of connections) await c.close().catch(() => undefined);
      for (const home of homes) removeHome(home);
      await peer?.destroy();
    });

    it('start-up refuses a non-loopback PostgreSQL that does not speak TLS when no ssl is configured, naming the setting (H10-1)', async () => {
      // 0.0.0.0 reaches the loopback peer on Linux but is not a loopback name: without an ssl
      // block it means verify-full, and the peer has no TLS.
      for (const options of [{ backend: false, state: true }, { backend: true, state: false }]) {
        const home = await pgHome({ ...options, migrateOnStart: true });
        home.env = { PG_URL: home.env!.PG_URL!.replace('@127.0.0.1:', '@0.0.0.0:') };
        const refused = await runServerUntilExit(home.configPath, { ...home.env, ASS_AGENT_KEY: home.agentKey });
        expect(refused.code, JSON.stringify(options)).not.toBe(0);
        expect(refused.stderr).toMatch(/does not support TLS/);
        expect(refused.stderr).toContain('ssl: { mode: verify-full, ca_file');
        expect(refused.stderr).not.toContain(peer.password);
      }
    });

    it('start-up refuses a schema that is behind, naming migrate; two migrate at once apply each migration once', async () => {
      const home = await pgHome({ backend: true, state: true });
      const refused = await runServerUntilExit(home.configPath, { ...home.env, ASS_AGENT_KEY: home.agentKey });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('agent-secret-store migrate');
      expect(refused.stderr).not.toContain(peer.password);

      const dry = await adminJson<{ databases: { pending: unknown[] }[] }>(home, ['migrate', '--dry-run']);
      // secrets 1, audit 1 and 2 (the dashboard's indexes), state 1, 2 (the shared rate-limit buckets) and 3 (dashboard sessions).
      expect(dry.databases[0]!.pending).toHaveLength(6);

      const [a, b] = await Promise.all([admin(home, ['migrate', '--json']), admin(home, ['migrate', '--json'])]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const applied = [a, b].map((r) => (JSON.parse(r.stdout) as { databases: { label: string; applied: { component: string }[] }[] }).databases);
      expect(applied[0]![0]!.label).toBe('backend + state');
      const counts = applied.map((dbs) => dbs[0]!.applied.length).sort();
      expect(counts).toEqual([0, 6]);
      const again = await admin(home, ['migrate']);
      expect(again.stdout).toMatch(/schema up to date, nothing applied/);
    });

    it('the postgres backend with the audit in PostgreSQL: tools work, audit verify and export read the shared chain, doctor says where it is', async () => {
      const home = await pgHome({ backend: true, state: true, migrateOnStart: true });
      const agent = await connectAgent(home.configPath, home.agentKey, { env: home.env });
      connections.push(agent);
      await ok(agent.client, 'set_secret', { namespace: 'team/app', key: 'API_KEY', value: 'pg-e2e-value', secret_type: 'api_key' });
      expect((await ok(agent.client, 'get_secret', { namespace: 'team/app', key: 'API_KEY' })).value).toBe('pg-e2e-value');
      expect((await ok(agent.client, 'list_secrets', { namespace: 'team/app' })).items.map((s: { key: string }) => s.key)).toEqual(['API_KEY']);

      const verify = await adminJson<{ ok: boolean; count: number; path: string; keyed: boolean }>(home, ['audit', 'verify']);
      expect(verify).toMatchObject({ ok: true, path: 'postgresql:ass_audit', keyed: true });
      expect(verify.count).toBeGreaterThanOrEqual(3);
      expect(existsSync(path.join(home.dir, 'audit.log'))).toBe(false);

      const out = path.join(home.dir, 'export.jsonl');
      const exported = await admin(home, ['audit', 'export', '--out', out]);
      expect(exported.code, exported.stderr).toBe(0);
      const lines = (await readFile(out, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(verify.count);
      expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(Array.from({ length: verify.count }, (_, i) => i + 1));
      expect(lines.join('\n')).not.toContain('pg-e2e-value');
      expect((await admin(home, ['audit', 'export', '--out', out])).stderr).toMatch(/already exists/);

      // What the dashboard's audit and agents pages read: the PostgreSQL chain, not a file.
      const settings = loadSettings(home.configPath, home.env);
      try {
        const db = pgAuditReader(settings)!;
        const newest = await newestPgAuditRecords(db, {}, 1000);
        expect(newest.records.map((r) => JSON.stringify(r))).toEqual([...lines].reverse());
        expect(newest.matched).toBe(verify.count);
        expect((await pgLastActivity(db, ['default', 'nobody'])).has('default')).toBe(true);
        expect(await verifyConfiguredAudit(settings)).toMatchObject({ ok: true, count: verify.count, files: ['postgresql:ass_audit'] });
        expect(await dashboardAuditVerification(settings)).toMatchObject({ ok: true, count: verify.count, keyed: true });
      } finally {
        await closeAuditReaders();
      }

      const doctor = await admin(home, ['doctor', '--json']);
      const checks = (JSON.parse(doctor.stdout) as { checks: { check: string; ok: boolean; detail: string }[] }).checks;
      expect(checks.find((c) => c.check === 'audit log')?.detail).toMatch(/in PostgreSQL \(state\.type: postgres\)/);
      expect(checks.find((c) => c.check === 'audit chain')?.ok).toBe(true);
      expect(checks.find((c) => c.check.startsWith('postgres schema'))?.detail).toMatch(/up to date/);
      expect(checks.find((c) => c.check === 'backend')?.ok).toBe(true);
      expect(checks.find((c) => c.check === 'postgres tls (backend + state)')?.detail).toMatch(/plain TCP on loopback/);
      expect(doctor.stdout).not.toContain(peer.password);
      // The same database reached as a non-loopback host (0.0.0.0 is local on Linux) with an
      // explicit sslmode=disable: allowed, and doctor says the password crosses in cleartext (H10-1).
      const plainUrl = `${home.env!.PG_URL!.replace('@127.0.0.1:', '@0.0.0.0:')}?sslmode=disable`;
      const plain = await admin({ ...home, env: { ...home.env, PG_URL: plainUrl } }, ['doctor', '--json']);
      const plainChecks = (JSON.parse(plain.stdout) as { checks: { check: string; ok: boolean; detail: string }[] }).checks;
      expect(plainChecks.find((c) => c.check === 'postgres tls (backend + state)')?.detail).toMatch(/^warning: PostgreSQL at 0\.0\.0\.0:\d+\/\S+ is reached WITHOUT TLS/);
      expect(plain.stdout + plain.stderr).not.toContain(peer.password);
      await rm(out, { force: true });
    });

    it('PostgreSQL stopped under running servers: clear errors and no value without its audit record; recovery without a restart', async () => {
      // One server with everything in PostgreSQL, one with a file backend but the audit in PostgreSQL.
      const both = await pgHome({ backend: true, state: true, migrateOnStart: true });
      const auditOnly = await pgHome({ backend: false, state: true, migrateOnStart: true });
      const a = await connectAgent(both.configPath, both.agentKey, { env: both.env });
      const b = await connectAgent(auditOnly.configPath, auditOnly.agentKey, { env: auditOnly.env });
      connections.push(a, b);
      for (const c of [a, b]) await ok(c.client, 'set_secret', { namespace: 'ops', key: 'TOKEN', value: 'down-test-value', secret_type: 'api_key' });

      await peer.stop();
      try {
        const errorA = await fails(a.client, 'get_secret', { namespace: 'ops', key: 'TOKEN' });
        // The state store (revocation check) is asked first, in the same database: STATE_UNAVAILABLE.
        expect(['STATE_UNAVAILABLE', 'BACKEND_UNAVAILABLE', 'AUDIT_UNAVAILABLE']).toContain(errorA.code);
        // The file backend could read the value, but neither the state nor the audit record is reachable: refused.
        const errorB = await fails(b.client, 'get_secret', { namespace: 'ops', key: 'TOKEN' });
        expect(['STATE_UNAVAILABLE', 'AUDIT_UNAVAILABLE']).toContain(errorB.code);
        for (const e of [errorA, errorB]) {
          expect(e.error).not.toContain('down-test-value');
          expect(e.error).not.toContain(peer.password);
          expect(e.error).not.toContain(`${peer.port}`);
        }
      } finally {
        await peer.start();
      }
      for (const c of [a, b]) {
        let value: string | undefined;
        for (let i = 0; i < 20 && value === undefined; i += 1) {
          const outcome = await call(c.client, 'get_secret', { namespace: 'ops', key: 'TOKEN' });
          if (outcome.ok) value = outcome.data.value;
        }
        expect(value).toBe('down-test-value');
      }
      for (const home of [both, auditOnly]) {
        const verify = await adminJson<{ ok: boolean }>(home, ['audit', 'verify']);
        expect(verify.ok).toBe(true);
      }
    });
  });
}
