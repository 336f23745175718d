/**
 * OAuth sign-ins with several replicas (issues 10 + 13): two real `serve --http` processes on one
 * PostgreSQL (Debian's server, started for this file) behind a loopback load balancer that the
 * test points at one replica or the other (test/helpers/header-proxy.ts `retarget`), as a
 * balancer would pick. Both replicas share the token signing key and the audit key (docs/scale.md).
 * The client is the SDK's own OAuth client (`auth()` with an OAuthClientProvider): discovery,
 * registration and authorization on A, the human's consent on A's dashboard (driven over plain
 * HTTP: sign-in form, consent form with its CSRF token), token exchange on B, MCP calls on A and
 * on B, refresh on B. Then what must hold across replicas: the old refresh token refused on A
 * (reuse: the grant ends), a code redeemed on A refused on B (and its grant ends), a sign-in begun
 * on B answered on A, a grant revoked on A's dashboard refused on B at the next request.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryProvider, pkce } from '../helpers/oauth-client.js';
import { createFileBackend, createKeyFile } from '../../src/adapters/file/index.js';
import { generateAdminKey, hashKey } from '../../src/server/keys.js';
import { createPgDatabase, type PgDatabase } from '../../src/shared/pg/index.js';
import { call } from '../helpers/cli.js';
import { startHeaderProxy, type HeaderProxy } from '../helpers/header-proxy.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { DashboardBrowser, FORM, form } from '../helpers/dashboard-http.js';
import { raw, type RawResponse } from '../helpers/remote-http.js';
import { writeReplicaHomes } from '../helpers/replica-homes.js';
import { spawnHttpServer, type SpawnedServer } from '../helpers/remote-server.js';

const missing = postgresPeerMissing();
const REDIRECT = 'http://127.0.0.1:9/callback';

const json = (res: RawResponse): Record<string, any> => JSON.parse(res.body) as Record<string, any>;

if (missing) {
  describeMissingPeer('OAuth sign-ins across two replicas on one PostgreSQL', missing, POSTGRES_INSTALL_HINT);
} else {
  let peer: PostgresPeer;
  let root: string;
  let a: SpawnedServer;
  let b: SpawnedServer;
  let lb: HeaderProxy;
  let db: PgDatabase;
  let adminKey: string;

  /** Points the balancer at a replica; returns what it served from then on. */
  const route = (to: SpawnedServer): void => lb.retarget(to.url);
  const hostOf = (s: SpawnedServer): string => new URL(s.url).host;
  const servedBy = (from: number, pathPrefix: string): string[] => lb.seen.slice(from).filter((s) => s.path.startsWith(pathPrefix)).map((s) => s.upstream);

  const token = (fields: Record<string, string>) => raw({ url: lb.url, method: 'POST', path: '/oauth/token', headers: FORM, body: form(fields) });
  const mcpStatus = async (access: string): Promise<RawResponse> =>
    raw({ url: lb.url, method: 'POST', path: '/mcp', headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });

  /** An MCP session through the balancer (on the replica it points at now), with the SDK client and a bearer token. */
  async function readThrough(access: string): Promise<unknown> {
    const client = new Client({ name: 'replica-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${lb.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${access}` } } }));
    try {
      const got = await call(client, 'get_secret', { namespace: 'team', key: 'API' });
      expect(got.ok, JSON.stringify(got)).toBe(true);
      return (got as { data: { value: unknown } }).data.value;
    } finally {
      await client.close();
    }
  }

  async function onBehalfOfReads(): Promise<Record<string, unknown>[]> {
    const { rows } = await db.query<{ record: string }>('SELECT record FROM ass_audit ORDER BY seq');
    return rows.map((r) => JSON.parse(r.record) as Record<string, unknown>).filter((r) => r.action === 'get_secret');
  }

  beforeAll(async () => {
    peer = await startPostgresPeer();
    const url = await peer.newDatabase('oauthreplicas');
    root = await mkdtemp(path.join(tmpdir(), 'ass-oauth-replicas-'));
    const keyFile = path.join(root, 'store.key');
    await createKeyFile(keyFile);
    const secrets = path.join(root, 'secrets');
    const backend = await createFileBackend({ type: 'file', path: secrets, key_file: keyFile });
    await backend.put({ namespace: 'team', key: 'API', value: 'team-api-value', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    await backend.close();
    adminKey = generateAdminKey();
    const config = {
      version: 1,
      data_dir: '.',
      backend: { type: 'file', path: secrets, key_file: keyFile },
      state: { type: 'postgres', url, migrate_on_start: true, statement_timeout_ms: 5000, connect_timeout_ms: 2000 },
      server: { log_level: 'warn' },
      admins: [{ id: 'alice', key_sha256: hashKey(adminKey) }],
      agents: [],
      auth: { oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } } },
    };
    const configs = await writeReplicaHomes(root, config);
    // Both start at once: each migrates the 'oauth' component under the advisory lock; one applies it.
    [a, b] = await Promise.all([spawnHttpServer(configs[0]!), spawnHttpServer(configs[1]!)]);
    lb = await startHeaderProxy(a.url, {}, { freshUpstream: true });
    db = createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 2, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
  }, 180_000);

  afterAll(async () => {
    await lb?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.close();
    await peer?.destroy();
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  describe('OAuth sign-ins shared by two serve --http replicas on one PostgreSQL', () => {
    it('register + authorize + consent on A, token on B, calls on A and B, refresh on B; the old refresh token on A ends the grant everywhere', async () => {
      const provider = new MemoryProvider(REDIRECT, 'Replica test app');
      const serverUrl = `${lb.url}/mcp`;
      const browser = new DashboardBrowser(lb.url);
      route(a);
      let mark = lb.seen.length;
      expect(await auth(provider, { serverUrl })).toBe('REDIRECT');
      expect(servedBy(mark, '/oauth/register')).toEqual([hostOf(a)]);
      await browser.signIn(adminKey);
      const consent = await browser.authorize(provider.authorizationUrl!);
      const back = await browser.allow(consent, 'template:reader');
      const code = back.searchParams.get('code')!;
      expect(code).toBeTruthy();

      route(b);
      mark = lb.seen.length;
      expect(await auth(provider, { serverUrl, authorizationCode: code })).toBe('AUTHORIZED');
      expect(servedBy(mark, '/oauth/token')).toEqual([hostOf(b)]);
      const first = provider.saved!;

      route(a);
      expect(await readThrough(first.access_token)).toBe('team-api-value');
      route(b);
      expect(await readThrough(first.access_token)).toBe('team-api-value');
      // Both replicas recorded the person behind the per-person agent, in the one shared chain.
      const reads = await onBehalfOfReads();
      expect(reads).toHaveLength(2);
      for (const r of reads) expect(r).toMatchObject({ actor: 'agent:reader.alice', on_behalf_of: 'admin:alice', outcome: 'allowed' });

      // Refresh on B (the SDK refreshes when it holds a refresh token): a new pair.
      mark = lb.seen.length;
      expect(await auth(provider, { serverUrl })).toBe('AUTHORIZED');
      expect(servedBy(mark, '/oauth/token')).toEqual([hostOf(b)]);
      const second = provider.saved!;
      expect(second.refresh_token).not.toBe(first.refresh_token);
      route(a);
      expect(await readThrough(second.access_token)).toBe('team-api-value');

      // The old refresh token comes back on A: reuse, refused, and the grant ends on every replica.
      const reused = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: provider.info!.client_id });
      expect(reused.status, reused.body).toBe(400);
      expect(json(reused)).toMatchObject({ error: 'invalid_grant' });
      expect(json(reused).error_description).toMatch(/already used; the grant is revoked/);
      route(b);
      const after = await mcpStatus(second.access_token);
      expect(after.status, after.body).toBe(401);
      expect(String(after.headers['www-authenticate'])).toMatch(/revoked/);
      const refreshAfter = await token({ grant_type: 'refresh_token', refresh_token: second.refresh_token!, client_id: provider.info!.client_id });
      expect(refreshAfter.status).toBe(400);
    });

    it('a code redeemed on A is refused on B, and the grant it made ends on A too', async () => {
      const browser = new DashboardBrowser(lb.url);
      route(a);
      await browser.signIn(adminKey);
      const registered = await raw({ url: lb.url, method: 'POST', path: '/oauth/register', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'raw app', redirect_uris: [REDIRECT] }) });
      expect(registered.status, registered.body).toBe(201);
      const clientId = json(registered).client_id as string;
      const { verifier, challenge } = pkce();
      const authorize = new URL(`${lb.url}/oauth/authorize`);
      for (const [k, v] of Object.entries({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256', state: 'st' })) authorize.searchParams.set(k, v);
      const back = await browser.allow(await browser.authorize(authorize), 'template:reader');
      const exchange = { grant_type: 'authorization_code', code: back.searchParams.get('code')!, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier };
      const issued = await token(exchange);
      expect(issued.status, issued.body).toBe(200);
      const access = json(issued).access_token as string;
      expect((await mcpStatus(access)).status).toBe(200);
      route(b);
      const again = await token(exchange);
      expect(again.status, again.body).toBe(400);
      expect(json(again).error_description).toMatch(/already used; the grant made from it is revoked/);
      route(a);
      const after = await mcpStatus(access);
      expect(after.status, after.body).toBe(401);
    });

    it('a sign-in begun on B is answered on A; the grant revoked on A\'s dashboard is refused on B at the next request of an open session', async () => {
      const provider = new MemoryProvider(REDIRECT, 'Replica test app');
      const serverUrl = `${lb.url}/mcp`;
      route(b);
      expect(await auth(provider, { serverUrl })).toBe('REDIRECT');
      const browser = new DashboardBrowser(lb.url);
      const consent = await browser.authorize(provider.authorizationUrl!);
      route(a);
      await browser.signIn(adminKey);
      const back = await browser.allow(consent, 'template:reader');
      expect(await auth(provider, { serverUrl, authorizationCode: back.searchParams.get('code')! })).toBe('AUTHORIZED');
      const access = provider.saved!.access_token;

      route(b);
      const client = new Client({ name: 'open-session', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { requestInit: { headers: { authorization: `Bearer ${access}` } } }));
      expect((await call(client, 'get_secret', { namespace: 'team', key: 'API' })).ok).toBe(true);

      // The person revokes it on A's Sign-ins page.
      const { rows } = await db.query<{ id: string }>("SELECT id FROM ass_oauth_grants WHERE record->>'revoked_at' IS NULL");
      expect(rows).toHaveLength(1);
      route(a);
      await browser.revoke(rows[0]!.id);

      // B refuses the open session's next call, and any new request with the token.
      route(b);
      const next = await call(client, 'get_secret', { namespace: 'team', key: 'API' });
      expect(next.ok).toBe(false);
      expect(JSON.stringify(next)).not.toContain('team-api-value');
      const fresh = await mcpStatus(access);
      expect(fresh.status, fresh.body).toBe(401);
      expect(String(fresh.headers['www-authenticate'])).toMatch(/revoked/);
      await client.close().catch(() => undefined);
      // Nothing secret at rest: no code, refresh token or access token in the OAuth tables.
      const stored = (await db.query<{ t: string }>("SELECT string_agg(t::text, ' ') AS t FROM (SELECT record::text AS t FROM ass_oauth_grants UNION ALL SELECT record::text FROM ass_oauth_codes UNION ALL SELECT record::text FROM ass_oauth_pending) x")).rows[0]!.t;
      expect(stored).not.toContain(provider.saved!.refresh_token!);
      expect(stored).not.toContain(access);
      expect(stored).not.toContain(back.searchParams.get('code')!);
    });
  });
}
