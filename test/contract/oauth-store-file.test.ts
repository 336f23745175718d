/** The OAuth store contract on `oauth.json`: instances over one file, as processes on one machine; and an oauth.json of the first format still loads. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileOAuthStore } from '../../src/server/oauth/store.js';
import { runOAuthStoreContract } from './oauth-store-contract.js';

runOAuthStoreContract('file', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'ass-oauth-contract-'));
  const file = path.join(root, 'oauth.json');
  return { open: async () => new FileOAuthStore(file), dump: () => readFile(file, 'utf8').catch(() => ''), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('oauth.json written before pending sign-ins and codes were stored', () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('loads its clients and grants, and takes new pending sign-ins and codes beside them', async () => {
    root = await mkdtemp(path.join(tmpdir(), 'ass-oauth-legacy-'));
    const file = path.join(root, 'oauth.json');
    const client = { client_id: 'c1', redirect_uris: ['http://127.0.0.1:9/cb'], kind: 'dynamic', registered_at: '2026-01-01T00:00:00.000Z' };
    const grant = { id: 'g1', client_id: 'c1', client_name: 'app', redirect_host: '127.0.0.1:9', agent_id: 'bot', human: 'admin:alice', scopes: [], resource: 'http://x/mcp', created_at: '2026-01-01T00:00:00.000Z', refresh_sha256: 'ab', refresh_expires_at: '2099-01-01T00:00:00.000Z', used_refresh_sha256: [] };
    await writeFile(file, JSON.stringify({ clients: { c1: client }, grants: { g1: grant } }), { mode: 0o600 });
    const store = new FileOAuthStore(file);
    expect(await store.client('c1')).toEqual(client);
    expect(await store.grant('g1')).toEqual(grant);
    expect(await store.updateGrant({ refreshSha256: 'ab' }, (g) => g.id)).toBe('g1');
    await store.addPending('p', { client: client as never, redirectUri: 'http://127.0.0.1:9/cb', codeChallenge: 'x', resource: 'http://x/mcp', issuer: 'http://x', createdAt: 1, expiresAt: Date.now() + 60_000 }, 10);
    expect(await store.pending('p', Date.now())).toBeDefined();
    expect((await store.read()).clients.c1).toEqual(client);
  });
});
