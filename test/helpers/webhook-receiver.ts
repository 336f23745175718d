/**
 * A real loopback HTTP receiver for webhook tests. It records every request (raw body and
 * headers) and answers per its mode: `ok` (204), `fail` (500), or `hold` (no answer until
 * `release()`), so a test can show that a slow receiver holds nobody up. Waiting is by events
 * (`waitFor`), never by sleeping.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
}

export interface Receiver {
  url: string;
  received: Received[];
  mode: 'ok' | 'fail' | 'hold';
  /** Requests being held open (mode `hold`). */
  held(): number;
  release(): void;
  /** Resolves once `count` requests arrived. */
  waitFor(count: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(mode: Receiver['mode'] = 'ok'): Promise<Receiver> {
  const waiters: { count: number; resolve: (r: Received[]) => void }[] = [];
  const holding: ServerResponse[] = [];
  const receiver: Receiver = {
    url: '',
    received: [],
    mode,
    held: () => holding.filter((r) => !r.writableEnded).length,
    release() {
      for (const res of holding.splice(0)) if (!res.writableEnded) res.writeHead(204).end();
    },
    waitFor(count) {
      if (receiver.received.length >= count) return Promise.resolve(receiver.received);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        receiver.release();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      receiver.received.push({ headers: req.headers, body, json });
      if (receiver.mode === 'ok') res.writeHead(204).end();
      else if (receiver.mode === 'fail') res.writeHead(500).end('no');
      else holding.push(res);
      for (const w of [...waiters]) {
        if (receiver.received.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(receiver.received);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}
