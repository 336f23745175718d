/** The `ass` adapter's HTTP behaviour against a scripted fake remote: retries, no 4xx retry, timeouts, token renewal. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AssBackend, RemoteClient } from '../../src/adapters/ass/index.js';
import { isAssError } from '../../src/shared/errors.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function fake(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}
const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('RemoteClient retries', () => {
  it('retries 5xx with backoff, then succeeds', async () => {
    let calls = 0;
    const url = await fake((_req, res) => (++calls < 3 ? send(res, 503, { error: { code: 'BACKEND_UNAVAILABLE' } }) : send(res, 200, { ok: true })));
    const client = new RemoteClient({ baseUrl: url, timeoutMs: 2000, retries: 3, backoffMs: 5 });
    expect((await client.call('GET', '/x', 't')).status).toBe(200);
    expect(calls).toBe(3);
    client.close();
  });
  it('never retries a 4xx', async () => {
    let calls = 0;
    const url = await fake((_req, res) => {
      calls++;
      send(res, 429, { error: { code: 'RATE_LIMITED' } });
    });
    const client = new RemoteClient({ baseUrl: url, timeoutMs: 2000, retries: 5, backoffMs: 5 });
    expect((await client.call('GET', '/x', 't')).status).toBe(429);
    expect(calls).toBe(1);
    client.close();
  });
  it('retries timeouts, then answers BACKEND_UNAVAILABLE without the path or credential', async () => {
    let calls = 0;
    const url = await fake(() => {
      calls++; // never answers
    });
    const client = new RemoteClient({ baseUrl: url, timeoutMs: 150, retries: 2, backoffMs: 5 });
    const error = await client.call('GET', '/v1/secrets/prod/API_KEY', 'secret-token-xyz').catch((e: unknown) => e);
    expect(isAssError(error) && error.code).toBe('BACKEND_UNAVAILABLE');
    expect(String((error as Error).message)).not.toMatch(/API_KEY|secret-token-xyz/);
    expect(calls).toBe(3);
    client.close();
  });
});

describe('AssBackend tokens', () => {
  it('exchanges its own key once, renews before expiry, and sends only tokens to data routes', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const seen: Array<{ url: string; auth: string }> = [];
    let exchanges = 0;
    const url = await fake((req, res) => {
      seen.push({ url: req.url ?? '', auth: String(req.headers.authorization) });
      if (req.url === '/v1/tokens') {
        exchanges++;
        return send(res, 200, { token: `eyJtoken${exchanges}`, token_id: 'id', expires_at: new Date(now + 15 * 60_000).toISOString(), requires_approval: false });
      }
      send(res, 200, { value: 'v', version: 1, secret_type: 'api_key', access_tier: 'standard', metadata: {}, id: 'i', created_at: 'c', updated_at: 'u' });
    });
    const backend = new AssBackend(new RemoteClient({ baseUrl: url, timeoutMs: 2000, retries: 0 }), 'ass_own_key', undefined, { tokenTtl: '15m', remoteName: 'fake' }, () => now);
    await backend.get('a/b', 'K');
    await backend.get('a/b', 'K');
    expect(exchanges).toBe(1);
    now += 11 * 60_000; // 4 of 15 minutes left: still outside the renewal window (20% = 3 min)
    await backend.get('a/b', 'K');
    expect(exchanges).toBe(1);
    now += 90_000; // 2.5 minutes left: renewed before it expires
    await backend.get('a/b', 'K');
    expect(exchanges).toBe(2);
    expect(seen.filter((s) => s.url === '/v1/tokens').every((s) => s.auth === 'Bearer ass_own_key')).toBe(true);
    expect(seen.filter((s) => s.url !== '/v1/tokens').map((s) => s.auth)).toEqual(['Bearer eyJtoken1', 'Bearer eyJtoken1', 'Bearer eyJtoken1', 'Bearer eyJtoken2']);
    await backend.close();
  });
  it('a token exchange that needs approval surfaces APPROVAL_REQUIRED with the remote id', async () => {
    const url = await fake((_req, res) => send(res, 202, { requires_approval: true, approval_id: 'remote-approval-1', message: 'x' }));
    const backend = new AssBackend(new RemoteClient({ baseUrl: url, timeoutMs: 2000, retries: 0 }), 'ass_own_key', undefined, { tokenTtl: '15m', remoteName: 'fake' });
    const error = await backend.get('a', 'K').catch((e: unknown) => e);
    expect(isAssError(error) && error.code).toBe('APPROVAL_REQUIRED');
    expect(isAssError(error) && error.details.approval_id).toBe('remote-approval-1');
    expect(String((error as Error).message)).toContain('remote-approval-1');
    await backend.close();
  });
  it('delete without a remote admin key is refused as human-only', async () => {
    const url = await fake((_req, res) => send(res, 500, {}));
    const backend = new AssBackend(new RemoteClient({ baseUrl: url, timeoutMs: 2000, retries: 0 }), 'ass_own_key', undefined, { tokenTtl: '15m', remoteName: 'fake' });
    const error = await backend.delete('a', 'K').catch((e: unknown) => e);
    expect(isAssError(error) && error.code).toBe('HUMAN_AUTH_REQUIRED');
    await backend.close();
  });
});
