/**
 * A loopback HTTP relay in front of the server under test, for two things real clients need
 * and cannot do themselves:
 * - add headers to every request (the conformance suite's client cannot send `x-agent-key`);
 * - drop every open connection on demand (`dropAll`), as a flaky network or a restarted proxy
 *   would, to test that a client resumes its streams (`pause` holds new requests meanwhile).
 * Requests and responses are streamed through unchanged (SSE included); Host and Origin pass
 * as the client sent them, so the server's own guards still see what the client sent.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HeaderProxy {
  url: string;
  /** Requests seen, as `METHOD path` plus the Last-Event-ID they carried. */
  seen: Array<{ method: string; path: string; lastEventId?: string }>;
  /** Destroys every open client and upstream connection at once. */
  dropAll(): void;
  /** Holds new requests (not forwarded, not answered) until `resume()`: the network is down. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startHeaderProxy(target: string, headers: Record<string, string>): Promise<HeaderProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  const seen: HeaderProxy['seen'] = [];
  const track = (socket: Socket): void => {
    // A keep-alive socket serves many requests: one listener per socket, not per request.
    if (sockets.has(socket)) return;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  let paused: Array<() => void> | undefined;
  const server: Server = createServer((req: IncomingMessage, res) => {
    if (paused) {
      paused.push(() => forward(req, res));
      return;
    }
    forward(req, res);
  });
  function forward(req: IncomingMessage, res: ServerResponse): void {
    const lastEventId = req.headers['last-event-id'];
    seen.push({ method: req.method ?? '', path: req.url ?? '', ...(typeof lastEventId === 'string' ? { lastEventId } : {}) });
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, ...headers } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('socket', track);
    out.on('error', () => res.destroy());
    req.pipe(out);
  }
  server.on('connection', track);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    dropAll() {
      for (const socket of sockets) socket.destroy();
    },
    pause() {
      paused ??= [];
    },
    resume() {
      const waiting = paused ?? [];
      paused = undefined;
      for (const go of waiting) go();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
