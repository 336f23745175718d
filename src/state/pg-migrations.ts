/**
 * Schema of the PostgreSQL state store (component 'state'). Released versions are never edited;
 * a change is a new version appended here.
 *
 * - `ass_state_approvals`, `ass_state_tokens`: one row per record (the record as jsonb, plus the
 *   columns the store selects and locks by). A token's `uses` is a column that a CHECK keeps
 *   within `max_uses`, so a use beyond it cannot be stored whatever the code does.
 * - `ass_state_revoked_keys`: revoked agent key hashes.
 * - `ass_state_outbox`: the webhook outbox (one row, bounded by notifications.queue_size; its row
 *   lock makes claims and settlements exclusive across replicas).
 * - v2 `ass_state_rate_buckets`: one token bucket per rate-limit key (`http:<agent>`), shared by
 *   every replica; `full_at` is when it will have refilled, after which the row is the same as
 *   none and is pruned. UNLOGGED: a take is paid on every HTTP request and a bucket is worth no
 *   WAL flush — after a PostgreSQL crash (or on a failed-over standby) the buckets start full,
 *   as a replica's in-memory buckets did after a restart.
 * - v3 `ass_dashboard_sessions`: dashboard sign-in sessions (pg-session-rows.ts) by the sha256 of
 *   the cookie's id; who they are for is sealed in `sealed` (src/dashboard/session-seal.ts).
 */
import type { ComponentMigrations } from '../shared/pg/migrations.js';

export const STATE_MIGRATIONS: ComponentMigrations = {
  component: 'state',
  migrations: [
    {
      version: 1,
      name: 'create approvals, tokens, revoked keys and outbox tables',
      sql: `
        CREATE TABLE ass_state_approvals (
          id text PRIMARY KEY,
          agent_id text NOT NULL,
          status text NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
          record jsonb NOT NULL
        );
        CREATE INDEX ass_state_approvals_agent ON ass_state_approvals (agent_id);
        CREATE INDEX ass_state_approvals_pending ON ass_state_approvals (id) WHERE status = 'pending';
        CREATE TABLE ass_state_tokens (
          id text PRIMARY KEY,
          agent_id text NOT NULL,
          uses integer NOT NULL CHECK (uses >= 0),
          max_uses integer CHECK (max_uses IS NULL OR max_uses >= 1),
          revoked boolean NOT NULL DEFAULT false,
          record jsonb NOT NULL,
          CHECK (max_uses IS NULL OR uses <= max_uses)
        );
        CREATE INDEX ass_state_tokens_agent ON ass_state_tokens (agent_id);
        CREATE TABLE ass_state_revoked_keys (
          key_sha256 text PRIMARY KEY,
          revoked_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE ass_state_outbox (
          id integer PRIMARY KEY CHECK (id = 1),
          data jsonb NOT NULL
        );
        INSERT INTO ass_state_outbox (id, data) VALUES (1, '{"outbox": []}');
      `,
    },
    {
      version: 2,
      name: 'create rate-limit buckets shared by every replica',
      sql: `
        CREATE UNLOGGED TABLE ass_state_rate_buckets (
          key text PRIMARY KEY,
          tokens double precision NOT NULL CHECK (tokens >= 0),
          at timestamptz NOT NULL,
          full_at timestamptz NOT NULL,
          allowed boolean NOT NULL
        );
        CREATE INDEX ass_state_rate_buckets_full_at ON ass_state_rate_buckets (full_at);
      `,
    },
    {
      version: 3,
      name: 'create dashboard sign-in sessions shared by every replica',
      sql: `
        CREATE TABLE ass_dashboard_sessions (
          id_sha256 text PRIMARY KEY,
          admin_id text NOT NULL,
          created_at_ms bigint NOT NULL,
          last_seen_at_ms bigint NOT NULL,
          sealed text NOT NULL
        );
        CREATE INDEX ass_dashboard_sessions_admin ON ass_dashboard_sessions (admin_id);
        CREATE INDEX ass_dashboard_sessions_seen ON ass_dashboard_sessions (last_seen_at_ms);
      `,
    },
  ],
};
