/**
 * Schema of the OAuth store in PostgreSQL (component 'oauth', pg-store.ts). Released versions are
 * never edited; a change is a new version appended here.
 *
 * - `ass_oauth_clients`: registered clients (dynamic registration).
 * - `ass_oauth_grants`: one row per consent. The live refresh token's sha256 is UNIQUE; the used
 *   ones are an array (GIN-indexed) so a reused token finds its grant for reuse detection.
 * - `ass_oauth_codes`: authorization codes by sha256; `grant_id` is set once, when redeemed.
 * - `ass_oauth_pending`: sign-ins waiting for consent, by the sha256 of their id.
 * - `ass_oauth_oidc_pending` (version 2): dashboard sign-ins through the identity provider
 *   (auth.oidc) waiting for its callback, by the sha256 of their id; the record is sealed.
 * Instants the store compares are milliseconds (the server's clock, not the database's).
 */
import type { ComponentMigrations } from '../../shared/pg/migrations.js';

export const OAUTH_MIGRATIONS: ComponentMigrations = {
  component: 'oauth',
  migrations: [
    {
      version: 1,
      name: 'create oauth clients, grants, codes and pending sign-ins tables',
      sql: `
        CREATE TABLE ass_oauth_clients (
          client_id text PRIMARY KEY,
          registered_at text NOT NULL,
          record jsonb NOT NULL
        );
        CREATE TABLE ass_oauth_grants (
          id text PRIMARY KEY,
          client_id text NOT NULL,
          refresh_sha256 text NOT NULL UNIQUE,
          used_refresh_sha256 text[] NOT NULL DEFAULT '{}',
          ended_at_ms bigint NOT NULL,
          record jsonb NOT NULL
        );
        CREATE INDEX ass_oauth_grants_client ON ass_oauth_grants (client_id);
        CREATE INDEX ass_oauth_grants_used ON ass_oauth_grants USING gin (used_refresh_sha256);
        CREATE TABLE ass_oauth_codes (
          code_sha256 text PRIMARY KEY,
          expires_at_ms bigint NOT NULL,
          grant_id text,
          record jsonb NOT NULL
        );
        CREATE TABLE ass_oauth_pending (
          id_sha256 text PRIMARY KEY,
          expires_at_ms bigint NOT NULL,
          record jsonb NOT NULL
        );
        CREATE INDEX ass_oauth_pending_expiry ON ass_oauth_pending (expires_at_ms);
      `,
    },
    {
      version: 2,
      name: 'create the table of sign-ins through the identity provider waiting for its callback',
      sql: `
        CREATE TABLE ass_oauth_oidc_pending (
          id_sha256 text PRIMARY KEY,
          expires_at_ms bigint NOT NULL,
          record jsonb NOT NULL
        );
        CREATE INDEX ass_oauth_oidc_pending_expiry ON ass_oauth_oidc_pending (expires_at_ms);
      `,
    },
  ],
};
