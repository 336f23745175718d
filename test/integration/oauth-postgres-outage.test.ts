/**
 * OAuth with the state in PostgreSQL when PostgreSQL goes away (issue 10, failure behaviour):
 * every request that needs a grant fails closed with STATE_UNAVAILABLE (503, retryable), never
 * as a refused token or grant (a client told `invalid_grant` throws its sign-in away), never by
 * serving; when PostgreSQL is back the same server serves the same sign-in, without a restart.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauthFor } from '../../src/server/oauth/index.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { raw } from '../helpers/remote-http.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

const missing = postgresPeerMissing();
const REDIRECT = 'http://127.0.0.1:9/callback';

const initialize = (server: InProcessServer, access: string) =>
  raw({ url: server.url, method: 'POST', path: '/mcp', headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
const refresh = (server: InProcessServer, token: string, clientId: string) =>
  raw({ url: server.url, method: 'POST', path: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: clientId }).toString() });

if (missing) {
  describeMissingPeer('OAuth with PostgreSQL state: outage', missing, POSTGRES_INSTALL_HINT);
} else {
  let peer: PostgresPeer;
  let server: InProcessServer;

  beforeAll(async () => {
    peer = await startPostgresPeer();
    const url = await peer.newDatabase('oauthoutage');
    server = await startInProcess({ agents: [], extra: { state: { type: 'postgres', url, migrate_on_start: true, statement_timeout_ms: 5000, connect_timeout_ms: 2000 }, auth: { oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } } } } });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await peer?.destroy();
  }, 60_000);

  describe('OAuth with PostgreSQL state', () => {
    it('PostgreSQL stopped: 503 STATE_UNAVAILABLE on MCP and on refresh (never a refused grant); started again: the same sign-in works, no restart', async () => {
      const oauth = (await oauthFor(server.runtime))!;
      const { client_id: clientId } = (await oauth.register({ client_name: 'outage', redirect_uris: [REDIRECT] })) as { client_id: string };
      const verifier = randomBytes(32).toString('base64url');
      const begun = await oauth.beginAuthorization(new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }), server.url);
      if (!('pending' in begun)) throw new Error('authorize refused');
      const code = new URL(await oauth.decide(begun.pending.id, 'admin:admin', { approve: true, agent: { kind: 'template', name: 'reader' } })).searchParams.get('code')!;
      const tokens = await oauth.token(new URLSearchParams({ grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier }), server.url);
      expect((await initialize(server, tokens.access_token)).status).toBe(200);

      await peer.stop();
      const down = await initialize(server, tokens.access_token);
      expect(down.status, down.body).toBe(503);
      expect(down.body).toContain('STATE_UNAVAILABLE');
      expect(down.body).not.toContain(peer.password);
      const refreshDown = await refresh(server, tokens.refresh_token, clientId);
      expect(refreshDown.status, refreshDown.body).toBe(503);
      expect(refreshDown.body).not.toContain('invalid_grant');

      await peer.start();
      // Recovery: bounded retries while the server finishes starting; the pool reconnects by itself.
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await initialize(server, tokens.access_token)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
      // The refresh token the failed attempt presented was not spent: it rotates now.
      const again = await refresh(server, tokens.refresh_token, clientId);
      expect(again.status, again.body).toBe(200);
    });
  });
}
