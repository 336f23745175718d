/**
 * The HTTP broker against a real loopback server: echoes in encodings masking must catch (H12-3),
 * encoding/range headers, an encoded answer, and host:port with a default port (H12-5).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planRequest, sendRequest, type HttpRule } from '../../src/use/http-broker.js';
import { MASK_MARKER } from '../../src/use/mask.js';

const VALUE = 'AKIA/abc+def/ghi&jk<l>"m\'n';
let server: Server;
let origin: string;
let seenAcceptEncoding: string | undefined;

const html = (v: string, f: (c: string) => string) => [...v].map((c) => (/[A-Za-z0-9]/.test(c) ? c : f(c))).join('');

beforeAll(async () => {
  server = createServer((req, res) => {
    seenAcceptEncoding = req.headers['accept-encoding'];
    const got = String(req.headers['x-key'] ?? '');
    if (req.url === '/zstd') {
      res.writeHead(200, { 'content-encoding': 'zstd', 'content-type': 'application/octet-stream' }).end(Buffer.from(got));
      return;
    }
    const php = JSON.stringify(got).replace(/\//g, '\\/');
    const unicode = [...Array(got.length).keys()].map((i) => `\\u${got.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
    const entities = [html(got, (c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`), html(got, (c) => `&#${c.charCodeAt(0)};`), got.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')];
    res.writeHead(200, { 'content-type': 'text/plain' }).end([php, unicode, ...entities].join('\n'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const rules = (): HttpRule[] => [{ namespaces: 'prod/**', allowed_hosts: [new URL(origin).host], schemes: ['http'], methods: ['GET'] }];
const values = new Map([['ass://prod/aws/KEY', VALUE]]);
const send = (path: string, headers: Record<string, string> = { 'x-key': '{{ass://prod/aws/KEY}}' }) =>
  sendRequest(planRequest(rules(), { method: 'GET', url: `${origin}${path}`, headers }), values, { timeoutMs: 30_000, responseCap: 65536 });

describe('http broker masking and encodings (H12-3)', () => {
  it('an echo as \\/-escaped JSON, full \\uXXXX and HTML entities comes back as markers only', async () => {
    const answer = await send('/echo');
    const lines = answer.body.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines.filter((l) => l !== MASK_MARKER && l !== `"${MASK_MARKER}"`)).toEqual([]);
    expect(seenAcceptEncoding).toBe('identity');
  });

  it('refuses accept-encoding, range and if-range from the caller before anything is sent', () => {
    for (const name of ['Accept-Encoding', 'range', 'If-Range']) {
      expect(() => planRequest(rules(), { method: 'GET', url: `${origin}/echo`, headers: { [name]: 'x' } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  it('an answer whose content-encoding is not identity is refused, its body never returned', async () => {
    await expect(send('/zstd')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('zstd') });
  });
});

describe('host:port with a default port (H12-5)', () => {
  const rule = (host: string): HttpRule[] => [{ namespaces: 'prod/**', allowed_hosts: [host], schemes: ['https', 'http'], methods: ['GET'] }];
  const plan = (host: string, url: string) => planRequest(rule(host), { method: 'GET', url, headers: { a: '{{ass://prod/x/K}}' } });
  it('api.example.com:443 matches https://api.example.com (and :443), not another port or http', () => {
    expect(plan('api.example.com:443', 'https://api.example.com/v1').destination).toBe('https://api.example.com');
    expect(plan('api.example.com:443', 'https://api.example.com:443/v1').destination).toBe('https://api.example.com');
    expect(() => plan('api.example.com:443', 'https://api.example.com:8443/v1')).toThrow(expect.objectContaining({ code: 'POLICY_DENIED' }));
    expect(() => plan('api.example.com:443', 'http://api.example.com/v1')).toThrow(expect.objectContaining({ code: 'POLICY_DENIED' }));
    expect(plan('api.example.com:80', 'http://api.example.com/v1').destination).toBe('http://api.example.com');
  });
});
