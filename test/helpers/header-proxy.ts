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
  /** Requests seen, as `METHOD path` plus the Last-Event-ID they carried and the upstream (host:port) that served them. */
  seen: Array<{ method: string; path: string; lastEventId?: string; upstream: string }>;
  /** Sends the next requests to another upstream (a load balancer picking another replica). */
  retarget(target: string): void;
  /** Destroys every open client and upstream connection at once. */
  dropAll(): void;
  /** Holds new requests (not forwarded, not answered) until `resume()`: the network is down. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/**
 * `options.freshUpstream`: one upstream connection per request (no keep-alive pool), for a relay
 * that `retarget`s between servers and forwards clients' `connection: close` requests.
 */
export async function startHeaderProxy(target: string, headers: Record<string, string>, options: { freshUpstream?: boolean } = {}): Promise<HeaderProxy> {
  let upstream = new URL(target);
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
    seen.push({ method: req.method ?? '', path: req.url ?? '', ...(typeof lastEventId === 'string' ? { lastEventId } : {}), upstream: upstream.host });
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, ...headers }, ...(options.freshUpstream ? { agent: false } : {}) },
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
    retarget(to: string) {
      upstream = new URL(to);
    },
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
