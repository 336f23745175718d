/**
 * The second security review's OAuth findings (review-findings.md, session 2), over the real
 * in-process HTTP server and the real oauth.json store:
 *
 *  R-7  open dynamic registration cannot grow the store without bound; the file store does not
 *       re-parse oauth.json on every authenticated request
 *  R-5  per-person agent ids never collide: no `.` in template names; consent refuses an id
 *       another (template, person) pair already uses
 *  R-6  the sign-in flood guard counts an IPv6 client by its /64 (also behind a trusted proxy),
 *       forgets idle addresses (bounded), and a full pending table drops its oldest sign-in
 *       (test/contract/oauth-store-contract.ts) instead of refusing everyone
 *  R-8  /oauth/authorize redirects errors of a client ID metadata document client only to the
 *       document's own origin (or once a person allowed the client), never to any URI it lists
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { oauthFor, OAuthError } from '../../src/server/oauth/index.js';
import { MAX_CLIENT_BYTES } from '../../src/server/oauth/service.js';
import { FileOAuthStore } from '../../src/server/oauth/store.js';
import { TEST_LOOPBACK_DOCUMENTS_ENV, TEST_LOOPBACK_DOCUMENTS_PURPOSE } from '../../src/server/oauth/test-loopback-documents.js';
import { loadSettings } from '../../src/server/settings.js';
import { RateLimiter } from '../../src/server/rate-limit.js';
import { makeConfig, spawnHttpServer, startInProcess, type InProcessServer } from '../helpers/remote-server.js';

const REDIRECT = 'http://127.0.0.1:9/callback';
const OAUTH = { auth: { oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } } } };

const oauthFile = (server: InProcessServer): string => path.join(server.dir, 'oauth.json');
const fileSize = (file: string): number => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

async function refusal(promise: Promise<unknown>): Promise<OAuthError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(OAuthError);
  return outcome as OAuthError;
}

describe('OAuth review 2', () => {
  let server: InProcessServer | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await server?.close();
    server = undefined;
  });

  it('R-7: a 60 KB client_uri is refused over HTTP with 400 invalid_client_metadata, and nothing is stored', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    const body = JSON.stringify({ client_name: 'big', redirect_uris: [REDIRECT], client_uri: `https://app.example/${'a'.repeat(60_000)}` });
    expect(body.length).toBeLessThan(64 * 1024);
    const res = await fetch(`${server.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; error_description: string };
    expect(answer.error).toBe('invalid_client_metadata');
    expect(answer.error_description).toMatch(/client_uri: at most 2000 characters/);
    expect(fileSize(oauthFile(server))).toBe(0);
    // http:// client_uri: refused too (it is shown to people as the app's home page).
    const oauth = (await oauthFor(server.runtime))!;
    expect((await refusal(oauth.register({ redirect_uris: [REDIRECT], client_uri: 'http://app.example/' }))).description).toMatch(/client_uri: must be an https:\/\/ URL/);
  });

  it('R-7: 1000 registrations with the largest bodies the endpoint takes keep oauth.json under 1000 × 4 KiB', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    const oauth = (await oauthFor(server.runtime))!;
    const longRedirects = Array.from({ length: 10 }, (_, i) => `https://app${i}.example/${'r'.repeat(1950)}`);
    for (let i = 0; i < 1000; i++) {
      const body = i % 2 === 0 ? { client_name: `n${i}`, redirect_uris: [REDIRECT], client_uri: `https://app.example/${'u'.repeat(60_000)}` } : { client_name: `n${i}`, redirect_uris: longRedirects };
      const error = await refusal(oauth.register(body));
      expect(error.status).toBe(400);
    }
    expect((await refusal(oauth.register({ redirect_uris: longRedirects }))).description).toMatch(new RegExp(`too large to keep \\(\\d+ bytes stored, at most ${MAX_CLIENT_BYTES}\\)`));
    expect(fileSize(oauthFile(server))).toBeLessThanOrEqual(1000 * MAX_CLIENT_BYTES);
    // The largest record still accepted fits the per-client bound.
    const fitting = (await oauth.register({ client_name: 'n'.repeat(200), redirect_uris: [`https://app.example/${'r'.repeat(1200)}`], client_uri: `https://app.example/${'u'.repeat(1900)}` })) as { client_id: string };
    const stored = JSON.parse(readFileSync(oauthFile(server), 'utf8')) as { clients: Record<string, unknown> };
    expect(Buffer.byteLength(JSON.stringify(stored.clients[fitting.client_id]))).toBeLessThanOrEqual(MAX_CLIENT_BYTES);
  }, 180_000);

  it('R-7: a dynamic registration that no person allowed within 24 h is dropped; one with a grant stays', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    let now = Date.now();
    server.runtime.clock = () => new Date(now);
    const oauth = (await oauthFor(server.runtime))!;
    const unused: string[] = [];
    for (let i = 0; i < 30; i++) unused.push(((await oauth.register({ client_name: `spam ${i}`, redirect_uris: [REDIRECT] })) as { client_id: string }).client_id);
    const used = ((await oauth.register({ client_name: 'used', redirect_uris: [REDIRECT] })) as { client_id: string }).client_id;
    const store = new FileOAuthStore(oauthFile(server));
    await store.transact(() => undefined);
    // A grant for `used` (as a consent + code exchange leaves it).
    await store.addCode('c'.repeat(64), { clientId: used, redirectUri: REDIRECT, codeChallenge: 'x'.repeat(43), resource: `${server.url}/mcp`, issuer: server.url, human: 'admin:admin', agentId: 'ops', scopes: [], clientName: 'used', expiresAt: now + 60_000 });
    await store.redeemCode('c'.repeat(64), now, { id: 'g1', client_id: used, client_name: 'used', redirect_host: '127.0.0.1:9', agent_id: 'ops', human: 'admin:admin', scopes: [], resource: `${server.url}/mcp`, created_at: new Date(now).toISOString(), refresh_sha256: 'a'.repeat(64), refresh_expires_at: new Date(now + 30 * 86_400_000).toISOString(), used_refresh_sha256: [] });
    now += 23 * 3_600_000;
    await oauth.register({ client_name: 'later', redirect_uris: [REDIRECT] });
    expect(Object.keys((await store.read()).clients)).toHaveLength(32);
    now += 2 * 3_600_000;
    const fresh = ((await oauth.register({ client_name: 'fresh', redirect_uris: [REDIRECT] })) as { client_id: string }).client_id;
    const left = Object.values((await store.read()).clients).map((c) => c.client_name);
    expect(left.sort()).toEqual(['fresh', 'later', 'used']);
    expect(await store.client(fresh)).toBeDefined();
    for (const id of unused) expect(await store.client(id)).toBeUndefined();
  });

  it('R-7: the file store parses oauth.json once while it is unchanged, and sees another writer at once', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    const file = oauthFile(server);
    const reader = new FileOAuthStore(file);
    const writer = new FileOAuthStore(file);
    const grant = { id: 'g1', client_id: 'c1', client_name: 'app', redirect_host: '127.0.0.1:9', agent_id: 'ops', human: 'admin:admin', scopes: [], resource: 'http://x/mcp', created_at: new Date().toISOString(), refresh_sha256: 'a'.repeat(64), refresh_expires_at: new Date(Date.now() + 3_600_000).toISOString(), used_refresh_sha256: [] };
    await writer.addCode('c'.repeat(64), { clientId: 'c1', redirectUri: REDIRECT, codeChallenge: 'x'.repeat(43), resource: 'http://x/mcp', issuer: 'http://x', human: 'admin:admin', agentId: 'ops', scopes: [], clientName: 'app', expiresAt: Date.now() + 60_000 });
    await writer.redeemCode('c'.repeat(64), Date.now(), grant);
    expect((await reader.grant('g1'))?.revoked_at).toBeUndefined();
    const parse = vi.spyOn(JSON, 'parse');
    for (let i = 0; i < 50; i++) expect((await reader.grant('g1'))?.id).toBe('g1');
    expect(parse).not.toHaveBeenCalled();
    // A caller changing what it got cannot change what the next caller reads.
    (await reader.grant('g1'))!.revoked_at = 'mutated';
    expect((await reader.grant('g1'))?.revoked_at).toBeUndefined();
    // Another process revokes: the next read sees it.
    await writer.updateGrant({ id: 'g1' }, (g) => {
      g.revoked_at = new Date().toISOString();
    });
    expect((await reader.grant('g1'))?.revoked_at).toBeDefined();
    // An unknown refresh token changes nothing, and the file is not rewritten.
    const before = statSync(file, { bigint: true });
    expect(await writer.updateGrant({ refreshSha256: 'f'.repeat(64) }, () => 1)).toBeUndefined();
    const after = statSync(file, { bigint: true });
    expect([after.ino, after.mtimeNs]).toEqual([before.ino, before.mtimeNs]);
  });

  it('R-8: a metadata-document client cannot use /oauth/authorize as an open redirector; its own origin still gets errors', async () => {
    const home = await makeConfig({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    // The document host: https on loopback, its self-signed certificate trusted by the server process.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(home.dir, 'doc-key.pem'), '-out', path.join(home.dir, 'doc-cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    let origin = '';
    const documents = createHttpsServer({ key: readFileSync(path.join(home.dir, 'doc-key.pem')), cert: readFileSync(path.join(home.dir, 'doc-cert.pem')) }, (req, res) => {
      const redirect = req.url === '/phish.json' ? 'https://phish.example/login' : `${origin}/callback`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ client_id: `${origin}${req.url}`, client_name: 'doc app', redirect_uris: [redirect], token_endpoint_auth_method: 'none' }));
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(documents.address() as AddressInfo).port}`;
    const loopbackSwitch = path.join(home.dir, 'loopback-documents.json');
    writeFileSync(loopbackSwitch, JSON.stringify({ purpose: TEST_LOOPBACK_DOCUMENTS_PURPOSE }), { mode: 0o600 });
    const served = await spawnHttpServer(home.configPath, { NODE_EXTRA_CA_CERTS: path.join(home.dir, 'doc-cert.pem'), [TEST_LOOPBACK_DOCUMENTS_ENV]: loopbackSwitch });
    try {
      // An error (response_type=token) for a document listing someone else's site: shown, not redirected.
      const phish = await fetch(`${served.url}/oauth/authorize?${new URLSearchParams({ client_id: `${origin}/phish.json`, redirect_uri: 'https://phish.example/login', response_type: 'token', state: 'x' })}`, { redirect: 'manual' });
      expect(phish.status).toBe(400);
      expect(phish.headers.get('location')).toBeNull();
      expect(await phish.text()).toMatch(/This sign-in request cannot be used[\s\S]*unsupported_response_type/);
      // The document's own origin: the error goes back to it (RFC 6749 §4.1.2.1).
      const own = await fetch(`${served.url}/oauth/authorize?${new URLSearchParams({ client_id: `${origin}/own.json`, redirect_uri: `${origin}/callback`, response_type: 'token', state: 'x' })}`, { redirect: 'manual' });
      expect(own.status).toBe(303);
      const location = new URL(own.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(`${origin}/callback`);
      expect(location.searchParams.get('error')).toBe('unsupported_response_type');
    } finally {
      await served.stop();
      await new Promise<void>((resolve) => documents.close(() => resolve()));
      await home.cleanup();
    }
  }, 120_000);

  it('R-5: a template name with a dot is refused at config load (ConfigError, CONFIG_INVALID at the CLI), naming the line', async () => {
    const home = await makeConfig({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: { auth: { oauth: { templates: { a: { grants: ['secrets:read:a/**'] }, 'a.b': { grants: ['secrets:read:a/**'] } } } } } });
    try {
      expect(() => loadSettings(home.configPath, {})).toThrow(expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/auth\.oauth\.templates\.a\.b \(line \d+\): a template name must be .*no '\.': a per-person agent is named <template>\.<person>/) }));
    } finally {
      await home.cleanup();
    }
  });

  it('R-5: consent refuses a per-person agent id that another person already signed in as; the same person may add a second connector', async () => {
    // Admin ids are [A-Za-z0-9_.-] and template names have no `.`, so two admins never make the
    // same id today, and an OIDC person's id is `<template>._<sub>` (an admin id cannot start
    // with `_`). What remains is a grant row whose (template, person) differs but whose agent id is
    // the same: written by a version that allowed `.` in template names, or by hand. Consent
    // must refuse that id, whichever of the two differs.
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: { auth: { oauth: { templates: { reader: { grants: ['secrets:read:team/**'] }, writer: { grants: ['secrets:read:team/**'] } } }, oidc: { issuer: 'https://login.example.com/realms/team', client_id: 'ass', client_secret: 'not-used-here', groups: { engineering: 'reader' } } } } });
    const oauth = (await oauthFor(server.runtime))!;
    const { client_id: clientId } = (await oauth.register({ client_name: 'app', redirect_uris: [REDIRECT] })) as { client_id: string };
    const consent = async (human: string, templates?: string[]): Promise<string> => {
      const verifier = 'v'.repeat(43);
      const begun = await oauth.beginAuthorization(new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }), server!.url);
      const back = new URL(await oauth.decide((begun as { pending: { id: string } }).pending.id, human, { approve: true, agent: { kind: 'template', name: 'reader' }, ...(templates ? { templates } : {}) }));
      const tokens = await oauth.token(new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier }), server!.url);
      return tokens.access_token;
    };
    const agentOf = async (access: string): Promise<string> => (await oauth.authenticate(access, server!.url)).agent.config.id;
    expect(await agentOf(await consent('admin:admin'))).toBe('reader.admin');
    // A person of the identity provider whose id is the same text gets another agent, by construction.
    expect(await agentOf(await consent('oidc:admin (admin@example.com)', ['reader']))).toBe('reader._admin');

    // Hand-made rows beside the real grant (as an older version or an editor left them), each
    // using an id that a real admin's consent to `reader` would now produce.
    const store = new FileOAuthStore(oauthFile(server));
    await store.transact((state) => {
      const real = Object.values(state.grants).find((g) => g.human === 'admin:admin')!;
      const row = (agentId: string, template: string, human: string) => {
        const id = `hand-made-${agentId}`;
        state.grants[id] = { ...real, id, agent_id: agentId, template, human, refresh_sha256: createHash('sha256').update(id).digest('hex'), used_refresh_sha256: [] };
      };
      row('reader.x.y', 'reader.x', 'admin:y'); // template `reader.x` (allowed before R-5) and admin `y`
      row('reader.carol', 'writer', 'admin:carol'); // same person, another template
      row('reader.bob', 'reader', 'admin:robert'); // same template, another person
    });
    for (const [human, id] of [['admin:x.y', 'reader.x.y'], ['admin:carol', 'reader.carol'], ['admin:bob', 'reader.bob']] as const) {
      const refused = await refusal(consent(human));
      expect(refused.error, human).toBe('invalid_request');
      expect(refused.description, human).toContain(`per-person agent id ${id} is already used by another person's sign-in`);
    }

    // The same person's second connector is the same per-person agent, as before.
    expect(await agentOf(await consent('admin:admin'))).toBe('reader.admin');
    const grants = (await oauth.listGrants()).filter((g) => !g.id.startsWith('hand-made-')).map((g) => [g.agent_id, g.human]);
    // …and nothing was granted to the refused ones.
    expect(grants).toEqual([['reader.admin', 'admin:admin'], ['reader._admin', 'oidc:admin (admin@example.com)'], ['reader.admin', 'admin:admin']]);
  });

  it('R-6: /oauth/register counts a forwarded IPv6 client by its /64; another /64 still registers', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], dashboard: { trusted_proxies: ['127.0.0.1', '::1'] }, extra: OAUTH });
    const register = (from: string) => fetch(`${server!.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body: JSON.stringify({ client_name: 'v6', redirect_uris: [REDIRECT] }) });
    for (let i = 1; i <= 10; i++) expect((await register(`2001:db8:1:2::${i.toString(16)}`)).status).toBe(201);
    expect((await register('2001:db8:1:2:ffff:ffff:ffff:ffff')).status).toBe(429);
    expect((await register('2001:db8:1:3::1')).status).toBe(201);
  });

  it('R-6: the per-address limiter forgets addresses: 1000 addresses leave at most its bound of buckets, and an active one keeps its count', () => {
    let t = 0;
    const limiter = new RateLimiter(60, 2, () => t, 100);
    expect(limiter.take('ip:attacker').ok).toBe(true);
    expect(limiter.take('ip:attacker').ok).toBe(true);
    for (let i = 0; i < 1000; i++) {
      limiter.take(`ip:10.0.${i >> 8}.${i & 255}`);
      expect(limiter.take('ip:attacker').ok).toBe(false);
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    // Idle buckets that have refilled go first.
    t += 120_000;
    limiter.take('ip:new');
    expect(limiter.size).toBeLessThanOrEqual(100);
  });
});
