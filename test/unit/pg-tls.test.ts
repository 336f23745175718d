/**
 * Security review H10-1: which TLS options a PostgreSQL connection block turns into. Without an
 * `ssl` block and without `sslmode` in the URL, a loopback host stays plain TCP and any other
 * host gets verify-full (the certificate checked against the system roots, the host name too),
 * never a silent cleartext connection that would hand the password to whoever answers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPgDatabase, isLoopbackHost, PgConnectionSchema, pgTlsFor, pgUrlHost } from '../../src/shared/pg/index.js';

const tls = (url: string, ssl?: Record<string, unknown>, baseDir?: string) => pgTlsFor(PgConnectionSchema.parse({ url, ...(ssl ? { ssl } : {}) }), baseDir);

describe('PostgreSQL TLS decision (config → pg options)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ass-pg-tls-unit-'));
  writeFileSync(path.join(dir, 'ca.pem'), 'not really a CA, only read');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a non-loopback host with no ssl block and no sslmode defaults to verify-full', () => {
    for (const url of ['postgres://u:p@db.internal:5432/ass', 'postgres://u:p@10.0.0.5/ass', 'postgres://u:p@[2001:db8::1]:5432/ass', 'postgres://u:p@0.0.0.0/ass', 'postgres://u:p@localhost.evil.example/ass']) {
      const decision = tls(url);
      expect(decision.source, url).toBe('default verify-full');
      expect(decision.ssl, url).toEqual({ rejectUnauthorized: true });
      // The host name is checked too (no checkServerIdentity override as verify-ca has).
      expect((decision.ssl as { checkServerIdentity?: unknown }).checkServerIdentity, url).toBeUndefined();
      expect(decision.warning, url).toBeUndefined();
    }
  });

  it('loopback hosts and unix sockets stay plain TCP when nothing is configured', () => {
    for (const url of ['postgres://u:p@127.0.0.1:5432/ass', 'postgres://u:p@127.1.2.3/ass', 'postgres://u:p@localhost/ass', 'postgres://u:p@LOCALHOST/ass', 'postgres://u:p@[::1]:5432/ass', 'postgres://u:p@%2Fvar%2Frun%2Fpostgresql/ass', 'postgres:///ass?host=/var/run/postgresql']) {
      const decision = tls(url);
      expect(decision.source, url).toBe('loopback');
      expect(decision.ssl, url).toBeUndefined();
      expect(decision.warning, url).toBeUndefined();
    }
  });

  it('?host= wins over the URL host, as in node-postgres', () => {
    expect(pgUrlHost('postgres://u:p@127.0.0.1/ass?host=db.internal')).toBe('db.internal');
    expect(tls('postgres://u:p@127.0.0.1/ass?host=db.internal').source).toBe('default verify-full');
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });

  it('sslmode in the URL decides when there is no ssl block; sslmode=disable to another host warns', () => {
    expect(tls('postgres://u:p@db.internal/ass?sslmode=require')).toEqual({ ssl: undefined, source: 'url' });
    const plain = tls('postgres://u:p@db.internal/ass?sslmode=disable');
    expect(plain.ssl).toBeUndefined();
    expect(plain.warning).toMatch(/WITHOUT TLS .*cleartext/);
    expect(plain.warning).not.toContain(':p@');
    expect(tls('postgres://u:p@127.0.0.1/ass?sslmode=disable').warning).toBeUndefined();
  });

  it('an explicit ssl block decides; mode disable to another host is allowed and warns', () => {
    const disabled = tls('postgres://u:p@db.internal/ass', { mode: 'disable' });
    expect(disabled.ssl).toBe(false);
    expect(disabled.warning).toMatch(/db\.internal:5432\/ass is reached WITHOUT TLS/);
    expect(tls('postgres://u:p@127.0.0.1/ass', { mode: 'disable' }).warning).toBeUndefined();
    expect(tls('postgres://u:p@db.internal/ass', { mode: 'require' }).ssl).toEqual({ rejectUnauthorized: false });
    const full = tls('postgres://u:p@db.internal/ass', { mode: 'verify-full', ca_file: 'ca.pem' }, dir);
    expect(full).toMatchObject({ source: 'ssl block', ssl: { rejectUnauthorized: true, ca: 'not really a CA, only read' } });
  });

  it('the pool gets the decision, and the warning is given once per target', async () => {
    const warnings: string[] = [];
    const config = PgConnectionSchema.parse({ url: 'postgres://u:secret-pw@db.unit-test.invalid/ass', ssl: { mode: 'disable' } });
    const a = createPgDatabase(config, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store', warn: (m) => warnings.push(m) });
    const b = createPgDatabase(config, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store', warn: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain('secret-pw');
    const remote = createPgDatabase(PgConnectionSchema.parse({ url: 'postgres://u:p@db2.unit-test.invalid/ass' }), { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
    expect((remote.pool as unknown as { options: { ssl: unknown } }).options.ssl).toEqual({ rejectUnauthorized: true });
    await Promise.all([a.close(), b.close(), remote.close()]);
  });
});
