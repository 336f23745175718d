/**
 * The Vault HTTP client (src/adapters/vault/http-client.ts) against real loopback HTTP servers:
 * what it sends (URL, token and namespace headers, JSON body, list as GET ?list=1), what it
 * resolves and rejects with (the `response.statusCode` shape errors.ts classifies), and its
 * security properties: it follows no redirect (the token never reaches another host), ignores
 * HTTP(S)_PROXY, bounds the wait, and its errors carry neither Vault's text nor the token.
 * The adapter's behaviour against a real Vault is in test/integration/vault-backend.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { toAssError } from '../../src/adapters/vault/errors.js';
import { createVaultHttpClient, VaultHttpError } from '../../src/adapters/vault/http-client.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
const clients: { close(): void }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  delete process.env.HTTP_PROXY;
  delete process.env.http_proxy;
});

/** A loopback server that records each request and answers with `answer`. */
async function serve(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      answer(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function json(status: number, body: unknown) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

function client(address: string, extra: { namespace?: string; request_timeout_ms?: number } = {}) {
  const c = createVaultHttpClient({ address, request_timeout_ms: extra.request_timeout_ms ?? 5000, ...(extra.namespace ? { namespace: extra.namespace } : {}) });
  clients.push(c);
  return c;
}

describe('Vault HTTP client', () => {
  it('sends read, write, list and delete as Vault expects, with the token and namespace headers', async () => {
    const vault = await serve(json(200, { data: { ok: true } }));
    const c = client(`${vault.url}/`, { namespace: 'team-a' });
    c.token = 's.proxy-token';
    expect(await c.read('secret/data/a%2Fb/KEY')).toEqual({ data: { ok: true } });
    await c.write('secret/data/ns/KEY', { data: { value: 'v' }, options: { cas: 0 } });
    await c.list('secret/metadata/ns/');
    await c.delete('secret/metadata/ns/KEY');
    expect(vault.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /v1/secret/data/a%2Fb/KEY',
      'POST /v1/secret/data/ns/KEY',
      'GET /v1/secret/metadata/ns/?list=1',
      'DELETE /v1/secret/metadata/ns/KEY',
    ]);
    for (const s of vault.seen) {
      expect(s.headers['x-vault-token']).toBe('s.proxy-token');
      expect(s.headers['x-vault-namespace']).toBe('team-a');
    }
    expect(JSON.parse(vault.seen[1]!.body)).toEqual({ data: { value: 'v' }, options: { cas: 0 } });
    expect(vault.seen[1]!.headers['content-type']).toBe('application/json');
  });

  it('sends no token header before it has a token (an AppRole login), and no namespace header without one', async () => {
    const vault = await serve(json(200, { auth: { client_token: 't' } }));
    const c = client(vault.url);
    await c.write('auth/approle/login', { role_id: 'r', secret_id: 's' });
    expect(vault.seen[0]!.headers['x-vault-token']).toBeUndefined();
    expect(vault.seen[0]!.headers['x-vault-namespace']).toBeUndefined();
  });

  it('resolves 204 with an empty body; rejects other statuses with response.statusCode and the parsed body', async () => {
    let status = 204;
    const vault = await serve((_req, res) => {
      if (status === 204) return void res.writeHead(204).end();
      json(status, { errors: ['check-and-set parameter did not match the current version'] })(_req, res);
    });
    const c = client(vault.url);
    expect(await c.delete('secret/metadata/x')).toBe('');
    status = 400;
    const error = await c.read('secret/data/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultHttpError);
    expect((error as VaultHttpError).response).toEqual({ statusCode: 400, body: { errors: ['check-and-set parameter did not match the current version'] } });
    expect(toAssError(error, "write 'x'").code).toBe('CONFLICT');
    status = 404;
    expect(((await c.read('secret/data/x').catch((e: unknown) => e)) as VaultHttpError).response.statusCode).toBe(404);
  });

  it('resolves every answer of sys/health (its status code reports the seal state)', async () => {
    const vault = await serve(json(503, { initialized: true, sealed: true }));
    expect(await client(vault.url).read('sys/health')).toEqual({ initialized: true, sealed: true });
  });

  it('never follows a redirect: the token does not reach the other host', async () => {
    const other = await serve(json(200, { data: { stolen: true } }));
    const vault = await serve((_req, res) => res.writeHead(307, { location: `${other.url}/v1/secret/data/x` }).end());
    const c = client(vault.url);
    c.token = 's.must-not-leak';
    const error = await c.read('secret/data/x').catch((e: unknown) => e);
    expect((error as VaultHttpError).response.statusCode).toBe(307);
    expect(other.seen).toEqual([]);
  });

  it('ignores HTTP_PROXY: it talks only to the configured address', async () => {
    const proxy = await serve(json(200, { data: { via: 'proxy' } }));
    const vault = await serve(json(200, { data: { via: 'vault' } }));
    process.env.HTTP_PROXY = proxy.url;
    process.env.http_proxy = proxy.url;
    expect(await client(vault.url).read('secret/data/x')).toEqual({ data: { via: 'vault' } });
    expect(proxy.seen).toEqual([]);
  });

  it('gives up after request_timeout_ms with no response (BACKEND_UNAVAILABLE), and its errors carry neither Vault text nor the token', async () => {
    const vault = await serve(() => undefined); // never answers
    const c = client(vault.url, { request_timeout_ms: 200 });
    c.token = 's.secret-token-value';
    const error = await c.read('secret/data/x').catch((e: unknown) => e);
    expect((error as { response?: unknown }).response).toBeUndefined();
    expect(toAssError(error, "read 'x'").code).toBe('BACKEND_UNAVAILABLE');
    const refused = await serve(json(403, { errors: ['permission denied on secret/data/x for s.secret-token-value'] }));
    const denied = await client(refused.url).read('secret/data/x').catch((e: unknown) => e);
    for (const e of [error, denied]) {
      expect(String((e as Error).message)).not.toContain('s.secret-token-value');
      expect(String((e as Error).message)).not.toContain('permission denied');
      expect(toAssError(e, "read 'x'").message).not.toContain('s.secret-token-value');
    }
  });
});
