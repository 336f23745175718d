/**
 * Issue 9, finding 5: without a key, a flood of half-sent requests exhausted the server's file
 * descriptors (1,100 connections: an authenticated agent's call then failed with EMFILE). Real
 * sockets on loopback, bounded counts: the server keeps its connections within
 * `http.connections`, evicts what serves nobody to make room, answers 503 SERVER_BUSY to
 * requests without a credential under pressure, and an authenticated agent is served throughout.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { raw } from '../helpers/remote-http.js';
import { makeConfig, REPO_ROOT, startInProcess, type InProcessServer } from '../helpers/remote-server.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** `count` connections that each send half a request (or, with `silent`, nothing at all) and then nothing. */
async function halfSent(url: string, count: number, silent = false): Promise<Socket[]> {
  const { hostname, port } = new URL(url);
  const sockets: Socket[] = [];
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const socket = connect(Number(port), hostname, () => {
          if (!silent) socket.write(`GET /healthz HTTP/1.1\r\nHost: ${hostname}:${port}\r\n`);
          resolve();
        });
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        sockets.push(socket);
      }),
    ),
  );
  return sockets;
}

/** Waits (by event-loop turns, bounded) until `check` holds. */
async function until(check: () => boolean, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(check()).toBe(true);
}

const tokenRequest = (url: string, agentKey: string) =>
  raw({ url, method: 'POST', path: '/v1/tokens', headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ scopes: ['secrets:read:app/*'] }) });

describe('connection caps (in process)', () => {
  it('evicts half-sent connections beyond the per-address cap, sheds credential-less requests with 503, and serves an agent', async () => {
    const server: InProcessServer = await startInProcess({
      agents: [{ id: 'bot', grants: ['secrets:read:app/*'] }],
      http: { connections: { max: 40, max_per_address: 30, reserve: 10, headers_timeout: '60s' } },
    });
    cleanups.push(() => server.close());
    const stats = server.handle.connections;
    const sockets = await halfSent(server.url, 50);
    await until(() => stats.open + stats.evicted + stats.refused >= 50);
    expect(stats.open).toBeLessThanOrEqual(30);
    expect(stats.evicted).toBeGreaterThanOrEqual(20);

    // At the per-address cap: an agent with its key is served (its connection takes the place
    // of the oldest half-sent one), a request without any credential is shed before routing.
    const served = await tokenRequest(server.url, server.keys.bot!);
    expect(served.status, served.body).toBe(200);
    const shed = await raw({ url: server.url, path: '/healthz' });
    expect(shed.status).toBe(503);
    expect(JSON.parse(shed.body).error.code).toBe('SERVER_BUSY');
    expect(shed.headers['retry-after']).toBe('1');
    expect(stats.shed).toBeGreaterThanOrEqual(1);

    // When the flood ends, everyone is served again.
    sockets.forEach((s) => s.destroy());
    await until(() => stats.open < 20);
    expect((await raw({ url: server.url, path: '/healthz' })).status).toBe(200);
    const metrics = (await raw({ url: server.url, path: '/metrics' })).body;
    expect(metrics).toMatch(/^ass_connections_closed_total\{reason="evicted"\} ([2-9]\d|\d{3,})$/m);
    expect(metrics).toMatch(/^ass_requests_shed_total [1-9]/m);
  });

  it('under TLS too: a request is matched to its connection, so the per-address cap sheds credential-less requests', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ass-tls-caps-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const server = await startInProcess({
      agents: [{ id: 'bot', grants: [] }],
      http: { tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') }, connections: { max: 40, max_per_address: 5, reserve: 1, headers_timeout: '60s' } },
    });
    cleanups.push(() => server.close());
    const ca = readFileSync(path.join(dir, 'cert.pem'));
    const stats = server.handle.connections;
    // Connections that never even start the TLS handshake.
    await halfSent(server.url, 10, true);
    await until(() => stats.open + stats.evicted + stats.refused >= 10);
    const shed = await raw({ url: server.url, path: '/healthz', ca });
    expect(shed.status).toBe(503);
    expect((await raw({ url: server.url, path: '/healthz', ca, headers: { 'x-agent-key': server.keys.bot! } })).status).toBe(200);
  });

  it('closes a half-sent request after headers_timeout', async () => {
    const server = await startInProcess({ agents: [{ id: 'bot', grants: [] }], http: { connections: { headers_timeout: '1s', request_timeout: '2s' } } });
    cleanups.push(() => server.close());
    const [socket] = await halfSent(server.url, 1);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket!.on('data', (d: Buffer) => (text += d.toString('utf8')));
      socket!.on('close', () => resolve(text));
    });
    // Node answers 408 Request Timeout and closes the connection.
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('connection caps (separate process, low file-descriptor limit)', () => {
  it('an authenticated agent is served while 300 half-sent connections try to exhaust 192 descriptors', async () => {
    const config = await makeConfig({
      agents: [{ id: 'bot', grants: ['secrets:read:app/*'] }],
      http: { connections: { max: 120, max_per_address: 120, reserve: 16, headers_timeout: '60s' } },
    });
    cleanups.push(() => config.cleanup());
    const cli = path.join(REPO_ROOT, 'src/cli/main.ts');
    // Security of the test itself: the limit is lowered for the server process only.
    const child = spawn('bash', ['-c', `ulimit -n 192 && exec "${process.execPath}" --import tsx "${cli}" --config "${config.configPath}" serve --http --port 0`], {
      cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    cleanups.push(() => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', () => {
        const m = /listening on (\S+)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
    });
    await halfSent(url, 300);
    for (let i = 0; i < 5; i++) {
      const res = await tokenRequest(url, config.keys.bot!);
      expect(res.status, res.body).toBe(200);
    }
    expect(stderr).not.toMatch(/EMFILE/);
  });
});
