/** PostgreSQL plumbing shared by the state store, the audit log and the `postgres` secret backend. */
export { PG_SSL_MODES, PgConnectionSchema, PgConnectionShape, PgSslSchema, PgUrlSchema, type PgConnectionConfig, type PgSslConfig } from './config.js';
export { createPgDatabase, isLoopbackHost, pgSslOptions, pgTarget, pgTlsFor, pgTlsRefused, pgUrlHost, pgUnavailableReason, type PgClient, type PgDatabase, type PgDatabaseOptions, type PgQueryable, type PgUnavailableCode } from './pool.js';
export { applyMigrations, ensureSchema, MIGRATION_LOCK_KEY, pendingMigrations, type AppliedMigration, type ComponentMigrations, type Migration } from './migrations.js';
