/**
 * Secrets in PostgreSQL, encrypted as the file backend encrypts them (AES-256-GCM with a fresh IV
 * per write, the key from a key file or a passphrase, never in the database), versions kept,
 * check-and-set enforced by a row lock, so any number of replicas can share one database.
 *
 * The database is opened lazily: schema check (or migration) and key check run on the first call
 * and are retried on the next call after a failure, so a server started while PostgreSQL is down
 * serves once it is back, without a restart. Connection failures are BACKEND_UNAVAILABLE.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { versionConflict, type BackendCapabilities, type BackendHealth, type PutOptions, type SecretBackend } from '../backend.js';
import { AssError, isAssError } from '../../shared/errors.js';
import { ensureSchema } from '../../shared/pg/migrations.js';
import type { PgDatabase } from '../../shared/pg/pool.js';
import { ACCESS_TIERS, MAX_VALUE_BYTES, SECRET_TYPES, systemClock, type Clock, type SecretRecord, type SecretSummary, type SecretWrite } from '../../shared/types.js';
import { associatedData, AuthenticationError, open, seal } from '../file/crypto.js';
import type { KeySource } from '../file/key-source.js';
import { SECRETS_MIGRATIONS } from './migrations.js';

export const PG_SECRET_FORMAT = 'ass-pg-v1';

export interface PostgresBackendOptions {
  db: PgDatabase;
  /** Resolves the key once the database is reachable (key check / scrypt parameters live there). */
  openKey: (db: PgDatabase) => Promise<KeySource>;
  maxVersions: number;
  migrateOnStart: boolean;
  /** Shown in the "schema is behind" message (`agent-secret-store migrate --config <this>`). */
  configHint?: string;
  clock?: Clock;
}

interface VersionRow {
  namespace: string;
  key: string;
  id: string;
  created_at: string;
  version: number | null;
  secret_type: string | null;
  access_tier: string | null;
  metadata: string | null;
  updated_at: string | null;
}

interface SealedRow extends VersionRow {
  iv: Buffer | null;
  tag: Buffer | null;
  ciphertext: Buffer | null;
}

const SecretTypeSchema = z.enum(SECRET_TYPES);
const TierSchema = z.enum(ACCESS_TIERS);
const MetadataSchema = z.record(z.string(), z.string());

/** What the value's seal binds it to: a row edited in the database no longer opens. */
function aadOf(row: { namespace: string; key: string; id: string; version: number; secret_type: string; access_tier: string; metadata: string; updated_at: string }): Buffer {
  return associatedData([PG_SECRET_FORMAT, row.namespace, row.key, row.id, String(row.version), row.secret_type, row.access_tier, row.metadata, row.updated_at]);
}

function integrity(namespace: string, key: string, what: string): AssError {
  return new AssError(
    'INTEGRITY_ERROR',
    `The stored secret ${namespace}/${key} failed its integrity check (${what}). Restore the database from a backup or have a human delete and set it again; check that the key (key file or passphrase) is the one the store was written with.`,
  );
}

export class PostgresBackend implements SecretBackend {
  readonly kind = 'postgres';
  readonly capabilities: BackendCapabilities = { versioning: true, checkAndSet: true, softDelete: false };
  private readonly db: PgDatabase;
  private readonly clock: Clock;
  private opening: Promise<KeySource> | undefined;

  constructor(private readonly options: PostgresBackendOptions) {
    this.db = options.db;
    this.clock = options.clock ?? systemClock;
  }

  /** Schema check and key check, once; a failed attempt is forgotten so the next call retries. */
  ready(): Promise<KeySource> {
    if (!this.opening) {
      const attempt = (async () => {
        await ensureSchema(this.db, [SECRETS_MIGRATIONS], { migrateOnStart: this.options.migrateOnStart, configHint: this.options.configHint });
        return await this.options.openKey(this.db);
      })();
      this.opening = attempt;
      attempt.catch(() => {
        if (this.opening === attempt) this.opening = undefined;
      });
    }
    return this.opening.then(undefined, (error: unknown) => Promise.reject(this.scrub(error)));
  }

