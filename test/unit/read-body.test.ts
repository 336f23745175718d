/** readBody over a real loopback HTTP connection: chunked bodies, the size limit, an aborted upload. */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError, readBody } from '../../src/server/http/respond.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => {
    if (!server) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
  server = undefined;
});

/** A server whose handler reads the body with `limit` and hands the outcome to the test. */
async function serve(limit: number): Promise<{ port: number; outcome: Promise<Buffer | Error> }> {
  let settle!: (v: Buffer | Error) => void;
  const outcome = new Promise<Buffer | Error>((resolve) => (settle = resolve));
  server = createServer((req: IncomingMessage, res) => {
    readBody(req, limit).then(
      (body) => {
        settle(body);
        res.end('ok');
      },
      (error: Error) => {
        settle(error);
        if (!res.destroyed) res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, outcome };
}

describe('readBody', () => {
  it('joins a chunked body of many writes exactly', async () => {
    const { port, outcome } = await serve(1 << 20);
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/' });
    req.on('error', () => undefined);
    const parts = Array.from({ length: 50 }, (_, i) => `part-${i};`);
    for (const p of parts) req.write(p);
    req.end();
    const body = await outcome;
    expect(Buffer.isBuffer(body) ? body.toString('utf8') : body).toBe(parts.join(''));
  });

  it('reads an empty body as empty', async () => {
    const { port, outcome } = await serve(100);
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': 0 } });
    req.end();
    const body = await outcome;
    expect(Buffer.isBuffer(body) && body.length).toBe(0);
  });

  it('refuses a streamed body past the limit with 413 and stops reading it', async () => {
    const { port, outcome } = await serve(1000);
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/' });
    const closed = new Promise<void>((resolve) => req.on('error', () => resolve()).on('close', () => resolve()));
    // Chunked (no content-length): the limit is found while reading. The client keeps writing
    // until the server drops the connection (bounded).
    for (let i = 0; i < 200 && !req.destroyed; i++) {
      req.write('x'.repeat(100));
      await new Promise((r) => setImmediate(r));
    }
    const error = await outcome;
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(413);
    await closed;
  });

  it('refuses a declared length past the limit before reading', async () => {
    const { port, outcome } = await serve(10);
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': 11 } });
    req.on('error', () => undefined);
    req.end('x'.repeat(11));
    const error = await outcome;
    expect((error as HttpError).status).toBe(413);
  });

  it('ends with an error, not a wait, when the client aborts mid-body', async () => {
    const { port, outcome } = await serve(1 << 20);
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': 1000 } });
    req.on('error', () => undefined);
    req.write('x'.repeat(10));
    // Aborted once the server has seen the first bytes.
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    const error = await outcome;
    expect(error).toBeInstanceOf(Error);
    expect(Buffer.isBuffer(error)).toBe(false);
  });
});
