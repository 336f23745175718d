/**
 * The PostgreSQL plumbing against a real server (Debian's, started by test/helpers/postgres-peer.ts):
 * the pool and its error mapping (stopped server → STATE_UNAVAILABLE without the password, and
 * recovery without a new pool once it returns), the migrations runner (two runs at once apply
 * each migration exactly once; a schema that is behind is refused naming the command; a newer
 * schema is never touched), and the `state` config block.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { AssError } from '../../src/shared/errors.js';
import { applyMigrations, createPgDatabase, ensureSchema, pendingMigrations, PgConnectionSchema, type ComponentMigrations, type PgDatabase } from '../../src/shared/pg/index.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';

const missing = postgresPeerMissing();

function database(url: string, extra: Record<string, unknown> = {}): PgDatabase {
  return createPgDatabase(PgConnectionSchema.parse({ url, connect_timeout_ms: 3000, ...extra }), { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
}

const components = (suffix: string): ComponentMigrations[] => [
  {
    component: `alpha_${suffix}`,
    migrations: [
      { version: 1, name: 'create things', sql: `CREATE TABLE things_${suffix} (id serial PRIMARY KEY, label text NOT NULL)` },
      { version: 2, name: 'add things.note', sql: `ALTER TABLE things_${suffix} ADD COLUMN note text` },
    ],
  },
  {
    component: `beta_${suffix}`,
    migrations: [{ version: 1, name: 'create others', sql: `CREATE TABLE others_${suffix} (id int PRIMARY KEY)` }],
  },
];

if (missing) {
  describeMissingPeer('PostgreSQL infrastructure', missing, POSTGRES_INSTALL_HINT);
} else {
  describe('PostgreSQL infrastructure (real server)', () => {
    let peer: PostgresPeer;
    const opened: PgDatabase[] = [];
    const open = (url: string, extra: Record<string, unknown> = {}) => {
      const db = database(url, extra);
      opened.push(db);
      return db;
    };

    beforeAll(async () => {
      peer = await startPostgresPeer();
    });
    afterAll(async () => {
      for (const db of opened) await db.close().catch(() => undefined);
      await peer?.destroy();
    });

    it('connects with the per-run password over loopback TCP and gives a fresh database per test', async () => {
      const url = await peer.newDatabase();
      const db = open(url);
      const result = await db.query<{ db: string; addr: string }>('SELECT current_database() AS db, host(inet_server_addr()) AS addr');
      expect(result.rows[0]!.db).toBe(new URL(url).pathname.slice(1));
      expect(result.rows[0]!.addr).toBe('127.0.0.1');
      expect(db.target()).toBe(`127.0.0.1:${peer.port}${new URL(url).pathname}`);
      expect(db.target()).not.toContain(peer.password);
    });

    it('a wrong password is STATE_UNAVAILABLE naming authentication, never echoing the password', async () => {
      const url = new URL(await peer.newDatabase());
      url.password = 'not-the-password-xyz';
      const db = open(url.toString());
      const error = await db.query('SELECT 1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AssError);
      expect((error as AssError).code).toBe('STATE_UNAVAILABLE');
      expect((error as AssError).message).toMatch(/authentication failed/);
      expect((error as AssError).message).not.toContain('not-the-password-xyz');
      expect((error as AssError).message).not.toContain('127.0.0.1');
    });

    it('applies migrations in order, records them, and a second run applies nothing', async () => {
      const db = open(await peer.newDatabase());
      const list = components('a');
      expect(await pendingMigrations(db, list)).toHaveLength(3);
      const first = await applyMigrations(db, list);
      expect(first.map((m) => `${m.component}:${m.version}`)).toEqual(['alpha_a:1', 'alpha_a:2', 'beta_a:1']);
      expect(await applyMigrations(db, list)).toEqual([]);
      expect(await pendingMigrations(db, list)).toEqual([]);
      await db.query("INSERT INTO things_a (label, note) VALUES ('x', 'y')");
      const rows = await db.query('SELECT component, version, name FROM schema_migrations ORDER BY component, version');
      expect(rows.rows).toHaveLength(3);
    });

    it('two runners starting at once (two pools, as two replicas) apply each migration exactly once', async () => {
      const url = await peer.newDatabase();
      const list = components('b');
      const dbs = Array.from({ length: 4 }, () => open(url));
      const results = await Promise.all(dbs.map((db) => applyMigrations(db, list)));
      // Without the advisory lock, two would both see nothing applied and one would fail on the
      // CREATE TABLE or the primary key; with it, exactly one run applies all three.
      expect(results.map((r) => r.length).sort()).toEqual([0, 0, 0, 3]);
      const count = await dbs[0]!.query<{ n: string }>('SELECT count(*) AS n FROM schema_migrations');
      expect(Number(count.rows[0]!.n)).toBe(3);
    });

    it('a failing migration rolls back the whole run', async () => {
      const db = open(await peer.newDatabase());
      const list: ComponentMigrations[] = [
        {
          component: 'gamma',
          migrations: [
            { version: 1, name: 'ok', sql: 'CREATE TABLE gamma_ok (id int)' },
            { version: 2, name: 'broken', sql: 'CREATE TABLE gamma_bad (id nonexistent_type)' },
          ],
        },
      ];
      await expect(applyMigrations(db, list)).rejects.toThrow(/nonexistent_type/);
      const table = await db.query<{ present: boolean }>("SELECT to_regclass('gamma_ok') IS NOT NULL AS present");
      expect(table.rows[0]!.present).toBe(false);
      expect(await pendingMigrations(db, list)).toHaveLength(2);
    });

    it('start-up without migrate_on_start refuses a schema that is behind, naming the command; with it, migrates', async () => {
      const db = open(await peer.newDatabase());
      const list = components('c');
      const refusal = await ensureSchema(db, list, { migrateOnStart: false, configHint: 'ass.yaml' }).catch((e: unknown) => e);
      expect((refusal as AssError).code).toBe('CONFIG_INVALID');
      expect((refusal as AssError).message).toContain('agent-secret-store migrate --config ass.yaml');
      expect((refusal as AssError).message).toContain('migrate_on_start');
      expect(await ensureSchema(db, list, { migrateOnStart: true })).toHaveLength(3);
      expect(await ensureSchema(db, list, { migrateOnStart: false })).toEqual([]);
    });

    it('a database whose schema is newer than this build is refused, not touched', async () => {
      const db = open(await peer.newDatabase());
      const list = components('d');
      await applyMigrations(db, list);
      const older: ComponentMigrations[] = [{ component: 'alpha_d', migrations: list[0]!.migrations.slice(0, 1) }];
      await expect(ensureSchema(db, older, { migrateOnStart: true })).rejects.toThrow(/newer than this agent-secret-store knows/);
      const renamed: ComponentMigrations[] = [{ component: 'alpha_d', migrations: [{ ...list[0]!.migrations[0]!, name: 'other' }, list[0]!.migrations[1]!] }];
      await expect(pendingMigrations(db, renamed)).rejects.toThrow(/different build/);
    });

    it('a stopped server gives STATE_UNAVAILABLE; the same pool recovers when it is back (stop/start and kill/start)', async () => {
      const url = await peer.newDatabase();
      const db = open(url);
      await db.query('CREATE TABLE t (v int)');
      await db.query('INSERT INTO t VALUES (1)');
      for (const down of ['stop', 'kill'] as const) {
        await peer[down]();
        const error = await db.query('SELECT count(*) FROM t').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AssError);
        expect((error as AssError).code).toBe('STATE_UNAVAILABLE');
        expect((error as AssError).message).not.toContain(peer.password);
        const txError = await db.transaction(async (client) => client.query('INSERT INTO t VALUES (2)')).catch((e: unknown) => e);
        expect((txError as AssError).code).toBe('STATE_UNAVAILABLE');
        await peer.start();
        // Bounded: the pool may hand out one more dead idle connection per slot before it notices.
        let rows: number | undefined;
        for (let i = 0; i < 20 && rows === undefined; i++) {
          rows = await db
            .query<{ n: string }>('SELECT count(*) AS n FROM t')
            .then((r) => Number(r.rows[0]!.n))
            .catch(() => undefined);
        }
        expect(rows).toBe(1);
      }
    });

    it('TLS: ssl.mode require against a server without TLS fails as unavailable, saying so', async () => {
      const db = open(await peer.newDatabase(), { ssl: { mode: 'require' } });
      const error = await db.query('SELECT 1').catch((e: unknown) => e);
      expect((error as AssError).code).toBe('STATE_UNAVAILABLE');
      expect((error as AssError).message).toMatch(/does not support TLS/);
    });

    it('TLS (H10-1): a non-loopback host with no ssl block is never plain: a server without TLS is refused, naming the setting', async () => {
      // 0.0.0.0 reaches this machine's listeners on Linux but is not a loopback name, so it stands
      // in for a remote host: no ssl block and no sslmode must mean verify-full, not cleartext.
      const remoteLooking = (await peer.newDatabase()).replace('@127.0.0.1:', '@0.0.0.0:');
      const error = await open(remoteLooking).query('SELECT 1').catch((e: unknown) => e);
      expect((error as AssError).code).toBe('STATE_UNAVAILABLE');
      expect((error as AssError).message).toMatch(/does not support TLS.*ssl: \{ mode: verify-full, ca_file/);
      expect((error as AssError).message).not.toContain(peer.password);
      // Accepting the risk is explicit: ssl.mode disable connects in plain TCP.
      expect((await open(remoteLooking, { ssl: { mode: 'disable' } }).query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
    });
  });
}

/** A self-signed certificate (its own CA) whose subjectAltName is `san`. */
function selfSigned(dir: string, name: string, san: string): { certFile: string; certPem: string; keyPem: string } {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
  return { certFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

if (!missing) {
  describe('PostgreSQL TLS options against a real TLS server', () => {
    let peer: PostgresPeer;
    const certDir = mkdtempSync(path.join(tmpdir(), 'ass-pg-tls-'));
    const forIp = selfSigned(certDir, 'ip', 'IP:127.0.0.1');
    const forOtherName = selfSigned(certDir, 'other', 'DNS:db.internal');
    const opened: PgDatabase[] = [];
    const open = (ssl: Record<string, unknown>) => {
      const db = database(peer.url, { ssl });
      opened.push(db);
      return db;
    };
    const tlsInUse = async (db: PgDatabase) => (await db.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl;

    beforeAll(async () => {
      peer = await startPostgresPeer({ tls: { certPem: forIp.certPem, keyPem: forIp.keyPem } });
    });
    afterAll(async () => {
      for (const db of opened) await db.close().catch(() => undefined);
      await peer?.destroy();
      rmSync(certDir, { recursive: true, force: true });
    });

    it('verify-full with the CA file connects over TLS; without it the certificate is refused; require skips the check; disable is plain', async () => {
      expect(await tlsInUse(open({ mode: 'verify-full', ca_file: forIp.certFile }))).toBe(true);
      const refused = await open({ mode: 'verify-full' }).query('SELECT 1').catch((e: unknown) => e);
      expect((refused as AssError).code).toBe('STATE_UNAVAILABLE');
      expect((refused as AssError).message).toMatch(/certificate was refused/);
      expect(await tlsInUse(open({ mode: 'require' }))).toBe(true);
      expect(await tlsInUse(open({ mode: 'disable' }))).toBe(false);
    });

    it('a certificate for another host name: verify-full refuses it, verify-ca accepts the chain', async () => {
      await peer.replaceTls(forOtherName.certPem, forOtherName.keyPem);
      await peer.stop();
      await peer.start();
      const full = await open({ mode: 'verify-full', ca_file: forOtherName.certFile }).query('SELECT 1').catch((e: unknown) => e);
      expect((full as AssError).code).toBe('STATE_UNAVAILABLE');
      expect((full as AssError).message).toMatch(/certificate was refused/);
      expect(await tlsInUse(open({ mode: 'verify-ca', ca_file: forOtherName.certFile }))).toBe(true);
      // ...but verify-ca still checks the chain: the first certificate is not its CA.
      const wrongCa = await open({ mode: 'verify-ca', ca_file: forIp.certFile }).query('SELECT 1').catch((e: unknown) => e);
      expect((wrongCa as AssError).code).toBe('STATE_UNAVAILABLE');
    });

    it('TLS (H10-1): with nothing configured, loopback stays plain and a non-loopback host gets verify-full (a self-signed certificate is refused)', async () => {
      const loopback = database(peer.url);
      opened.push(loopback);
      expect(await tlsInUse(loopback)).toBe(false);
      const remoteLooking = database(peer.url.replace('@127.0.0.1:', '@0.0.0.0:'));
      opened.push(remoteLooking);
      const refused = await remoteLooking.query('SELECT 1').catch((e: unknown) => e);
      expect((refused as AssError).code).toBe('STATE_UNAVAILABLE');
      expect((refused as AssError).message).toMatch(/certificate was refused.*ssl: \{ mode: verify-full, ca_file/);
      // sslmode in the URL still decides when there is no ssl block.
      const viaUrl = database(`${peer.url.replace('@127.0.0.1:', '@0.0.0.0:')}?sslmode=no-verify`);
      opened.push(viaUrl);
      expect(await tlsInUse(viaUrl)).toBe(true);
    });

    it('an ssl block overrides sslmode in the URL (one place decides)', async () => {
      const url = `${peer.url}?sslmode=disable`;
      const db = database(url, { ssl: { mode: 'verify-ca', ca_file: forOtherName.certFile } });
      opened.push(db);
      expect(await tlsInUse(db)).toBe(true);
    });

    it('an unreadable CA file is a clear CONFIG_INVALID', () => {
      expect(() => database(peer.url, { ssl: { mode: 'verify-full', ca_file: path.join(certDir, 'missing.pem') } })).toThrow(/Cannot read the PostgreSQL TLS CA file .*missing\.pem: ENOENT/);
    });
  });
}

describe('state config block', () => {
  const base = { version: 1, backend: { type: 'file' }, admins: [{ id: 'a', key_sha256: 'a'.repeat(64) }] };

  it('defaults to the file store', () => {
    expect(ConfigSchema.parse(base).state).toEqual({ type: 'file' });
  });

  it('takes postgres with its defaults, and refuses unknown keys and non-PostgreSQL URLs', () => {
    const parsed = ConfigSchema.parse({ ...base, state: { type: 'postgres', url: 'postgres://u:p@db:5432/ass' } });
    expect(parsed.state).toEqual({
      type: 'postgres',
      url: 'postgres://u:p@db:5432/ass',
      statement_timeout_ms: 5000,
      pool_max: 10,
      connect_timeout_ms: 5000,
      migrate_on_start: false,
    });
    expect(ConfigSchema.safeParse({ ...base, state: { type: 'postgres', url: 'mysql://x' } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ ...base, state: { type: 'postgres', url: 'postgres://x/db', pool: 3 } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ ...base, state: { type: 'file', url: 'postgres://x/db' } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ ...base, state: { type: 'postgres', url: 'postgres://x/db', ssl: { mode: 'verify-full', cert_file: 'c.pem' } } }).success).toBe(false);
  });
});
