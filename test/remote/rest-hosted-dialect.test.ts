/**
 * The REST details the hosted product's clients rely on, checked on the wire with the checks we
 * had still applied: ip_allowlist against the TCP peer (never X-Forwarded-For), GET
 * /v1/secrets/a/b read-or-list by the token's scopes, namespaces:read, GET
 * /v1/approvals/agent/{id}, the .env import audited entry by entry, and approval at token time
 * decided by the highest tier reached (with the strictest rule met).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, type RawResponse } from '../helpers/remote-http.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

let server: InProcessServer;
const CRITICAL_VALUE = 'dialect-critical-0b7a';

const call = (method: string, p: string, bearer?: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> =>
  raw({
    url: server.url, method, path: p,
    headers: { ...headers, ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
const json = (res: RawResponse) => JSON.parse(res.body);
async function token(key: string, scopes: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call('POST', '/v1/tokens', key, { scopes, ttl: '15m', ...extra });
  expect(res.status, res.body).toBe(200);
  return json(res).token;
}

beforeAll(async () => {
  server = await startInProcess({
    agents: [
      { id: 'alpha', grants: ['secrets:*:alpha/**', 'secrets:read:rules/**'], deny: ['secrets:read:alpha/hidden/*'] },
      { id: 'beta', grants: ['secrets:*:beta/**'] },
    ],
    // rules/**: critical needs two humans, sensitive one; elsewhere the embedded default.
    policy: { namespaces: [{ pattern: 'rules/**', tiers: { critical: { effect: 'approval', approvers: 2 }, sensitive: 'approval' } }] },
  });
  const put = (namespace: string, key: string, tier: 'standard' | 'sensitive' | 'critical') =>
    server.runtime.backend.put({ namespace, key, value: tier === 'critical' ? CRITICAL_VALUE : `${key}-value`, secret_type: 'custom', access_tier: tier, metadata: {} });
  await put('alpha', 'app', 'standard'); // a secret named like a namespace: alpha/app
  await put('alpha/app', 'API_KEY', 'standard');
  await put('rules/low', 'OPEN', 'standard');
  await put('rules/mixed', 'OPEN', 'standard');
  await put('rules/mixed', 'ROOT', 'critical');
  await put('rules/mixed', 'MID', 'sensitive');
});
afterAll(async () => server?.close());

describe('ip_allowlist', () => {
  it('is enforced against the TCP peer; a forged X-Forwarded-For does not help', async () => {
    const far = await token(server.keys.alpha!, ['secrets:read:alpha/app/API_KEY'], { ip_allowlist: ['203.0.113.0/24'] });
    const res = await call('GET', '/v1/secrets/alpha/app/API_KEY', far, undefined, { 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '203.0.113.7', forwarded: 'for=203.0.113.7' });
    expect(res.status).toBe(403);
    expect(json(res).error.code).toBe('SCOPE_DENIED');
    expect(res.body).not.toContain('API_KEY-value');
    const near = await token(server.keys.alpha!, ['secrets:read:alpha/app/API_KEY'], { ip_allowlist: ['127.0.0.0/8', '::1'], max_uses: 1 });
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', near)).status).toBe(200);
  });
  it('a refused address spends none of the uses', async () => {
    const far = await token(server.keys.alpha!, ['secrets:read:alpha/app/API_KEY'], { ip_allowlist: ['203.0.113.0/24'], max_uses: 1 });
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', far)).status).toBe(403);
    const id = JSON.parse(Buffer.from(far.split('.')[1]!, 'base64url').toString()).jti;
    expect((await server.runtime.state.getToken(id))!.uses).toBe(0);
  });
  it('refuses malformed entries with 400', async () => {
    for (const bad of [['10.0.0.0/33'], ['localhost'], []]) {
      const res = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:alpha/**'], ip_allowlist: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
  });
});

describe('GET /v1/secrets/a/b: a read or a listing, by the token', () => {
  it('reads the secret when a scope matches it as a secret; lists the namespace when a scope can only list inside it', async () => {
    const wide = await token(server.keys.alpha!, ['secrets:read:alpha/**']);
    expect(json(await call('GET', '/v1/secrets/alpha/app', wide))).toMatchObject({ namespace: 'alpha', key: 'app', value: 'app-value' });
    const listing = await token(server.keys.alpha!, ['secrets:read:alpha/app/*']);
    const listed = json(await call('GET', '/v1/secrets/alpha/app', listing));
    expect(listed).toMatchObject({ namespace: 'alpha/app', total: 1, items: [{ key: 'API_KEY' }] });
    expect(JSON.stringify(listed)).not.toContain('API_KEY-value');
    expect(json(await call('GET', '/v1/secrets/alpha%2Fapp', wide))).toMatchObject({ namespace: 'alpha/app', total: 1 });
    // Neither: a read, refused by the token check as before.
    const other = await token(server.keys.alpha!, ['secrets:read:alpha/other/*']);
    expect(json(await call('GET', '/v1/secrets/alpha/app', other)).error.code).toBe('SCOPE_DENIED');
  });
  it('a read deny hides names from the listing too (read covers list)', async () => {
    await server.runtime.backend.put({ namespace: 'alpha/hidden', key: 'K', value: 'hidden-value', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    // A token for exactly the denied scope is refused outright (no token names what is denied);
    // a broader one is issued, and its listing of the denied namespace shows nothing.
    expect((await call('POST', '/v1/tokens', server.keys.alpha!, { scopes: ['secrets:read:alpha/hidden/*'] })).status).toBe(403);
    const t = await token(server.keys.alpha!, ['secrets:read:alpha/**']);
    const res = await call('GET', '/v1/secrets/alpha%2Fhidden', t);
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ namespace: 'alpha/hidden', items: [], total: 0 });
    expect(res.body).not.toContain('hidden-value');
  });
});

describe('namespaces:read', () => {
  it('lists only what the grants show, and reads nothing', async () => {
    const t = await token(server.keys.alpha!, ['namespaces:read']);
    const ns = json(await call('GET', '/v1/namespaces', t)).namespaces as string[];
    expect(ns).toEqual(expect.arrayContaining(['alpha', 'alpha/app', 'rules/mixed']));
    expect(ns.some((n) => n.startsWith('beta'))).toBe(false);
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', t)).status).toBe(403);
    expect((await call('GET', '/v1/secrets/alpha%2Fapp', t)).status).toBe(403);
  });
});

describe('approval at token time', () => {
  it('standard only: a token at once; one sensitive secret in reach: one human; one critical: the strictest rule (two humans)', async () => {
    expect((await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:rules/low/*'] })).status).toBe(200);
    const sensitive = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:rules/mixed/MID'] });
    expect(sensitive.status).toBe(202);
    expect(json(await call('GET', `/v1/approvals/agent/${json(sensitive).approval_id}`, server.keys.alpha))).toMatchObject({ status: 'pending', approvals_required: 1 });
    const all = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:rules/**'] });
    expect(all.status).toBe(202);
    expect(all.body).not.toContain(CRITICAL_VALUE);
    const id = json(all).approval_id;
    expect(json(await call('GET', `/v1/approvals/agent/${id}`, server.keys.alpha))).toMatchObject({ approval_id: id, status: 'pending', approvals_required: 2 });
  });
  it('a token for a secret that does not exist yet is decided by its namespace default tier', async () => {
    expect((await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:write:alpha/new/KEY'] })).status).toBe(200);
  });
});

describe('GET /v1/approvals/agent/{id}', () => {
  it("answers an agent's own approval; another agent's, an unknown id and an admin key are refused", async () => {
    const res = await call('POST', '/v1/tokens', server.keys.beta, { scopes: ['secrets:read:alpha/app/API_KEY'] });
    const id = json(res).approval_id;
    const own = await call('GET', `/v1/approvals/agent/${id}`, server.keys.beta);
    expect(json(own)).toMatchObject({ approval_id: id, status: 'pending' });
    const other = await call('GET', `/v1/approvals/agent/${id}`, server.keys.alpha);
    const unknown = await call('GET', '/v1/approvals/agent/00000000-0000-4000-8000-000000000000', server.keys.alpha);
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(json(other).error.code).toBe(json(unknown).error.code);
    expect(json(other).detail).toMatch(/No approval request/);
    expect((await call('GET', `/v1/approvals/agent/${id}`, server.adminKey)).status).toBe(403);
    expect((await call('GET', `/v1/approvals/agent/${id}`)).status).toBe(401);
  });
});

describe('POST /v1/secrets/import', () => {
  it('writes each entry through the pipeline, one audit record each, never a value in the audit log or the answer', async () => {
    const t = await token(server.keys.alpha!, ['secrets:write:alpha/env/*']);
    const res = await call('POST', '/v1/secrets/import', t, { namespace: 'alpha/env', content: 'ONE=import-value-1\nTWO=import-value-2\n', metadata: null });
    expect(res.status, res.body).toBe(200);
    expect(json(res)).toMatchObject({ imported: ['ONE', 'TWO'], imported_count: 2, failed_count: 0 });
    expect(res.body).not.toMatch(/import-value/);
    const audit = readFileSync(path.join(server.dir, 'audit.log'), 'utf8');
    const writes = audit.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.action === 'set_secret' && r.namespace === 'alpha/env' && r.outcome === 'allowed');
    expect(writes.map((r) => r.key).sort()).toEqual(['ONE', 'TWO']);
    expect(audit).not.toMatch(/import-value/);
  });
  it("an entry outside the token's scopes fails alone; no entries, or the wrong credential, are refused", async () => {
    const t = await token(server.keys.alpha!, ['secrets:write:alpha/env/ONE']);
    const partial = json(await call('POST', '/v1/secrets/import', t, { namespace: 'alpha/env', content: 'ONE=v3\nTWO=import-value-x\n' }));
    expect(partial).toMatchObject({ imported: ['ONE'], failed: [{ key: 'TWO', code: 'SCOPE_DENIED' }] });
    const t2 = await token(server.keys.alpha!, ['secrets:write:alpha/env/*']);
    expect((await call('POST', '/v1/secrets/import', t2, { namespace: 'alpha/env', content: '# nothing\n' })).status).toBe(400);
    expect((await call('POST', '/v1/secrets/import', server.keys.alpha, { namespace: 'alpha/env', content: 'A=1' })).status).toBe(401);
    expect((await call('POST', '/v1/secrets/import', t2, { namespace: 'alpha/env', content: 'A=1', extra: 'x' })).status).toBe(400);
  });
  it('each entry spends one use of the token: a max_uses 2 token imports two entries, the third fails', async () => {
    const t = await token(server.keys.alpha!, ['secrets:write:alpha/uses/*'], { max_uses: 2 });
    const res = json(await call('POST', '/v1/secrets/import', t, { namespace: 'alpha/uses', content: 'A=use-1\nB=use-2\nC=use-3\n' }));
    expect(res.imported).toEqual(['A', 'B']);
    expect(res.failed.map((f: { key: string }) => f.key)).toEqual(['C']);
    expect(await server.runtime.backend.get('alpha/uses', 'C')).toBeNull();
  });
});

describe('POST /v1/secrets/import under a small rate limit', () => {
  let small: InProcessServer;
  beforeAll(async () => {
    small = await startInProcess({ agents: [{ id: 'alpha', grants: ['secrets:*:alpha/**'] }], http: { rate_limit: { per_minute: 1, burst: 4 } } });
  });
  afterAll(async () => small?.close());

  it('counts every entry against the rate limit: the entries past it fail with RATE_LIMITED, the ones before stay written', async () => {
    const post = (p: string, bearer: string, body: unknown) => raw({ url: small.url, method: 'POST', path: p, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const t = JSON.parse((await post('/v1/tokens', small.keys.alpha!, { scopes: ['secrets:write:alpha/env/*'] })).body).token; // 1 of 4
    // The import itself is the 2nd call; entries B and C the 3rd and 4th; D and E are past the limit.
    const res = await post('/v1/secrets/import', t, { namespace: 'alpha/env', content: 'A=1\nB=2\nC=3\nD=4\nE=5\n' });
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ imported: ['A', 'B', 'C'], failed: [{ key: 'D', code: 'RATE_LIMITED' }, { key: 'E', code: 'RATE_LIMITED' }] });
  });
});
