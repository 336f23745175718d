/**
 * How to reach a PostgreSQL database: the part of the config that the shared state store
 * (`state: { type: postgres, … }`) and the `postgres` secret backend (`backend: { type: postgres, … }`)
 * have in common. Plain zod, no I/O: `pool.ts` turns a parsed block into a `pg` pool.
 */
import { z } from 'zod';

export const PG_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * TLS to the server. `disable`: plain TCP (loopback or a trusted network only). `require`:
 * encrypted, the server's certificate not checked. `verify-ca`: the certificate must chain to
 * `ca_file` (or the system roots). `verify-full`: that, and the host name must match. Client
 * certificates: `cert_file` + `key_file`. Relative paths resolve against the config's folder.
 */
export const PgSslSchema = z
  .object({
    mode: z.enum(PG_SSL_MODES).default('verify-full'),
    ca_file: z.string().min(1).optional(),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
  })
  .strict()
  .refine((ssl) => (ssl.cert_file === undefined) === (ssl.key_file === undefined), {
    message: 'set both cert_file and key_file (a client certificate), or neither',
    path: ['cert_file'],
  });

/** `postgres://user:password@host:5432/db`, usually written as `${DATABASE_URL}`. */
export const PgUrlSchema = z
  .string()
  .min(1)
  .refine((url) => /^postgres(ql)?:\/\//.test(url), { message: 'must be a PostgreSQL URL such as postgres://user:password@host:5432/dbname' })
  .refine(
    (url) => {
      try {
        new URL(url);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'is not a valid URL (percent-encode special characters in the password)' },
  );

/** Connection settings shared by `state` and the `postgres` backend. */
export const PgConnectionShape = {
  url: PgUrlSchema,
  ssl: PgSslSchema.optional(),
  /** Server-side limit for one statement (lock waits included); beyond it the call fails as unavailable. */
  statement_timeout_ms: z.number().int().min(100).max(600_000).default(5000),
  /** Connections this process keeps open at most. */
  pool_max: z.number().int().min(1).max(1000).default(10),
  /** How long to wait for a new connection before failing as unavailable. */
  connect_timeout_ms: z.number().int().min(100).max(600_000).default(5000),
  /** Apply pending schema migrations at start-up; when false, start-up refuses a schema that is behind. */
  migrate_on_start: z.boolean().default(false),
};

export const PgConnectionSchema = z.object(PgConnectionShape).strict();
export type PgConnectionConfig = z.infer<typeof PgConnectionSchema>;
export type PgSslConfig = z.infer<typeof PgSslSchema>;
