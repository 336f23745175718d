/**
 * The second security review's OAuth findings (review-findings.md, session 2), over the real
 * in-process HTTP server and the real oauth.json store:
 *
 *  R-7  open dynamic registration cannot grow the store without bound; the file store does not
 *       re-parse oauth.json on every authenticated request
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { oauthFor, OAuthError } from '../../src/server/oauth/index.js';
import { MAX_CLIENT_BYTES } from '../../src/server/oauth/service.js';
import { FileOAuthStore } from '../../src/server/oauth/store.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

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
});
