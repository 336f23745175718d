/** REST /v1: tokens, scoped reads and writes, approvals, human-only operations, errors, OpenAPI, metrics. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, type RawResponse } from '../helpers/remote-http.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

let server: InProcessServer;
const CRITICAL_VALUE = 'crit-value-5f1d';
const STANDARD_VALUE = 'std-value-a93b';

const call = (method: string, path: string, bearer?: string, body?: unknown): Promise<RawResponse> =>
  raw({
    url: server.url, method, path,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
const json = (res: RawResponse) => JSON.parse(res.body);

async function token(agentKey: string, scopes: string[], ttl = '15m'): Promise<string> {
  const res = await call('POST', '/v1/tokens', agentKey, { scopes, ttl });
  expect(res.status, res.body).toBe(200);
  return json(res).token;
}

beforeAll(async () => {
  server = await startInProcess({
    agents: [
      // The critical secret lives apart (vault-a/): a token whose scopes reach a critical secret
      // needs a human at token time, so the broad alpha/** tokens below reach none.
      { id: 'alpha', grants: ['secrets:*:alpha/**', 'secrets:read:team one/**'.replace(' ', '-'), 'secrets:read:vault-a/**'] },
      { id: 'beta', grants: ['secrets:*:beta/**'] },
    ],
  });
  const put = (namespace: string, key: string, value: string, tier: 'standard' | 'critical') =>
    server.runtime.backend.put({ namespace, key, value, secret_type: 'api_key', access_tier: tier, metadata: { team: 'ml' } });
  await put('alpha/app', 'API_KEY', STANDARD_VALUE, 'standard');
  await put('vault-a/app', 'ROOT_KEY', CRITICAL_VALUE, 'critical');
  await put('shared/db', 'PASSWORD', CRITICAL_VALUE, 'critical');
});
afterAll(async () => server?.close());

describe('tokens', () => {
  it('exchanges the agent key for a scoped JWT', async () => {
    const res = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:alpha/app/*'], ttl: '15m' });
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ requires_approval: false, scopes: ['secrets:read:alpha/app/*'], ttl: '15m', token: expect.stringMatching(/^eyJ/) });
  });
  it('refuses a missing key, a token and an admin key', async () => {
    expect((await call('POST', '/v1/tokens', undefined, { scopes: ['secrets:read:alpha/**'] })).status).toBe(401);
    const t = await token(server.keys.alpha!, ['secrets:read:alpha/**']);
    expect((await call('POST', '/v1/tokens', t, { scopes: ['secrets:read:alpha/**'] })).status).toBe(401);
    expect((await call('POST', '/v1/tokens', server.adminKey, { scopes: ['secrets:read:alpha/**'] })).status).toBe(401);
  });
  it('rejects bad bodies with 400 and never echoes them', async () => {
    const res = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: 'secrets:read:x/*', extra: 'sneaky-value' });
    expect(res.status).toBe(400);
    expect(res.body).not.toContain('sneaky-value');
    expect(json(res).error.code).toBe('INVALID_ARGUMENT');
    // delete and rotate are human-only: refused as a scope the agent may not have (the SDK's ScopeError).
    const human = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:delete:alpha/**'] });
    expect(human.status).toBe(403);
    expect(json(human).error.code).toBe('SCOPE_DENIED');
  });
});

describe('secrets with a scoped token', () => {
  it('reads a secret with every field, segments URL-encoded', async () => {
    const t = await token(server.keys.alpha!, ['secrets:read:alpha/app/API_KEY']);
    const res = await call('GET', '/v1/secrets/alpha/app/API_KEY', t);
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ namespace: 'alpha/app', key: 'API_KEY', value: STANDARD_VALUE, version: 1, access_tier: 'standard', metadata: { team: 'ml' }, id: expect.any(String), created_at: expect.any(String), updated_at: expect.any(String) });
    const encoded = await call('GET', '/v1/secrets/%61lpha/app/API%5FKEY', t);
    expect(json(encoded).value).toBe(STANDARD_VALUE);
  });
  it('decodes an encoded "/" in the namespace position, then validates the name as before; never in the key', async () => {
    const t = await token(server.keys.alpha!, ['secrets:read:alpha/**']);
    const res = await call('GET', '/v1/secrets/alpha%2Fapp/API_KEY', t);
    expect(res.status, res.body).toBe(200);
    expect(json(res)).toMatchObject({ namespace: 'alpha/app', key: 'API_KEY', value: STANDARD_VALUE });
    // The key may not hide a "/"; traversal, empty segments and look-alikes are refused after decoding.
    for (const bad of ['/v1/secrets/alpha/app%2FAPI_KEY', '/v1/secrets/alpha%2F..%2Fbeta/KEY', '/v1/secrets/alpha%2F%2Fapp/API_KEY', '/v1/secrets/alpha%2Fapp%2F/API_KEY', '/v1/secrets/alpha%2F%D0%B0pp/API_KEY', '/v1/secrets/%2Falpha/API_KEY']) {
      const refused = await call('GET', bad, t);
      expect(refused.status, bad).toBe(400);
      expect(json(refused).error.code, bad).toBe('INVALID_ARGUMENT');
      expect(refused.body).not.toContain(STANDARD_VALUE);
    }
  });
  it("limits the call to the token's scopes even where the agent's grants reach further", async () => {
    const t = await token(server.keys.alpha!, ['secrets:read:alpha/other/*']);
    const res = await call('GET', '/v1/secrets/alpha/app/API_KEY', t);
    expect(res.status).toBe(403);
    expect(json(res).error.code).toBe('SCOPE_DENIED');
    expect(json(res).detail).toBe(json(res).error.message);
    expect(res.body).not.toContain(STANDARD_VALUE);
    const write = await call('PUT', '/v1/secrets/alpha/other/NEW', t, { value: 'nope' });
    expect(write.status).toBe(403);
  });
  it('refuses an agent key, an admin key, a forged token and no credential', async () => {
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', server.keys.alpha)).status).toBe(401);
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', server.adminKey)).status).toBe(403);
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbHBoYSJ9.c2lnbmF0dXJl')).status).toBe(401);
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY')).status).toBe(401);
  });
  it('writes, lists metadata only, and lists namespaces', async () => {
    const t = await token(server.keys.alpha!, ['secrets:*:alpha/**']);
    const put = await call('PUT', '/v1/secrets/alpha/new/TOKEN', t, { value: 'written-over-rest', secret_type: 'oauth_token', metadata: { by: 'rest' } });
    expect(put.status).toBe(200);
    expect(json(put)).toMatchObject({ namespace: 'alpha/new', key: 'TOKEN', version: 1, secret_type: 'oauth_token', updated_at: expect.any(String) });
    const list = await call('GET', `/v1/secrets?namespace=${encodeURIComponent('alpha/new')}`, t);
    expect(list.status).toBe(200);
    expect(json(list)).toMatchObject({ namespace: 'alpha/new', total: 1, items: [{ key: 'TOKEN', version: 1 }] });
    expect(list.body).not.toContain('written-over-rest');
    const ns = await call('GET', '/v1/namespaces', t);
    expect(json(ns).namespaces).toEqual(expect.arrayContaining(['alpha', 'alpha/app', 'alpha/new']));
    expect(json(ns).namespaces).not.toContain('shared/db');
    expect((await call('GET', '/v1/secrets', t)).status).toBe(400);
  });
  it('expected_version makes a write check-and-set: 409 CONFLICT with current_version when it is not the newest', async () => {
    const t = await token(server.keys.alpha!, ['secrets:*:alpha/**']);
    const path = '/v1/secrets/alpha/cas/KEY';
    expect(json(await call('PUT', path, t, { value: 'cas-one', expected_version: 0 }))).toMatchObject({ version: 1 });
    const again = await call('PUT', path, t, { value: 'cas-dup', expected_version: 0 });
    expect(again.status).toBe(409);
    // Retryable after reading the secret again, as every CONFLICT is.
    expect(json(again).error).toMatchObject({ code: 'CONFLICT', expected_version: 0, current_version: 1, retryable: true });
    expect(again.body).not.toContain('cas-one');
    expect(json(await call('PUT', path, t, { value: 'cas-two', expected_version: 1 }))).toMatchObject({ version: 2 });
    expect((await call('PUT', path, t, { value: 'cas-stale', expected_version: 1 })).status).toBe(409);
    expect((await call('PUT', '/v1/secrets/alpha/cas/ABSENT', t, { value: 'x', expected_version: 3 })).status).toBe(409);
    expect(json(await call('GET', path, t))).toMatchObject({ value: 'cas-two', version: 2 });
    expect((await call('GET', '/v1/secrets/alpha/cas/ABSENT', t)).status).toBe(404);
    for (const bad of [-1, 1.5, '1', null]) {
      const res = await call('PUT', path, t, { value: 'bad', expected_version: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(json(res).error.code).toBe('INVALID_ARGUMENT');
    }
    expect(json(await call('GET', path, t))).toMatchObject({ value: 'cas-two', version: 2 });
    // Without write access the version is not revealed: the refusal comes first.
    const readOnly = await token(server.keys.alpha!, ['secrets:read:alpha/**']);
    const denied = await call('PUT', path, readOnly, { value: 'x', expected_version: 7 });
    expect(denied.status).toBe(403);
    expect(denied.body).not.toMatch(/current_version|version 2/);
  });
  it('answers SECRET_NOT_FOUND as 404 and a too-large value as 413', async () => {
    const t = await token(server.keys.alpha!, ['secrets:*:alpha/**']);
    const missing = await call('GET', '/v1/secrets/alpha/app/NOPE', t);
    expect(missing.status).toBe(404);
    expect(json(missing).error.code).toBe('SECRET_NOT_FOUND');
    const big = await call('PUT', '/v1/secrets/alpha/app/BIG', t, { value: 'x'.repeat(65_537) });
    expect(big.status).toBe(413);
    expect(json(big).error.code).toBe('VALUE_TOO_LARGE');
  });
  it('a max_uses token stops after its uses', async () => {
    const res = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:alpha/app/API_KEY'], max_uses: 2 });
    const t = json(res).token;
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', t)).status).toBe(200);
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', t)).status).toBe(200);
    expect((await call('GET', '/v1/secrets/alpha/app/API_KEY', t)).status).toBe(401);
  });
});

describe('approvals', () => {
  it('a token whose scopes reach a critical secret needs a human at token time; once approved the same request returns a token that reads it', async () => {
    const scopes = ['secrets:read:vault-a/app/ROOT_KEY'];
    const first = await call('POST', '/v1/tokens', server.keys.alpha, { scopes, ttl: '15m' });
    expect(first.status, first.body).toBe(202);
    const { approval_id } = json(first);
    expect(json(first)).toMatchObject({ requires_approval: true, approval_id: expect.any(String) });
    expect(first.body).not.toContain(CRITICAL_VALUE);
    const status = await call('GET', `/v1/approvals/${approval_id}`, server.keys.alpha);
    expect(json(status).status).toBe('pending');
    expect((await call('GET', `/v1/approvals/${approval_id}`, server.keys.beta)).status).toBe(404);
    // Agents can never approve: not with their key.
    expect((await call('POST', `/v1/approvals/${approval_id}/approve`, server.keys.alpha)).status).toBe(403);
    expect((await call('POST', `/v1/approvals/${approval_id}/approve`)).status).toBe(401);
    // Asking again before a human answered reuses the pending request.
    expect(json(await call('POST', '/v1/tokens', server.keys.alpha, { scopes, ttl: '15m' })).approval_id).toBe(approval_id);
    expect((await call('POST', `/v1/approvals/${approval_id}/approve`, server.adminKey)).status).toBe(200);
    const t = await token(server.keys.alpha!, scopes);
    const res = await call('GET', '/v1/secrets/vault-a/app/ROOT_KEY', t);
    expect(res.status, res.body).toBe(200);
    expect(json(res).value).toBe(CRITICAL_VALUE);
    // One approval, one token: the next identical request asks a human again.
    expect((await call('POST', '/v1/tokens', server.keys.alpha, { scopes, ttl: '15m' })).status).toBe(202);
  });

  it('a secret that became critical after its token was issued answers APPROVAL_REQUIRED at read time; a human approves over REST; the retry succeeds', async () => {
    const t = await token(server.keys.alpha!, ['secrets:read:vault-a/late/*']);
    await server.runtime.backend.put({ namespace: 'vault-a/late', key: 'ROOT_KEY', value: CRITICAL_VALUE, secret_type: 'api_key', access_tier: 'critical', metadata: {} });
    const first = await call('GET', '/v1/secrets/vault-a/late/ROOT_KEY', t);
    expect(first.status).toBe(403);
    const err = json(first).error;
    expect(err.code).toBe('APPROVAL_REQUIRED');
    expect(err.approval_id).toEqual(expect.any(String));
    expect(first.body).not.toContain(CRITICAL_VALUE);
    expect((await call('POST', `/v1/approvals/${err.approval_id}/approve`, t)).status).toBe(403);
    expect((await call('POST', `/v1/approvals/${err.approval_id}/approve`, server.adminKey)).status).toBe(200);
    const again = await call('GET', '/v1/secrets/vault-a/late/ROOT_KEY', t);
    expect(again.status).toBe(200);
    expect(json(again).value).toBe(CRITICAL_VALUE);
  });

  it('a token beyond the grants needs approval; the approved token counts as that approval', async () => {
    const scopes = ['secrets:read:shared/db/PASSWORD'];
    const first = await call('POST', '/v1/tokens', server.keys.beta, { scopes, ttl: '15m' });
    expect(first.status).toBe(202);
    const { approval_id } = json(first);
    const list = await call('GET', '/v1/approvals', server.adminKey);
    expect(json(list).items.map((i: { approval_id: string }) => i.approval_id)).toContain(approval_id);
    expect((await call('GET', '/v1/approvals', server.keys.beta)).status).toBe(403);
    expect((await call('POST', `/v1/approvals/${approval_id}/approve`, server.adminKey)).status).toBe(200);
    const t = await token(server.keys.beta!, scopes);
    const res = await call('GET', '/v1/secrets/shared/db/PASSWORD', t);
    expect(res.status).toBe(200);
    expect(json(res).value).toBe(CRITICAL_VALUE);
    // Only within the approved scope.
    expect((await call('GET', '/v1/secrets/shared/db/OTHER', t)).status).toBe(403);
  });

  it('REST takes the agent\'s reason too: a body field of POST /v1/tokens and ?reason= on a read, bounded', async () => {
    const scopes = ['secrets:read:shared/reasoned/K'];
    const asked = await call('POST', '/v1/tokens', server.keys.beta, { scopes, reason: 'Backfill job #12' });
    expect(asked.status).toBe(202);
    const tooLong = await call('POST', '/v1/tokens', server.keys.beta, { scopes: ['secrets:read:shared/long/K'], reason: 'x'.repeat(501) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toContain('reason is at most 500 characters');
    // The critical secret goes in vault-a/ after the token is issued (a broad alpha/** token must reach no critical secret).
    const t = await token(server.keys.alpha!, ['secrets:read:vault-a/reasoned/*']);
    await server.runtime.backend.put({ namespace: 'vault-a/reasoned', key: 'REASONED', value: CRITICAL_VALUE, secret_type: 'api_key', access_tier: 'critical', metadata: {} });
    const read = await call('GET', `/v1/secrets/vault-a/reasoned/REASONED?reason=${encodeURIComponent('Rotate the <b>webhook</b>')}`, t);
    expect(json(read).error.code).toBe('APPROVAL_REQUIRED');
    const badRead = await call('GET', `/v1/secrets/vault-a/reasoned/REASONED?reason=${'y'.repeat(501)}`, t);
    expect(badRead.status).toBe(400);
    const records = (await server.runtime.approvals.list()).map(({ approval }) => approval);
    expect(records.find((a) => a.id === json(asked).approval_id)?.agent_reason).toBe('Backfill job #12');
    expect(records.find((a) => a.id === json(read).error.approval_id)?.agent_reason).toBe('Rotate the <b>webhook</b>');
  });

  it('deny is human-only too', async () => {
    const res = await call('POST', '/v1/tokens', server.keys.beta, { scopes: ['secrets:read:shared/other/K'] });
    const { approval_id } = json(res);
    expect((await call('POST', `/v1/approvals/${approval_id}/deny`, server.keys.beta)).status).toBe(403);
    expect((await call('POST', `/v1/approvals/${approval_id}/deny`, server.adminKey)).status).toBe(200);
    expect(json(await call('GET', `/v1/approvals/${approval_id}`, server.keys.beta)).status).toBe('denied');
  });
});

describe('human operations', () => {
  it('delete and rotate need the admin key; agent keys and tokens get 403', async () => {
    const t = await token(server.keys.alpha!, ['secrets:*:alpha/**']);
    await call('PUT', '/v1/secrets/alpha/doomed/K', t, { value: 'doomed-value' });
    for (const cred of [server.keys.alpha!, t]) {
      const del = await call('DELETE', '/v1/secrets/alpha/doomed/K', cred);
      expect(del.status).toBe(403);
      expect(json(del).error.code).toBe('HUMAN_AUTH_REQUIRED');
      expect((await call('POST', '/v1/secrets/alpha/doomed/K/rotate', cred, { generate: true })).status).toBe(403);
    }
    const rotated = await call('POST', '/v1/secrets/alpha/doomed/K/rotate', server.adminKey, { generate: true });
    expect(rotated.status).toBe(200);
    expect(json(rotated)).toEqual({ rotated: true, namespace: 'alpha/doomed', key: 'K', version: 2 });
    expect((await call('DELETE', '/v1/secrets/alpha/doomed/K', server.adminKey)).status).toBe(200);
    expect((await call('DELETE', '/v1/secrets/alpha/doomed/K', server.adminKey)).status).toBe(404);
  });
});

describe('errors', () => {
  it('never carry a value, a key or a token', async () => {
    const t = await token(server.keys.alpha!, ['secrets:read:alpha/app/API_KEY']);
    const bodies = [
      await call('GET', '/v1/secrets/vault-a/app/ROOT_KEY', t),
      await call('GET', '/v1/secrets/shared/db/PASSWORD', t),
      await call('PUT', '/v1/secrets/alpha/app/API_KEY', t, { value: 'new-secret-value-x' }),
      await call('POST', '/v1/tokens', `${server.keys.alpha}x`, { scopes: ['secrets:read:alpha/**'] }),
      await call('GET', '/v1/secrets/alpha/app/API_KEY', `${t}x`),
    ];
    for (const res of bodies) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(json(res).error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      // The hosted product's clients read the message from `detail`.
      expect(json(res).detail).toBe(json(res).error.message);
      for (const secret of [CRITICAL_VALUE, STANDARD_VALUE, 'new-secret-value-x', server.keys.alpha!, t, server.adminKey]) expect(res.body).not.toContain(secret);
    }
  });
  it('unknown routes answer 404, wrong methods 405', async () => {
    expect((await call('GET', '/v1/nothing')).status).toBe(404);
    const wrong = await call('PATCH', '/v1/tokens');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
  });
});

describe('OpenAPI and metrics', () => {
  type Doc = { openapi: string; paths: Record<string, Record<string, unknown>> };
  const instantiate = (p: string) => p.replace('{namespace}', 'alpha/app').replace('{key}', 'API_KEY').replace('{id}', '00000000-0000-4000-8000-000000000000');

  it('every route in the document answers (no route-not-found, no method-not-allowed)', async () => {
    const doc = json(await call('GET', '/v1/openapi.json')) as Doc;
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), p] as const));
    expect(ops.length).toBeGreaterThanOrEqual(20);
    for (const [method, p] of ops) {
      if (p === '/sse' || (p === '/mcp' && method === 'GET')) continue; // long-lived streams: checked by status elsewhere
      const res = await raw({ url: server.url, method, path: instantiate(p), headers: { 'content-type': 'application/json' }, ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }) });
      expect(res.status, `${method} ${p}`).not.toBe(405);
      if (res.status === 404) expect(json(res).error.code, `${method} ${p}`).not.toBe('ROUTE_NOT_FOUND');
    }
  });

  it('every route served is in the document', async () => {
    const doc = json(await call('GET', '/v1/openapi.json')) as Doc;
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`)));
    const candidates = ['/', '/mcp', '/sse', '/messages', '/healthz', '/metrics', '/v1', '/v1/openapi.json', '/v1/tokens', '/v1/secrets', '/v1/secrets/alpha/app/API_KEY', '/v1/secrets/alpha/app/API_KEY/rotate', '/v1/namespaces', '/v1/approvals', '/v1/approvals/x', '/v1/approvals/x/approve', '/v1/approvals/x/deny', '/v1/approvals/x/cancel', '/approvals/x', '/v1/agents', '/admin', '/dashboard'];
    const templates: Array<[RegExp, string]> = [
      [/^\/v1\/secrets\/alpha\/app\/API_KEY\/rotate$/, '/v1/secrets/{namespace}/{key}/rotate'],
      [/^\/v1\/secrets\/alpha\/app\/API_KEY$/, '/v1/secrets/{namespace}/{key}'],
      [/^\/v1\/approvals\/x\/(approve|deny)$/, '/v1/approvals/{id}/$1'],
      [/^\/v1\/approvals\/x$/, '/v1/approvals/{id}'],
      [/^\/approvals\/x$/, '/approvals/{id}'],
    ];
    const served: string[] = [];
    for (const p of candidates) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
        if (method === 'GET' && (p === '/sse' || p === '/mcp')) continue;
        const res = await raw({ url: server.url, method, path: p, headers: { 'content-type': 'application/json' }, ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }) });
        const routeMissing = res.status === 405 || (res.status === 404 && /ROUTE_NOT_FOUND/.test(res.body));
        // Only POST …/rotate is the rotate route; other methods read "rotate" as a key name.
        const path = method !== 'POST' && p.endsWith('/rotate') ? '/v1/secrets/{namespace}/{key}' : templates.reduce((acc, [re, t]) => acc.replace(re, t), p);
        if (!routeMissing) served.push(`${method} ${path}`);
      }
    }
    expect(served.length).toBeGreaterThan(10);
    for (const s of served) expect(documented, s).toContain(s);
  });

  it('/metrics has counts and latencies by tool and outcome, and approvals pending', async () => {
    const res = await call('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toMatch(/ass_requests_total\{transport="rest",tool="get_secret",outcome="ok"\} \d+/);
    expect(res.body).toMatch(/ass_requests_total\{transport="rest",tool="get_secret",outcome="APPROVAL_REQUIRED"\} \d+/);
    expect(res.body).toMatch(/ass_request_duration_seconds_bucket\{tool="get_secret",outcome="ok",le="\+Inf"\} \d+/);
    expect(res.body).toMatch(/^ass_approvals_pending \d+$/m);
    // Webhook delivery, counted in the state every process of the setup shares (none configured here).
    expect(res.body).toMatch(/^ass_webhook_deliveries_total\{result="failed"\} 0$/m);
    expect(res.body).toMatch(/^ass_webhook_outbox_pending 0$/m);
    // prom-client's default process metrics beside ours (issue 14).
    for (const name of ['process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_active_handles_total']) expect(res.body).toMatch(new RegExp(`^${name} \\d`, 'm'));
    expect(res.body).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    expect(res.body).not.toContain(STANDARD_VALUE);
    expect(res.body).not.toContain('alpha/app');
  });
});
