/**
 * Which PostgreSQL databases a config uses and what lives in each: the `postgres` backend's
 * database holds the 'secrets' schema; the `state` database holds the 'audit' schema (and the
 * state store's). One place, so `agent-secret-store migrate`, start-up and `doctor` agree.
 */
import { dirname } from 'node:path';
import { SECRETS_MIGRATIONS } from '../adapters/postgres/migrations.js';
import { readAuditKey } from '../audit/audit-key.js';
import { AUDIT_MIGRATIONS, createPgAuditLog, verifyPgAuditLog } from '../audit/pg-audit-log.js';
import { createPgAuditVerifier, type PgAuditVerifier } from '../audit/pg-audit-view.js';
import { verifyAuditLog, type AuditVerification } from '../audit/verify.js';
import { STATE_MIGRATIONS } from '../state/pg-migrations.js';
import { OAUTH_MIGRATIONS } from './oauth/pg-migrations.js';
import type { AuditLog } from '../audit/audit-log.js';
import { AssError, isAssError } from '../shared/errors.js';
import type { PgConnectionConfig } from '../shared/pg/config.js';
import { applyMigrations, ensureSchema, pendingMigrations, type AppliedMigration, type ComponentMigrations } from '../shared/pg/migrations.js';
import { createPgDatabase, pgTarget, pgTlsRefused, type PgDatabase, type PgUnavailableCode } from '../shared/pg/pool.js';
import type { Runtime } from './runtime.js';
import type { Settings } from './settings.js';

export interface PgTarget {
  /** 'backend', 'state', or 'backend + state' when both name the same database. */
  label: string;
  connection: PgConnectionConfig;
  unavailableCode: PgUnavailableCode;
  components: ComponentMigrations[];
}

/**
 * Schema components the shared state database holds besides the audit log's. The state store
 * (src/state/) registers its own list here, so `migrate` applies it with the rest.
 */
export const STATE_DATABASE_COMPONENTS: ComponentMigrations[] = [AUDIT_MIGRATIONS, STATE_MIGRATIONS];

/** The PostgreSQL state connection, when `state.type` is postgres. */
export function pgStateConnection(settings: Settings): PgConnectionConfig | null {
  const state = settings.config.state;
  return state.type === 'postgres' ? state : null;
}

/** Every database the config uses, with its components (one entry when backend and state share one). */
export function pgTargets(settings: Settings): PgTarget[] {
  const targets: PgTarget[] = [];
  if (settings.backend.type === 'postgres') {
    targets.push({ label: 'backend', connection: settings.backend as unknown as PgConnectionConfig, unavailableCode: 'BACKEND_UNAVAILABLE', components: [SECRETS_MIGRATIONS] });
  }
  const state = pgStateConnection(settings);
  if (state) {
    const same = targets.find((t) => t.connection.url === state.url);
    if (same) {
      same.label = 'backend + state';
      same.components.push(...STATE_DATABASE_COMPONENTS);
    } else targets.push({ label: 'state', connection: state, unavailableCode: 'STATE_UNAVAILABLE', components: [...STATE_DATABASE_COMPONENTS] });
    // OAuth sign-ins (src/server/oauth/pg-store.ts) live in the state database when OAuth is on.
    if (settings.config.auth.oauth) targets.find((t) => t.connection.url === state.url)!.components.push(OAUTH_MIGRATIONS);
  }
  return targets;
}

export interface MigrationReport {
  label: string;
  target: string;
  applied: AppliedMigration[];
  pending: AppliedMigration[];
}

/** `agent-secret-store migrate`: applies what is pending in every database (or only lists it with `dryRun`). */
export async function migrateAll(settings: Settings, options: { dryRun?: boolean } = {}): Promise<MigrationReport[]> {
  const reports: MigrationReport[] = [];
  for (const target of pgTargets(settings)) {
    const db = createPgDatabase(target.connection, { unavailableCode: target.unavailableCode, role: `${target.label} database`, applicationName: 'agent-secret-store migrate' });
    try {
      const pending = await pendingMigrations(db, target.components);
      const applied = options.dryRun ? [] : await applyMigrations(db, target.components);
      reports.push({ label: target.label, target: pgTarget(target.connection.url), applied, pending: options.dryRun ? pending : [] });
    } catch (error) {
      // A human reads this (migrate, doctor): name the database, never its password.
      if (isAssError(error)) throw new AssError(error.code, `${target.label} database ${pgTarget(target.connection.url)}: ${error.message}`, error.details, { cause: error });
      throw error;
    } finally {
      await db.close();
    }
  }
  return reports;
}

