/**
 * Remote clients that sign in (issue 13): MCP authorization, protocol 2025-11-25, against a real
 * `serve --http` process, the SDK's own Client with an OAuthClientProvider, and Debian's
 * chromium for the human steps (sign-in, consent, revocation).
 *
 * The specification's MUSTs that apply to a server, point by point, and the test that covers each
 * (the conformance suite has no server-side authorization scenarios in the installed version):
 *
 * Protected resource (MCP server)
 *  PR1 MUST implement OAuth 2.0 Protected Resource Metadata (RFC 9728), whose
 *      `authorization_servers` names at least one authorization server        → "discovery"
 *  PR2 MUST answer 401 with `WWW-Authenticate` carrying `resource_metadata`     → "discovery", "401 challenge"
 *  PR3 MUST validate that an access token was issued for it (audience, RFC 8707) → "refused tokens: wrong audience"
 *  PR4 invalid or expired tokens MUST get 401                                  → "refused tokens: expired, tampered, alg none, another server"
 *  PR5 access tokens MUST come in the Authorization header, never the query    → "refused tokens: query string"
 *  PR6 authorization MUST be checked on every request (no session bypass)      → "revoked grant fails on the next call"
 *  PR7 MUST NOT accept tokens meant for other services / pass them through     → "refused tokens: scoped REST token", "access token on REST"
 * Authorization server
 *  AS1 MUST publish RFC 8414 metadata (or OIDC discovery)                      → "discovery"
 *  AS2 PKCE MUST be used; S256 when technically capable (we accept only S256)  → "PKCE: missing and plain refused", "wrong verifier"
 *  AS3 redirect URIs MUST be registered and matched exactly; https or loopback → "redirect URI one character off", "registration refuses"
 *  AS4 authorization codes MUST be single-use (and SHOULD revoke on reuse)     → "code is single-use"
 *  AS5 refresh tokens for public clients MUST be sender-constrained or rotated → "refresh rotates; reuse revokes the grant"
 *  AS6 the `resource` parameter binds the token's audience (RFC 8707)          → "resource mismatch refused"
 *  AS7 `state` comes back unchanged                                             → "the SDK client signs in"
 *  AS8 dynamic client registration (RFC 7591) / client ID metadata documents   → "the SDK client signs in" (DCR)
 * Ours: consent never bypasses tiers; per-person identity in the audit log; an agent key or
 * agent token can never sign in or consent.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryProvider, pkce, RedirectReceiver } from '../helpers/oauth-client.js';
import { admin, call, initHome, ok, REPO_ROOT, removeHome, type Home } from '../helpers/cli.js';
import { chromiumMissing, launchBrowser, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { DOCUMENT_REFUSED } from '../../src/server/oauth/service.js';
import { TEST_LOOPBACK_DOCUMENTS_ENV, TEST_LOOPBACK_DOCUMENTS_PURPOSE } from '../../src/server/oauth/test-loopback-documents.js';

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('OAuth sign-in in a browser', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe('MCP authorization: OAuth sign-in with consent in the dashboard', () => {
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    const receiver = new RedirectReceiver();
    let origin: string;
    let resource: string;
    /** A client registered by hand, for the raw protocol checks. */
    let rawClient: string;
    /** An https origin on loopback serving client ID metadata documents (its certificate trusted by the server through NODE_EXTRA_CA_CERTS). */
    let documents: Server;
    let documentsOrigin: string;
    let hugeSent = 0;
    let hugeClosedEarly = false;

    const post = (p: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${origin}${p}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body).toString() });
    const mcpWith = (token: string) =>
      fetch(`${origin}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
    const authorizeUrl = (params: Record<string, string | undefined>): string => {
      const url = new URL(`${origin}/oauth/authorize`);
      for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
      return url.toString();
    };

    /** Opens an authorize URL in the signed-in browser, picks `choice`, clicks Allow; returns where it landed. */
    async function consent(url: string, choice: RegExp | string = /Existing agent default/, shot?: string): Promise<URL> {
      const before = receiver.hits.length;
      await page.goto(url);
      if (page.url().includes('/dashboard/sign-in')) {
        await page.getByLabel('Admin key').fill(home.adminKey);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL(/\/dashboard\/oauth\/consent\//);
      }
      await page.getByLabel(choice).check();
      // Saved into docs/ for docs/remote-auth.md, as the dashboard suite does for its pages.
      if (shot) await page.screenshot({ path: path.join(REPO_ROOT, 'docs', `${shot}.png`), fullPage: true });
      await page.getByRole('button', { name: 'Allow' }).click();
      await expect.poll(() => receiver.hits.length, { timeout: 15_000 }).toBeGreaterThan(before);
      return receiver.hits.at(-1)!;
    }

    /** Authorization code for the raw client, with its PKCE verifier. */
    async function rawCode(choice?: RegExp | string): Promise<{ code: string; verifier: string }> {
      const { verifier, challenge } = pkce();
      const back = await consent(authorizeUrl({ response_type: 'code', client_id: rawClient, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256', state: 's1', resource }), choice);
      return { code: back.searchParams.get('code')!, verifier };
    }

    async function exchange(code: string, verifier: string | undefined, extra: Record<string, string> = {}): Promise<Response> {
      return post('/oauth/token', { grant_type: 'authorization_code', code, client_id: rawClient, redirect_uri: receiver.url, ...(verifier ? { code_verifier: verifier } : {}), ...extra });
    }

    const auditRecords = (): Record<string, unknown>[] =>
      readFileSync(path.join(home.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

    beforeAll(async () => {
      await receiver.start();
      home = await initHome({
        auth: { agent_keys: true, oauth: { templates: { reader: { description: 'Read the team secrets', grants: ['secrets:read:team/**'] } } } },
      });
      for (const [ns, key, tier] of [['team/app', 'API_KEY', 'standard'], ['team/vault', 'ROOT_KEY', 'critical'], ['production/db', 'PASSWORD', 'standard']] as const) {
        const r = await admin(home, ['secrets', 'set', ns, key, '--tier', tier], { input: `value-of-${key}-${process.pid}` });
        if (r.code !== 0) throw new Error(r.stderr);
      }
      // Client ID metadata documents must be https: a self-signed certificate the server process trusts.
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(home.dir, 'doc-key.pem'), '-out', path.join(home.dir, 'doc-cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      documents = createHttpsServer({ key: readFileSync(path.join(home.dir, 'doc-key.pem')), cert: readFileSync(path.join(home.dir, 'doc-cert.pem')) }, (req, res) => {
        const self = `${documentsOrigin}${req.url}`;
        if (req.url === '/missing.json') {
          res.writeHead(404).end('no');
          return;
        }
        if (req.url === '/not-json.json') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{not json');
          return;
        }
        if (req.url === '/huge.json') {
          // 10 MB in 64 KiB writes, as fast as the reader takes them: counts what left before the server hung up.
          res.writeHead(200, { 'content-type': 'application/json' });
          const chunk = Buffer.alloc(65_536, 0x20);
          const pump = (): void => {
            while (hugeSent < 10 * 1024 * 1024) {
              hugeSent += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', pump);
            }
            res.end();
          };
          res.on('close', () => (hugeClosedEarly = hugeSent < 10 * 1024 * 1024));
          pump();
          return;
        }
        const body = req.url === '/client.json'
          ? { client_id: self, client_name: 'Documented desktop app', redirect_uris: [receiver.url], token_endpoint_auth_method: 'none' }
          : { client_id: `${documentsOrigin}/someone-else.json`, client_name: 'Impostor', redirect_uris: [receiver.url] };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
      await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
      documentsOrigin = `https://127.0.0.1:${(documents.address() as AddressInfo).port}`;
      // Documents on loopback need the TEST-ONLY switch (src/server/oauth/test-loopback-documents.ts).
      const loopbackSwitch = path.join(home.dir, 'loopback-documents.json');
      writeFileSync(loopbackSwitch, JSON.stringify({ purpose: TEST_LOOPBACK_DOCUMENTS_PURPOSE }), { mode: 0o600 });
      served = await startServing(home.configPath, 'serve', { NODE_EXTRA_CA_CERTS: path.join(home.dir, 'doc-cert.pem'), [TEST_LOOPBACK_DOCUMENTS_ENV]: loopbackSwitch });
      origin = served.origin;
      resource = `${origin}/mcp`;
      browser = await launchBrowser();
      context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
      page = await context.newPage();
      const reg = await fetch(`${origin}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'raw protocol client', redirect_uris: [receiver.url], token_endpoint_auth_method: 'none' }) });
      expect(reg.status).toBe(201);
      rawClient = ((await reg.json()) as { client_id: string }).client_id;
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await served?.stop();
      await receiver.stop();
      await new Promise((resolve) => documents?.close(resolve));
      removeHome(home);
    });

    it('discovery: 401 with resource_metadata, RFC 9728 and RFC 8414 metadata (PR1, PR2, AS1)', async () => {
      const bare = await fetch(`${origin}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
      expect(bare.status).toBe(401);
      expect(bare.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`);
      const prm = (await (await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<string, unknown>;
      expect(prm).toMatchObject({ resource, authorization_servers: [origin], bearer_methods_supported: ['header'] });
      const asm = (await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      expect(asm).toMatchObject({
        issuer: origin,
        authorization_endpoint: `${origin}/oauth/authorize`,
        token_endpoint: `${origin}/oauth/token`,
        registration_endpoint: `${origin}/oauth/register`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
      });
      // x-agent-key keeps working beside OAuth (auth.agent_keys: true).
      const keyed = await fetch(`${origin}/mcp`, { method: 'POST', headers: { 'x-agent-key': home.agentKey, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'k', version: '1' } } }) });
      expect(keyed.status).toBe(200);
    });

    let sdkProvider: MemoryProvider;

    it('the SDK client signs in: discovery, registration, consent in chromium, token exchange, get_secret; the audit names the person (AS7, AS8)', async () => {
      sdkProvider = new MemoryProvider(receiver.url, 'Test chat app <b>bold</b>');
      const first = new Client({ name: 'oauth-e2e', version: '1.0.0' });
      await expect(first.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: sdkProvider }))).rejects.toBeInstanceOf(UnauthorizedError);
      expect(sdkProvider.info?.client_id).toBeTruthy();
      const authUrl = sdkProvider.authorizationUrl!;
      expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authUrl.searchParams.get('resource')).toBe(resource);

      const back = await consent(authUrl.toString(), /Existing agent default/, 'remote-auth-consent');
      // The client's own name is shown as text, never as markup.
      await page.goBack();
      expect(back.searchParams.get('state')).toBe(sdkProvider.lastState);
      expect(back.searchParams.get('iss')).toBe(origin);
      const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: sdkProvider });
      await transport.finishAuth(back.searchParams.get('code')!);
      expect(sdkProvider.saved?.refresh_token).toMatch(/^oauth_rt_/);
      const claims = decodeJwt(sdkProvider.saved!.access_token);
      expect(claims).toMatchObject({ aud: resource, iss: origin, sub: 'default', act: { sub: 'admin:admin' } });
      expect((claims.exp as number) - (claims.iat as number)).toBe(3600);

      const client = new Client({ name: 'oauth-e2e', version: '1.0.0' });
      await client.connect(transport);
      const secret = await ok(client, 'get_secret', { namespace: 'team/app', key: 'API_KEY' });
      expect(secret.value).toBe(`value-of-API_KEY-${process.pid}`);
      // Consent does not bypass tiers: a critical secret still needs its approval.
      const critical = await call(client, 'get_secret', { namespace: 'team/vault', key: 'ROOT_KEY' });
      expect(critical.ok).toBe(false);
      expect(!critical.ok && critical.error).toMatch(/Human approval required/);
      await client.close();

      const reads = auditRecords().filter((r) => r.action === 'get_secret');
      expect(reads.length).toBeGreaterThanOrEqual(2);
      for (const r of reads.slice(-2)) expect(r).toMatchObject({ actor: 'agent:default', on_behalf_of: 'admin:admin' });
      expect(auditRecords().some((r) => r.action === 'oauth.consent' && r.actor === 'admin:admin' && r.outcome === 'ok')).toBe(true);
      // The keyed chain still verifies with the new field.
      const verify = await admin(home, ['audit', 'verify']);
      expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    });

    it('the consent page shows the client name as inert text and sends the browser back only to the registered origin', async () => {
      const { challenge } = pkce();
      await page.goto(authorizeUrl({ response_type: 'code', client_id: sdkProvider.info!.client_id, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256' }));
      await expect.poll(() => page.locator('.client-name').textContent()).toBe('Test chat app <b>bold</b>');
      expect(await page.locator('.client-name b').count()).toBe(0);
      const csp = (await page.reload())!.headers()['content-security-policy']!;
      expect(csp).toContain(`form-action 'self' ${new URL(receiver.url).origin};`);
      await page.getByRole('button', { name: 'Refuse' }).click();
      await expect.poll(() => receiver.hits.at(-1)?.searchParams.get('error'), { timeout: 15_000 }).toBe('access_denied');
    });

    it('refresh works through the SDK: an unusable access token is refreshed and the call retried', async () => {
      const oldRefresh = sdkProvider.saved!.refresh_token!;
      sdkProvider.saved = { ...sdkProvider.saved!, access_token: 'not-a-token' };
      const client = new Client({ name: 'oauth-e2e', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: sdkProvider }));
      expect((await ok(client, 'list_namespaces')).namespaces).toContain('team/app');
      expect(sdkProvider.saved!.refresh_token).not.toBe(oldRefresh);
      await client.close();
    });

    it('refresh rotates; presenting a used refresh token revokes the whole grant (AS5)', async () => {
      const { code, verifier } = await rawCode();
      const first = (await (await exchange(code, verifier)).json()) as OAuthTokens;
      const rotated = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: rawClient });
      expect(rotated.status).toBe(200);
      const second = (await rotated.json()) as OAuthTokens;
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect((await mcpWith(second.access_token)).status).toBe(200);
      // Another client cannot use it.
      expect((await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: second.refresh_token!, client_id: sdkProvider.info!.client_id })).status).toBe(400);
      const reuse = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: rawClient });
      expect(reuse.status).toBe(400);
      expect(((await reuse.json()) as { error: string }).error).toBe('invalid_grant');
      // The grant is gone: its live access token and its newest refresh token stop working.
      const after = await mcpWith(second.access_token);
      expect(after.status).toBe(401);
      expect(after.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
      expect((await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: second.refresh_token!, client_id: rawClient })).status).toBe(400);
    });

    it('an authorization code is single-use; its second use revokes the tokens it gave (AS4)', async () => {
      const { code, verifier } = await rawCode();
      const once = await exchange(code, verifier);
      expect(once.status).toBe(200);
      const tokens = (await once.json()) as OAuthTokens;
      expect((await mcpWith(tokens.access_token)).status).toBe(200);
      const twice = await exchange(code, verifier);
      expect(twice.status).toBe(400);
      expect(((await twice.json()) as { error: string }).error).toBe('invalid_grant');
      expect((await mcpWith(tokens.access_token)).status).toBe(401);
    });

    it('PKCE: a missing or plain challenge is refused at authorize; a missing or wrong verifier at the token endpoint (AS2)', async () => {
      const base = { response_type: 'code', client_id: rawClient, redirect_uri: receiver.url, state: 'pkce' };
      for (const params of [base, { ...base, code_challenge: pkce().challenge }, { ...base, code_challenge: pkce().verifier, code_challenge_method: 'plain' }]) {
        const r = await fetch(authorizeUrl(params), { redirect: 'manual' });
        expect(r.status).toBe(303);
        const location = new URL(r.headers.get('location')!);
        expect(location.origin + location.pathname).toBe(receiver.url);
        expect(location.searchParams.get('error')).toBe('invalid_request');
        expect(location.searchParams.get('state')).toBe('pkce');
      }
      const { code, verifier } = await rawCode();
      const none = await exchange(code, undefined);
      expect(none.status).toBe(400);
      const wrong = await exchange(code, pkce().verifier);
      expect(wrong.status).toBe(400);
      expect(((await wrong.json()) as { error: string }).error).toBe('invalid_grant');
      // The right verifier still works: a failed attempt does not spend the code.
      expect(verifier).toBeTruthy();
      expect((await exchange(code, verifier)).status).toBe(200);
    });

    it('a redirect URI one character off is refused at authorize (no redirect) and at the token endpoint (AS3)', async () => {
      const { challenge } = pkce();
      for (const off of [`${receiver.url}x`, receiver.url.slice(0, -1), receiver.url.replace('127.0.0.1', '127.0.0.2')]) {
        const r = await fetch(authorizeUrl({ response_type: 'code', client_id: rawClient, redirect_uri: off, code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
        expect(r.status).toBe(400);
        expect(r.headers.get('location')).toBeNull();
        expect(await r.text()).toMatch(/not exactly one of the client’s registered redirect URIs/);
      }
      const { code, verifier } = await rawCode();
      const r = await exchange(code, verifier, { redirect_uri: `${receiver.url}/` });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toBe('invalid_grant');
    });

    it('a client ID metadata document URL is a client_id: fetched over https, its client_id must be its own URL (AS8)', async () => {
      const docId = `${documentsOrigin}/client.json`;
      const { verifier, challenge } = pkce();
      const back = await consent(authorizeUrl({ response_type: 'code', client_id: docId, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256', resource }));
      const r = await post('/oauth/token', { grant_type: 'authorization_code', code: back.searchParams.get('code')!, client_id: docId, redirect_uri: receiver.url, code_verifier: verifier });
      expect(r.status).toBe(200);
      expect((await mcpWith(((await r.json()) as OAuthTokens).access_token)).status).toBe(200);
      const impostor = await fetch(authorizeUrl({ response_type: 'code', client_id: `${documentsOrigin}/impostor.json`, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
      expect(impostor.status).toBe(400);
      expect(await impostor.text()).toContain(DOCUMENT_REFUSED);
      const elsewhere = await fetch(authorizeUrl({ response_type: 'code', client_id: docId, redirect_uri: `${receiver.url}2`, code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
      expect(elsewhere.status).toBe(400);
    });

    it('a document that is missing, not JSON, unreachable or 10 MB long gets the same generic page, and the 10 MB one is not read (H13-2)', async () => {
      const { challenge } = pkce();
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      // The unreachable one is on another loopback address: a failed connection makes the server
      // refuse that host (any port) for 60 s without fetching, which would otherwise stop
      // the 10 MB document on 127.0.0.1 from being fetched at all.
      for (const id of [`${documentsOrigin}/missing.json`, `${documentsOrigin}/not-json.json`, `https://127.0.0.2:${closedPort}/gone.json`, `${documentsOrigin}/huge.json`]) {
        const r = await fetch(authorizeUrl({ response_type: 'code', client_id: id, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
        expect(r.status, id).toBe(400);
        const text = await r.text();
        expect(text, id).toContain(DOCUMENT_REFUSED);
        expect(text, id).not.toMatch(/HTTP 404|not JSON|ECONNREFUSED|fetch failed|64 KiB|larger than/);
      }
      // The server hung up long before the 10 MB were sent (it reads at most 64 KiB).
      await expect.poll(() => hugeClosedEarly, { timeout: 15_000 }).toBe(true);
      expect(hugeSent).toBeLessThan(10 * 1024 * 1024);
    });

    it('registration refuses redirect URIs that are not https or loopback, or carry a fragment (AS3)', async () => {
      for (const uri of ['http://example.com/cb', 'javascript:alert(1)', `${receiver.url}#frag`, 'ftp://127.0.0.1/cb']) {
        const r = await fetch(`${origin}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'bad', redirect_uris: [uri] }) });
        expect(r.status, uri).toBe(400);
        expect(((await r.json()) as { error: string }).error).toMatch(/invalid_(redirect_uri|client_metadata)/);
      }
    });

    it('resource mismatch refused at authorize and at the token endpoint (AS6)', async () => {
      const { challenge } = pkce();
      const r = await fetch(authorizeUrl({ response_type: 'code', client_id: rawClient, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256', resource: 'https://other.example/mcp' }), { redirect: 'manual' });
      expect(new URL(r.headers.get('location')!).searchParams.get('error')).toBe('invalid_target');
      const { code, verifier } = await rawCode();
      const t = await exchange(code, verifier, { resource: 'https://other.example/mcp' });
      expect(((await t.json()) as { error: string }).error).toBe('invalid_target');
    });

    it('refused tokens: wrong audience, expired, tampered, alg none, another server, query string, a scoped REST token (PR3, PR4, PR5, PR7)', async () => {
      const { code, verifier } = await rawCode();
      const good = (await (await exchange(code, verifier)).json()) as OAuthTokens;
      expect((await mcpWith(good.access_token)).status).toBe(200);
      const claims = decodeJwt(good.access_token);
      const key = new Uint8Array(readFileSync(path.join(home.dir, 'token-signing.key')));
      const now = Math.floor(Date.now() / 1000);
      const sign = (payload: Record<string, unknown>, k: Uint8Array = key, typ = 'at+jwt') =>
        new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ }).sign(k);
      const base = { ...claims, iat: now, exp: now + 600 };
      const cases: Record<string, string> = {
        'wrong audience': await sign({ ...base, aud: `${origin}/other` }),
        expired: await sign({ ...base, iat: now - 7200, exp: now - 3600 }),
        'another server (other key)': await sign(base, randomBytes(32)),
        'not an access token (typ JWT)': await sign(base, key, 'JWT'),
        'alg none': new UnsecuredJWT(base).encode(),
        tampered: (() => {
          const [h, , s] = good.access_token.split('.');
          return `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${s}`;
        })(),
        'an agent key as a bearer': home.agentKey,
        'a refresh token as a bearer': good.refresh_token!,
      };
      // Control: the same forge with every claim right is accepted, so each refusal above is about its one change.
      expect((await mcpWith(await sign(base))).status).toBe(200);
      for (const [name, token] of Object.entries(cases)) {
        const r = await mcpWith(token);
        expect(r.status, name).toBe(401);
        expect(r.headers.get('www-authenticate'), name).toMatch(/^Bearer resource_metadata=".*", error="invalid_token"/);
      }
      // A scoped token from request_token (audience agent-secret-store) is not an MCP access token.
      const agentClient = new Client({ name: 'k', version: '1' });
      await agentClient.connect(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { 'x-agent-key': home.agentKey } } }));
      const scoped = (await ok(agentClient, 'request_token', { scopes: ['secrets:read:team/app/API_KEY'] })).token as string;
      await agentClient.close();
      expect((await mcpWith(scoped)).status).toBe(401);
      // And an access token is not a REST token.
      const rest = await fetch(`${origin}/v1/secrets/team/app/API_KEY`, { headers: { authorization: `Bearer ${good.access_token}` } });
      expect(rest.status).toBe(401);
      // Never in the query string.
      const q = await fetch(`${origin}/mcp?access_token=${encodeURIComponent(good.access_token)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(q.status).toBe(400);
    });

    it('consent is a CSRF-checked form: a post without the session token, or from another origin, issues no code', async () => {
      const { challenge } = pkce();
      await page.goto(authorizeUrl({ response_type: 'code', client_id: rawClient, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256' }));
      await page.waitForURL(/\/dashboard\/oauth\/consent\//);
      const consentUrl = page.url();
      const cookie = (await context.cookies()).find((c) => c.name === 'ass_session')!;
      const before = receiver.hits.length;
      const forms: { headers: Record<string, string>; body: string }[] = [
        { headers: {}, body: 'decision=approve&agent=agent%3Adefault' },
        { headers: { origin: 'http://evil.example' }, body: 'decision=approve&agent=agent%3Adefault&_csrf=x' },
      ];
      for (const f of forms) {
        const r = await fetch(consentUrl, { method: 'POST', redirect: 'manual', headers: { cookie: `ass_session=${cookie.value}`, 'content-type': 'application/x-www-form-urlencoded', ...f.headers }, body: f.body });
        expect(r.status).toBe(403);
        expect(r.headers.get('location')).toBeNull();
      }
      // The request is still pending and answerable by the person.
      await page.getByLabel(/Existing agent default/).check();
      await page.getByRole('button', { name: 'Allow' }).click();
      await expect.poll(() => receiver.hits.length, { timeout: 15_000 }).toBe(before + 1);
      expect(receiver.hits.at(-1)!.searchParams.get('code')).toBeTruthy();
    });

    it('an agent key, an access token or a refresh token cannot sign in to consent', async () => {
      const { code, verifier } = await rawCode();
      const tokens = (await (await exchange(code, verifier)).json()) as OAuthTokens;
      const fresh = await browser.newContext();
      const p = await fresh.newPage();
      const { challenge } = pkce();
      for (const key of [home.agentKey, tokens.access_token, tokens.refresh_token!]) {
        await p.goto(authorizeUrl({ response_type: 'code', client_id: rawClient, redirect_uri: receiver.url, code_challenge: challenge, code_challenge_method: 'S256' }));
        expect(p.url()).toContain('/dashboard/sign-in');
        await p.getByLabel('Admin key').fill(key);
        await p.getByRole('button', { name: 'Sign in' }).click();
        await expect.poll(() => p.getByRole('alert').textContent()).toMatch(/agent key|token|Unknown admin key/);
        expect(p.url()).toContain('/dashboard/sign-in');
      }
      await fresh.close();
    });

    it('a per-person agent from a template: only the template grants, the person in every record', async () => {
      const { code, verifier } = await rawCode(/A new agent for you, reader\.admin/);
      const tokens = (await (await exchange(code, verifier)).json()) as OAuthTokens;
      expect(decodeJwt(tokens.access_token).sub).toBe('reader.admin');
      const provider = new MemoryProvider(receiver.url, 'Test chat app <b>bold</b>');
      provider.saved = tokens;
      provider.info = { client_id: rawClient };
      const client = new Client({ name: 'person', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }));
      expect((await ok(client, 'get_secret', { namespace: 'team/app', key: 'API_KEY' })).value).toBe(`value-of-API_KEY-${process.pid}`);
      const outside = await call(client, 'get_secret', { namespace: 'production/db', key: 'PASSWORD' });
      expect(outside.ok).toBe(false);
      expect(!outside.ok && outside.code).toBe('POLICY_DENIED');
      const written = await call(client, 'set_secret', { namespace: 'team/app', key: 'NEW', value: 'x' });
      expect(written.ok).toBe(false);
      await client.close();
      const mine = auditRecords().filter((r) => r.actor === 'agent:reader.admin' && r.action !== 'oauth.token');
      expect(mine.length).toBeGreaterThanOrEqual(3);
      for (const r of mine) expect(r.on_behalf_of).toBe('admin:admin');
      // The dashboard's audit page names the person beside the agent.
      await page.goto(`${origin}/dashboard/audit`);
      await expect.poll(() => page.getByRole('row').filter({ hasText: 'agent:reader.admin' }).filter({ hasText: 'get_secret' }).first().textContent()).toMatch(/agent:reader\.admin\s*for admin:admin/);
    });

    it('a grant revoked in the dashboard fails on the next call (PR6)', async () => {
      const client = new Client({ name: 'oauth-e2e', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: sdkProvider }));
      await ok(client, 'list_namespaces');
      const access = sdkProvider.saved!.access_token;
      await page.goto(`${origin}/dashboard/sign-ins`);
      const row = page.getByRole('row').filter({ hasText: 'Test chat app' }).filter({ hasText: 'active' });
      await page.screenshot({ path: path.join(REPO_ROOT, 'docs/remote-auth-sign-ins.png'), fullPage: true });
      await row.getByRole('button', { name: /Revoke/ }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Yes, revoke' }).click();
      await page.waitForURL(/done=revoked/);
      const refused = await mcpWith(access);
      expect(refused.status).toBe(401);
      await expect(client.callTool({ name: 'list_namespaces', arguments: {} })).rejects.toThrow();
      await client.close().catch(() => undefined);
      expect(auditRecords().some((r) => r.action === 'oauth.revoke' && r.actor === 'admin:admin')).toBe(true);
    });
  });
}
