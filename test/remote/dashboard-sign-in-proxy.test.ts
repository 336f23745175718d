/**
 * H8-2 (review 1, still open in review 2): behind the TLS proxy every browser is the proxy, so
 * one person's wrong admin keys must not lock every admin out of the dashboard sign-in. A real
 * `serve --http` (the built CLI) behind a real reverse proxy on loopback that is listed in
 * `dashboard.trusted_proxies` and writes X-Forwarded-For from the address its client connected
 * from; the attacker and the admin connect to the proxy from two loopback addresses.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../../src/dashboard/sign-in-throttle.js';
import { limitKey } from '../../src/server/http/client-address.js';
import { makeConfig, spawnHttpServer, type RemoteConfig, type SpawnedServer } from '../helpers/remote-server.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request to `port` on 127.0.0.1 from the local address `from` (any 127/8 address is ours on Linux). */
function send(port: number, from: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, localAddress: from, method, path, agent: false, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('error', reject);
    if (body !== undefined) r.write(body);
    r.end();
  });
}

/** A reverse proxy: forwards to `target`, appending its client's address to X-Forwarded-For, as nginx's $proxy_add_x_forwarded_for does. */
async function startProxy(target: URL): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const forwarded = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const upstream = request({ host: target.hostname, port: target.port, localAddress: '127.0.0.1', method: req.method, path: req.url, agent: false, headers: { ...req.headers, 'x-forwarded-for': forwarded } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** The sign-in form as a browser posts it: the login-CSRF token and its cookie from the form page. */
async function signIn(port: number, from: string, key: string): Promise<Reply> {
  const page = await send(port, from, 'GET', '/dashboard/sign-in', {});
  const token = /name="_signin" value="([^"]+)"/.exec(page.body)![1]!;
  const cookie = [page.headers['set-cookie'] ?? []].flat().map((c) => c.split(';')[0]).join('; ');
  return send(port, from, 'POST', '/dashboard/sign-in', { 'content-type': 'application/x-www-form-urlencoded', cookie }, new URLSearchParams({ _signin: token, admin_key: key, next: '/dashboard/approvals' }).toString());
}

describe('H8-2: dashboard sign-in behind a trusted proxy', () => {
  let config: RemoteConfig | undefined;
  let server: SpawnedServer | undefined;
  let proxy: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    proxy = undefined;
    await server?.stop();
    server = undefined;
    await config?.cleanup();
    config = undefined;
  });

  it("an attacker's wrong admin keys lock the attacker's address, not the admin signing in from another address through the same proxy", async () => {
    config = await makeConfig({ agents: [], dashboard: { trusted_proxies: ['127.0.0.1'] } });
    server = await spawnHttpServer(config.configPath);
    const started = await startProxy(new URL(server.url));
    proxy = started.server;
    const wrong = `ass_admin_${'x'.repeat(43)}`;
    // 5 free failures, then the address waits (bounded loop; the lock is by count, not by time).
    const statuses: number[] = [];
    while (statuses.length < 20 && statuses.at(-1) !== 429) statuses.push((await signIn(started.port, '127.0.0.2', wrong)).status);
    expect(statuses.at(-1)).toBe(429);
    expect((await signIn(started.port, '127.0.0.2', config.adminKey)).status).toBe(429);
    // The admin, through the same proxy from another address, signs in.
    const admin = await signIn(started.port, '127.0.0.3', config.adminKey);
    expect(admin.status, admin.body).toBe(303);
  }, 120_000);

  it('an IPv6 client counts by its /64: another address of the same /64 waits, another /64 does not', () => {
    expect(limitKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(limitKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(limitKey('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(limitKey('::1')).toBe('0:0:0:0::/64');
    expect(limitKey('198.51.100.7')).toBe('198.51.100.7');
    const now = new Date('2026-06-01T00:00:00Z');
    const throttle = new SignInThrottle(() => now);
    for (let i = 1; i <= 6; i++) throttle.fail(`2001:db8:1:2::${i.toString(16)}`);
    expect(throttle.waitSeconds('2001:db8:1:2:ffff::9')).toBeGreaterThan(0);
    expect(throttle.waitSeconds('2001:db8:1:3::1')).toBe(0);
  });
});