  async get(namespace: string, key: string): Promise<SecretRecord | null> {
    refuseNul(namespace, key);
    const { key: secretKey } = await this.ready();
    const result = await this.run(() =>
      this.db.query<SealedRow>(
        `SELECT s.namespace, s.key, s.id, s.created_at, v.version, v.secret_type, v.access_tier, v.metadata, v.updated_at, v.iv, v.tag, v.ciphertext
           FROM ass_secrets s LEFT JOIN ass_secret_versions v
             ON v.namespace = s.namespace AND v.key = s.key AND v.version = s.newest_version
          WHERE s.namespace = $1 AND s.key = $2`,
        [namespace, key],
      ),
    );
    const row = result.rows[0];
    if (!row) return null;
    if (row.version === null || row.iv === null || row.tag === null || row.ciphertext === null) throw integrity(namespace, key, 'its newest version is missing');
    const summary = this.summaryOf(row);
    let plaintext: Buffer;
    try {
      plaintext = open(secretKey, { iv: row.iv, tag: row.tag, ciphertext: row.ciphertext }, aadOf({ ...row, version: row.version, secret_type: row.secret_type!, access_tier: row.access_tier!, metadata: row.metadata!, updated_at: row.updated_at! }));
    } catch (error) {
      if (error instanceof AuthenticationError) throw integrity(namespace, key, 'the value or its tier, type or metadata were changed in the database, or the key is not the store key');
      throw error;
    }
    const value = plaintext.toString('utf8');
    plaintext.fill(0);
    return { ...summary, value };
  }