/** The state database's pool (audit log; the state store may share it). */
export function openStateDatabase(settings: Settings): PgDatabase {
  const state = pgStateConnection(settings);
  if (!state) throw new Error('state.type is not postgres');
  return createPgDatabase(state, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store', applicationName: 'agent-secret-store' });
}

/**
 * A small pool of one component's own (at most 4 connections) on the state database, its schema
 * checked (or migrated with `migrate_on_start`), closed with the runtime: for what opens lazily on
 * first use beside the runtime's pool (OAuth sign-ins, dashboard sessions).
 */
export async function openComponentPool(runtime: Runtime, component: ComponentMigrations, applicationName: string): Promise<PgDatabase> {
  const state = pgStateConnection(runtime.settings);
  if (!state) throw new Error('state.type is not postgres');
  const db = createPgDatabase({ ...state, pool_max: Math.min(state.pool_max, 4) }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store', baseDir: dirname(runtime.settings.loaded.file), applicationName });
  try {
    await ensureSchema(db, [component], { migrateOnStart: state.migrate_on_start, configHint: runtime.settings.loaded.file });
  } catch (error) {
    await db.close();
    throw error;
  }
  const close = runtime.close.bind(runtime);
  runtime.close = async () => {
    await close();
    await db.close();
  };
  return db;
}

/**
 * The audit log in the state database. Its schema is checked now: behind (without
 * `migrate_on_start`) refuses start-up naming `migrate`; an unreachable database does not
 * (appends fail closed with AUDIT_UNAVAILABLE and the check is retried before the next one).
 */
export async function openPgAudit(settings: Settings, db: PgDatabase, clock: () => Date): Promise<AuditLog> {
  const migrateOnStart = pgStateConnection(settings)?.migrate_on_start ?? false;
  let checked: Promise<unknown> | undefined;
  const ready = () => {
    if (!checked) {
      const attempt = ensureSchema(db, [AUDIT_MIGRATIONS], { migrateOnStart, configHint: settings.loaded.file });
      checked = attempt;
      attempt.catch(() => {
        if (checked === attempt) checked = undefined;
      });
    }
    return checked;
  };
  try {
    await ready();
  } catch (error) {
    // Unreachable now is not fatal (appends fail closed until it is back); TLS refused is a
    // setting to fix (ssl), so start-up stops, naming it.
    if (!(isAssError(error) && error.code === 'STATE_UNAVAILABLE') || pgTlsRefused(error)) throw error;
  }
  return createPgAuditLog(db, clock, { keyPath: settings.auditKeyPath, ready: async () => void (await ready()) });
}

/** Pools of long-lived readers (the dashboard), one per state URL, reused across requests. */
const readers = new Map<string, PgDatabase>();

function stateReader(settings: Settings): PgDatabase | null {
  const state = pgStateConnection(settings);
  if (!state) return null;
  let db = readers.get(state.url);
  if (!db) {
    db = createPgDatabase({ ...state, pool_max: Math.min(state.pool_max, 2) }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store', applicationName: 'agent-secret-store dashboard' });
    readers.set(state.url, db);
  }
  return db;
}

/** Closes the readers' pools (tests; a process exiting need not call it: idle connections time out). */
export async function closeAuditReaders(): Promise<void> {
  const open = [...readers.values()];
  readers.clear();
  verifiers.clear();
  await Promise.all(open.map((db) => db.close()));
}

/** The PostgreSQL audit chain's reader pool when `state.type` is postgres; null for the file log. */
export function pgAuditReader(settings: Settings): PgDatabase | null {
  return stateReader(settings);
}

/** One cached verifier per state URL: the dashboard's page loads extend it instead of re-verifying. */
const verifiers = new Map<string, PgAuditVerifier>();

/**
 * The chain's verification for the dashboard: in PostgreSQL, kept between requests and extended
 * from the last verified record (pg-audit-view.ts); the file log is verified as `audit verify` does.
 */
export async function dashboardAuditVerification(settings: Settings): Promise<AuditVerification & { fullCheckAt?: string }> {
  const key = readAuditKey(settings.auditKeyPath);
  const db = stateReader(settings);
  if (!db) return await verifyAuditLog(settings.auditPath, undefined, { key });
  const url = pgStateConnection(settings)!.url;
  let verifier = verifiers.get(url);
  if (!verifier) {
    verifier = createPgAuditVerifier(db);
    verifiers.set(url, verifier);
  }
  return await verifier.verify(key);
}

/** `audit verify` of the configured log (file or PostgreSQL) with the audit key beside the data. */
export async function verifyConfiguredAudit(settings: Settings): Promise<AuditVerification> {
  const key = readAuditKey(settings.auditKeyPath);
  const db = stateReader(settings);
  return db ? await verifyPgAuditLog(db, { key }) : await verifyAuditLog(settings.auditPath, undefined, { key });
}
