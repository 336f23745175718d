/**
 * Versioned schema migrations, one ordered list per component ('state', 'audit', 'secrets'),
 * recorded in `schema_migrations (component, version, name, applied_at)`.
 *
 * `applyMigrations` runs in ONE transaction under `pg_advisory_xact_lock`: two replicas (or two
 * `agent-secret-store migrate`) starting at once serialize on the lock, the second finds
 * everything applied and does nothing; a failure rolls every step of that run back.
 * Versions are never renumbered or edited once released: a change is a new version.
 */
import { AssError } from '../errors.js';
import type { PgDatabase, PgQueryable } from './pool.js';

export interface Migration {
  /** 1, 2, 3 … without gaps, per component. */
  version: number;
  /** Short description, recorded and printed (`create secrets tables`). */
  name: string;
  /** SQL run inside the migration transaction (several statements allowed). */
  sql: string;
}

export interface ComponentMigrations {
  component: string;
  migrations: readonly Migration[];
}

export interface AppliedMigration {
  component: string;
  version: number;
  name: string;
}

/** Key of the advisory lock every migration run takes (an arbitrary constant of this project). */
export const MIGRATION_LOCK_KEY = 0x41535300_4d494752n; // 'ASS\0MIGR'

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  component text NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (component, version)
)`;

function checkList({ component, migrations }: ComponentMigrations): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations of '${component}' must be numbered 1, 2, 3 … in order; found ${m.version} at position ${i + 1}`);
  });
}

async function appliedVersions(client: PgQueryable, component: string): Promise<Map<number, string>> {
  const exists = await client.query<{ present: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`);
  if (!exists.rows[0]?.present) return new Map();
  const rows = await client.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations WHERE component = $1 ORDER BY version', [component]);
  return new Map(rows.rows.map((r) => [r.version, r.name]));
}

function newerThanKnown(component: string, applied: Map<number, string>, known: readonly Migration[]): AssError | undefined {
  const newest = Math.max(0, ...applied.keys());
  if (newest > known.length) {
    return new AssError(
      'CONFIG_INVALID',
      `The database's '${component}' schema is at version ${newest}, newer than this agent-secret-store knows (${known.length}). Upgrade this replica; a newer schema is never downgraded.`,
    );
  }
  for (const m of known) {
    const name = applied.get(m.version);
    if (name !== undefined && name !== m.name) {
      return new AssError('CONFIG_INVALID', `The database's '${component}' migration ${m.version} is '${name}', but this version of agent-secret-store calls it '${m.name}'. The database belongs to a different build; refusing to touch it.`);
    }
  }
  return undefined;
}

/** Migrations of these components that the database has not applied yet. */
export async function pendingMigrations(db: PgDatabase, components: readonly ComponentMigrations[]): Promise<AppliedMigration[]> {
  const pending: AppliedMigration[] = [];
  for (const list of components) {
    checkList(list);
    const applied = await db.withClient((client) => appliedVersions(client, list.component));
    const mismatch = newerThanKnown(list.component, applied, list.migrations);
    if (mismatch) throw mismatch;
    for (const m of list.migrations) if (!applied.has(m.version)) pending.push({ component: list.component, version: m.version, name: m.name });
  }
  return pending;
}

/** Applies every pending migration of these components, in one transaction under the lock; returns what it applied. */
export async function applyMigrations(db: PgDatabase, components: readonly ComponentMigrations[]): Promise<AppliedMigration[]> {
  components.forEach(checkList);
  return await db.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    await client.query(CREATE_TABLE);
    const done: AppliedMigration[] = [];
    for (const { component, migrations } of components) {
      const applied = await appliedVersions(client, component);
      const mismatch = newerThanKnown(component, applied, migrations);
      if (mismatch) throw mismatch;
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)', [component, m.version, m.name]);
        done.push({ component, version: m.version, name: m.name });
      }
    }
    return done;
  });
}

/**
 * Start-up: with `migrateOnStart` apply what is pending; otherwise refuse a schema that is behind,
 * naming the command that fixes it.
 */
export async function ensureSchema(db: PgDatabase, components: readonly ComponentMigrations[], options: { migrateOnStart: boolean; configHint?: string }): Promise<AppliedMigration[]> {
  if (options.migrateOnStart) return await applyMigrations(db, components);
  const pending = await pendingMigrations(db, components);
  if (pending.length > 0) {
    const list = pending.map((m) => `${m.component} ${m.version} (${m.name})`).join(', ');
    const config = options.configHint ? ` --config ${options.configHint}` : '';
    throw new AssError(
      'CONFIG_INVALID',
      `The PostgreSQL schema is behind: ${pending.length} migration(s) pending: ${list}. Run: agent-secret-store migrate${config} (or set migrate_on_start: true).`,
    );
  }
  return [];
}
