/**
 * The `postgres` secret backend against a real PostgreSQL (Debian's server, started per file by
 * test/helpers/postgres-peer.ts): the backend contract in key-file and passphrase mode, then what
 * only this backend must prove: no value or key in the database, a row edited in the database
 * refused (tier lowered, value moved), the key checks, the schema gate, 8 processes x 200 puts
 * losing nothing, and PostgreSQL stopped mid-run (BACKEND_UNAVAILABLE, then recovery).
 */
import { runTsWorker } from '../helpers/ts-worker.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyFile } from '../../src/adapters/file/index.js';
import { createPostgresBackend, type PostgresBackend } from '../../src/adapters/postgres/index.js';
import { caught, write } from '../helpers/backend-fixtures.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { runBackendContract } from '../contract/backend-contract.js';

const missing = postgresPeerMissing();
const FAST_KDF = { N: 2 ** 10, r: 8, p: 1 };

let peerStarting: Promise<PostgresPeer> | undefined;
const peer = () => (peerStarting ??= startPostgresPeer());
let root: string | undefined;
const tempRoot = async () => (root ??= await mkdtemp(path.join(tmpdir(), 'ass-pg-backend-')));

async function newKeyFile(): Promise<string> {
  const file = path.join(await tempRoot(), `key-${randomBytes(4).toString('hex')}`);
  await createKeyFile(file);
  return file;
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

if (missing) {
  describeMissingPeer('postgres secret backend', missing, POSTGRES_INSTALL_HINT);
} else {
  afterAll(async () => {
    if (peerStarting) await (await peerStarting).destroy();
    if (root) await rm(root, { recursive: true, force: true });
  });

  runBackendContract('postgres backend (key file)', async () => {
    const url = await (await peer()).newDatabase();
    const backend = await createPostgresBackend({ type: 'postgres', url, key_file: await newKeyFile(), migrate_on_start: true });
    return { backend, cleanup: async () => undefined };
  });

  runBackendContract('postgres backend (passphrase)', async () => {
    const url = await (await peer()).newDatabase();
    const env = { ASS_TEST_PASSPHRASE: 'correct horse battery staple' };
    const backend = await createPostgresBackend({ type: 'postgres', url, passphrase_env: 'ASS_TEST_PASSPHRASE', migrate_on_start: true }, env, { kdfParams: FAST_KDF });
    return { backend, cleanup: async () => undefined };
  });

  describe('postgres backend: security and durability', () => {
    let url: string;
    let keyFile: string;
    let backend: PostgresBackend;

    beforeAll(async () => {
      url = await (await peer()).newDatabase();
      keyFile = await newKeyFile();
      backend = await createPostgresBackend({ type: 'postgres', url, key_file: keyFile, migrate_on_start: true, max_versions: 3 });
    });
    afterAll(async () => {
      await backend?.close();
    });

    it('the database holds neither the value nor the key, in any column', async () => {
      const canary = `canary-${randomBytes(8).toString('hex')}`;
      await backend.put(write('sec', 'CANARY', canary, { metadata: { team: 'ml' } }));
      const { readFile } = await import('node:fs/promises');
      const key = await readFile(keyFile);
      const rows = [
        ...(await sql(url, 'SELECT * FROM ass_secrets')),
        ...(await sql(url, 'SELECT * FROM ass_secret_versions')),
        ...(await sql(url, 'SELECT * FROM ass_secrets_keys')),
      ];
      const dump = rows
        .flatMap((row) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? `${v.toString('latin1')} ${v.toString('hex')} ${v.toString('base64')}` : String(v))))
        .join('\n');
      expect(dump).toContain('CANARY'); // the dump is real
      expect(dump).not.toContain(canary);
      expect(dump).not.toContain(key.toString('hex'));
      expect(dump).not.toContain(key.toString('base64'));
      expect((await backend.get('sec', 'CANARY'))?.value).toBe(canary);
    });

    it('a tier lowered in the database is refused on get (INTEGRITY_ERROR), not served', async () => {
      await backend.put(write('sec', 'CRIT', 'crit-value', { access_tier: 'critical' }));
      await sql(url, `UPDATE ass_secret_versions SET access_tier = 'standard' WHERE namespace = 'sec' AND key = 'CRIT'`);
      const error = await caught(backend.get('sec', 'CRIT'));
      expect(error.code).toBe('INTEGRITY_ERROR');
      expect(error.message).not.toContain('crit-value');
    });

    it('a value moved to another key, or metadata edited, is refused', async () => {
      await backend.put(write('sec', 'FROM', 'from-value'));
      await backend.put(write('sec', 'TO', 'to-value', { metadata: { a: '1' } }));
      await sql(
        url,
        `UPDATE ass_secret_versions t SET iv = f.iv, tag = f.tag, ciphertext = f.ciphertext
           FROM ass_secret_versions f WHERE f.namespace = 'sec' AND f.key = 'FROM' AND t.namespace = 'sec' AND t.key = 'TO'`,
      );
      expect((await caught(backend.get('sec', 'TO'))).code).toBe('INTEGRITY_ERROR');
      await backend.put(write('sec', 'META', 'meta-value', { metadata: { a: '1' } }));
      await sql(url, `UPDATE ass_secret_versions SET metadata = '{"a":"2"}' WHERE namespace = 'sec' AND key = 'META'`);
      expect((await caught(backend.get('sec', 'META'))).code).toBe('INTEGRITY_ERROR');
    });

    it('keeps max_versions versions, numbering on', async () => {
      for (let i = 1; i <= 5; i += 1) await backend.put(write('sec', 'ROLL', `v${i}`));
      const versions = await sql<{ version: number }>(url, `SELECT version FROM ass_secret_versions WHERE namespace = 'sec' AND key = 'ROLL' ORDER BY version`);
      expect(versions.map((v) => v.version)).toEqual([3, 4, 5]);
      expect(await backend.get('sec', 'ROLL')).toMatchObject({ version: 5, value: 'v5' });
    });

    it('a NUL in a name is INVALID_ARGUMENT', async () => {
      expect((await caught(backend.put(write('sec', 'A\0B', 'x')))).code).toBe('INVALID_ARGUMENT');
    });

    it('another key file is refused (INTEGRITY_ERROR), and so is a passphrase on a key-file store', async () => {
      const other = await newKeyFile();
      const wrong = await caught(createPostgresBackend({ type: 'postgres', url, key_file: other }));
      expect(wrong.code).toBe('INTEGRITY_ERROR');
      expect(wrong.message).toMatch(/not the key this PostgreSQL store was written with/);
      const mixed = await caught(createPostgresBackend({ type: 'postgres', url, passphrase_env: 'P' }, { P: 'whatever' }, { kdfParams: FAST_KDF }));
      expect(mixed.code).toBe('CONFIG_INVALID');
      expect(mixed.message).toMatch(/key file/);
    });

    it('a wrong passphrase is refused', async () => {
      const passUrl = await (await peer()).newDatabase();
      const first = await createPostgresBackend({ type: 'postgres', url: passUrl, passphrase_env: 'P', migrate_on_start: true }, { P: 'right one' }, { kdfParams: FAST_KDF });
      await first.put(write('p', 'K', 'v'));
      await first.close();
      const error = await caught(createPostgresBackend({ type: 'postgres', url: passUrl, passphrase_env: 'P' }, { P: 'wrong one' }));
      expect(error.code).toBe('INTEGRITY_ERROR');
      expect(error.message).toMatch(/^Wrong passphrase/);
      expect(error.message).not.toContain('wrong one');
    });

    it('without migrate_on_start, a database whose schema is behind refuses start-up, naming the command', async () => {
      const fresh = await (await peer()).newDatabase();
      const error = await caught(createPostgresBackend({ type: 'postgres', url: fresh, key_file: keyFile }, process.env, { configHint: 'ass.yaml' }));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain('agent-secret-store migrate --config ass.yaml');
    });

    it(
      '8 processes x 200 puts (100 on one shared key, 100 on their own keys) lose nothing',
      async () => {
        const mpUrl = await (await peer()).newDatabase();
        const mpKey = await newKeyFile();
        // Create the schema once, as `migrate` would; the workers run without migrate_on_start.
        const setup = await createPostgresBackend({ type: 'postgres', url: mpUrl, key_file: mpKey, migrate_on_start: true });
        const WORKERS = 8;
        const PUTS = 200;
        const runWorker = (id: number) => runTsWorker('test/helpers/pg-put-worker.ts', [mpKey, String(id), String(PUTS)], { ASS_PG_URL: mpUrl });
        const started = performance.now();
        const results = await Promise.all(Array.from({ length: WORKERS }, (_, id) => runWorker(id)));
        console.log(`[pg multiprocess] ${WORKERS} workers x ${PUTS} puts took ${((performance.now() - started) / 1000).toFixed(1)} s`);
        const versions: number[] = [];
        for (const result of results) {
          expect(result.code, result.stderr).toBe(0);
          versions.push(...(JSON.parse(result.stdout.trim()) as { shared: number[] }).shared);
        }
        const half = (WORKERS * PUTS) / 2;
        // Every shared put got its own version: 1..800, none twice, none skipped.
        expect(versions.sort((a, b) => a - b)).toEqual(Array.from({ length: half }, (_, i) => i + 1));
        expect((await setup.get('mp', 'SHARED'))?.version).toBe(half);
        const stored = await sql<{ n: string }>(mpUrl, `SELECT count(*) AS n FROM ass_secret_versions WHERE namespace = 'mp' AND key = 'SHARED'`);
        expect(Number(stored[0]!.n)).toBe(half);
        const keys = new Set((await setup.list('mp')).map((s) => s.key));
        keys.delete('SHARED');
        expect(keys.size).toBe(half);
        for (let id = 0; id < WORKERS; id += 1) for (let i = 0; i < PUTS / 2; i += 1) expect(keys.has(`W${id}_K${i}`)).toBe(true);
        expect(await setup.get('mp', 'W5_K99')).toMatchObject({ version: 1, value: 'own-5-99' });
        await setup.close();
      },
      300_000,
    );

    it('PostgreSQL stopped mid-run: BACKEND_UNAVAILABLE (no value, no password), then recovery without a new backend', async () => {
      const server = await peer();
      await backend.put(write('avail', 'K', 'avail-value'));
      await server.stop();
      try {
        for (const call of [() => backend.get('avail', 'K'), () => backend.put(write('avail', 'K2', 'v')), () => backend.list('avail')]) {
          const error = await caught(call());
          expect(error.code).toBe('BACKEND_UNAVAILABLE');
          expect(error.message).not.toContain('avail-value');
          expect(error.message).not.toContain(server.password);
        }
        expect((await backend.health()).ok).toBe(false);
      } finally {
        await server.start();
      }
      let value: string | undefined;
      for (let i = 0; i < 20 && value === undefined; i += 1) value = (await backend.get('avail', 'K').catch(() => null))?.value;
      expect(value).toBe('avail-value');
      expect((await backend.health()).ok).toBe(true);
    });

    it('a backend created while PostgreSQL is down starts, fails calls as unavailable, and serves once it is back', async () => {
      const server = await peer();
      await server.stop();
      let late: PostgresBackend | undefined;
      try {
        late = await createPostgresBackend({ type: 'postgres', url, key_file: keyFile, connect_timeout_ms: 2000 });
        expect((await caught(late.get('sec', 'ROLL'))).code).toBe('BACKEND_UNAVAILABLE');
      } finally {
        await server.start();
      }
      let version: number | undefined;
      for (let i = 0; i < 20 && version === undefined; i += 1) version = (await late!.get('sec', 'ROLL').catch(() => null))?.version;
      expect(version).toBe(5);
      await late!.close();
    });
  });
}