  async put(write: SecretWrite, options: PutOptions = {}): Promise<SecretSummary> {
    const { namespace, key } = write;
    refuseNul(namespace, key);
    if (Buffer.byteLength(write.value, 'utf8') > MAX_VALUE_BYTES) {
      throw new AssError('VALUE_TOO_LARGE', `The value for ${namespace}/${key} is larger than ${MAX_VALUE_BYTES} bytes (UTF-8). Store a reference to it instead.`);
    }
    const { key: secretKey } = await this.ready();
    return await this.run(() =>
      this.db.transaction(async (client) => {
        const now = this.clock().toISOString();
        // A first write creates the secret's row; every write then locks it, so writers of one
        // secret (on any replica) take turns and versions never collide.
        await client.query('INSERT INTO ass_secrets (namespace, key, id, created_at, newest_version) VALUES ($1, $2, $3, $4, 0) ON CONFLICT (namespace, key) DO NOTHING', [namespace, key, randomUUID(), now]);
        const locked = await client.query<{ id: string; created_at: string; newest_version: number }>('SELECT id, created_at, newest_version FROM ass_secrets WHERE namespace = $1 AND key = $2 FOR UPDATE', [namespace, key]);
        const head = locked.rows[0]!;
        const newest = head.newest_version;
        if (options.expectedVersion !== undefined && options.expectedVersion !== newest) {
          // Thrown inside the transaction: a row created just now for this write is rolled back.
          throw versionConflict(namespace, key, options.expectedVersion, newest);
        }
        const row = { namespace, key, id: head.id, version: newest + 1, secret_type: write.secret_type, access_tier: write.access_tier, metadata: JSON.stringify(write.metadata), updated_at: now };
        const plaintext = Buffer.from(write.value, 'utf8');
        const sealed = seal(secretKey, plaintext, aadOf(row));
        plaintext.fill(0);
        await client.query(
          `INSERT INTO ass_secret_versions (namespace, key, version, secret_type, access_tier, metadata, updated_at, iv, tag, ciphertext)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [namespace, key, row.version, row.secret_type, row.access_tier, row.metadata, row.updated_at, sealed.iv, sealed.tag, sealed.ciphertext],
        );
        await client.query('UPDATE ass_secrets SET newest_version = $3 WHERE namespace = $1 AND key = $2', [namespace, key, row.version]);
        await client.query('DELETE FROM ass_secret_versions WHERE namespace = $1 AND key = $2 AND version <= $3', [namespace, key, row.version - this.options.maxVersions]);
        return {
          namespace,
          key,
          version: row.version,
          secret_type: write.secret_type,
          access_tier: write.access_tier,
          metadata: { ...write.metadata },
          created_at: head.created_at,
          updated_at: now,
          id: head.id,
        } satisfies SecretSummary;
      }),
    );
  }

  /** Summaries from the clear columns: nothing is decrypted to list. */
  async list(namespace: string): Promise<SecretSummary[]> {
    await this.ready();
    const result = await this.run(() =>
      this.db.query<VersionRow>(
        `SELECT s.namespace, s.key, s.id, s.created_at, v.version, v.secret_type, v.access_tier, v.metadata, v.updated_at
           FROM ass_secrets s LEFT JOIN ass_secret_versions v
             ON v.namespace = s.namespace AND v.key = s.key AND v.version = s.newest_version
          WHERE s.namespace = $1`,
        [namespace],
      ),
    );
    return result.rows.map((row) => this.summaryOf(row)).sort((a, b) => compare(a.key, b.key));
  }

  async listNamespaces(): Promise<string[]> {
    await this.ready();
    const result = await this.run(() => this.db.query<{ namespace: string }>('SELECT DISTINCT namespace FROM ass_secrets'));
    const namespaces = new Set<string>();
    for (const { namespace } of result.rows) {
      const parts = namespace.split('/');
      for (let i = 1; i <= parts.length; i += 1) namespaces.add(parts.slice(0, i).join('/'));
    }
    return [...namespaces].sort(compare);
  }

  /** Removes the secret and every version (no recovery window, as the file backend). */
  async delete(namespace: string, key: string): Promise<boolean> {
    refuseNul(namespace, key);
    await this.ready();
    const result = await this.run(() => this.db.query('DELETE FROM ass_secrets WHERE namespace = $1 AND key = $2', [namespace, key]));
    return (result.rowCount ?? 0) > 0;
  }

  async health(): Promise<BackendHealth> {
    try {
      await this.ready();
      await this.run(() => this.db.query('SELECT 1 FROM ass_secrets LIMIT 1'));
      return { ok: true, detail: `PostgreSQL at ${this.db.target()} reachable; schema current; key verified.` };
    } catch (error) {
      return { ok: false, detail: `PostgreSQL at ${this.db.target()}: ${isAssError(error) ? error.message : 'unexpected error'}` };
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private summaryOf(row: VersionRow): SecretSummary {
    const { namespace, key } = row;
    if (row.version === null) throw integrity(namespace, key, 'its newest version is missing');
    const type = SecretTypeSchema.safeParse(row.secret_type);
    const tier = TierSchema.safeParse(row.access_tier);
    let metadata: z.infer<typeof MetadataSchema> | undefined;
    try {
      metadata = MetadataSchema.parse(JSON.parse(row.metadata ?? ''));
    } catch {
      metadata = undefined;
    }
    if (!type.success || !tier.success || !metadata || row.updated_at === null) throw integrity(namespace, key, 'a stored column is malformed');
    return { namespace, key, version: row.version, secret_type: type.data, access_tier: tier.data, metadata, created_at: row.created_at, updated_at: row.updated_at, id: row.id };
  }

  /** Database work; anything but an AssError becomes a scrubbed BACKEND_UNAVAILABLE (SQLSTATE only). */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.scrub(error);
    }
  }

  private scrub(error: unknown): AssError {
    if (isAssError(error)) return error;
    const mapped = this.db.mapError(error);
    if (isAssError(mapped)) return mapped;
    const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'unknown';
    // Security: a driver message may quote data from the statement; only the SQLSTATE is shown.
    return new AssError('BACKEND_UNAVAILABLE', `The PostgreSQL backend failed a query (SQLSTATE ${code}). Check the server log; run agent-secret-store doctor.`, {}, { cause: error });
  }
}

function refuseNul(namespace: string, key: string): void {
  // PostgreSQL text cannot hold NUL; refuse it clearly, as the file backend does.
  if (namespace.includes('\0') || key.includes('\0')) {
    throw new AssError('INVALID_ARGUMENT', 'A namespace or key must not contain a NUL character.');
  }
}

/** Code-unit order, the same as `Array.prototype.sort()` without a comparator. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
