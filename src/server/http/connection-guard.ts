/**
 * Connection limits for `serve --http` (`http.connections`), so that nobody without a key can
 * exhaust the server's file descriptors or hold its sockets with half-sent requests:
 *
 * - at most `max` open connections in all and `max_per_address` from one client address;
 * - a connection that would go beyond either first evicts the oldest connection (of that
 *   address, for the per-address cap) that is not serving a request (still sending its
 *   headers, or idle between keep-alive requests); if there is none, the new one is closed;
 * - under pressure (within `reserve` of `max`, or at the per-address cap) a request that carries
 *   no credential at all (`x-agent-key` or `Authorization`) is answered 503 SERVER_BUSY before
 *   any routing or authentication, so the remaining room goes to authenticated work;
 * - the header and request timeouts (`headers_timeout`, `request_timeout`) end half-sent requests.
 *
 * A request in progress (an SSE stream, a tool call) is never evicted.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  max: number;
  maxPerAddress: number;
  reserve: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

interface Tracked {
  address: string;
  /** Requests being served on it now. */
  active: number;
  /** When it was opened or last finished a request: eviction takes the oldest first. */
  since: number;
}

const peerKey = (socket: Socket): string => `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;

export interface ConnectionStats {
  open: number;
  evicted: number;
  refused: number;
  shed: number;
}

export class ConnectionGuard {
  private readonly sockets = new Map<Socket, Tracked>();
  private readonly perAddress = new Map<string, number>();
  private readonly byPeer = new Map<string, Socket>();
  private sequence = 0;
  readonly stats: ConnectionStats = { open: 0, evicted: 0, refused: 0, shed: 0 };

  constructor(private readonly limits: ConnectionLimits) {}

  /** Sets the timeouts and starts tracking every connection of `server`. */
  attach(server: Server): void {
    server.headersTimeout = this.limits.headersTimeoutMs;
    server.requestTimeout = this.limits.requestTimeoutMs;
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  /**
   * Called first for every request: false when it was answered 503 (under pressure, no
   * credential), true to go on. Tracks the request so its connection is not evicted meanwhile.
   */
  begin(req: IncomingMessage, res: ServerResponse): boolean {
    // Under TLS the request's socket wraps the TCP socket seen at 'connection': same peer.
    const raw = this.sockets.has(req.socket) ? req.socket : this.byPeer.get(peerKey(req.socket));
    const tracked = raw ? this.sockets.get(raw) : undefined;
    if (tracked) {
      tracked.active += 1;
      res.once('close', () => {
        tracked.active -= 1;
        tracked.since = ++this.sequence;
      });
    }
    const hasCredential = req.headers['x-agent-key'] !== undefined || req.headers.authorization !== undefined;
    if (hasCredential || !this.underPressure(tracked?.address)) return true;
    this.stats.shed += 1;
    const body = JSON.stringify({ error: { code: 'SERVER_BUSY', message: 'The server is near its connection limit and serves only requests that carry a credential (x-agent-key or Authorization) until load drops. Retry shortly.', retryable: true } });
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'retry-after': '1', connection: 'close', 'cache-control': 'no-store' });
    res.end(body);
    return false;
  }

  private underPressure(address: string | undefined): boolean {
    if (this.sockets.size >= this.limits.max - this.limits.reserve) return true;
    return address !== undefined && (this.perAddress.get(address) ?? 0) >= this.limits.maxPerAddress;
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    // Security: make room by evicting what serves nobody now, rather than refusing the newcomer
    // (which may be the one authenticated agent a flood of half-sent requests is starving).
    if ((this.perAddress.get(address) ?? 0) >= this.limits.maxPerAddress && !this.evictOne(address)) return this.refuse(socket);
    if (this.sockets.size >= this.limits.max && !this.evictOne()) return this.refuse(socket);
    this.sockets.set(socket, { address, active: 0, since: ++this.sequence });
    const peer = peerKey(socket);
    this.byPeer.set(peer, socket);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    this.stats.open = this.sockets.size;
    socket.once('close', () => {
      if (this.byPeer.get(peer) === socket) this.byPeer.delete(peer);
      if (!this.sockets.delete(socket)) return;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
      this.stats.open = this.sockets.size;
    });
  }

  /** Destroys the oldest connection (of `address`, if given) serving no request; false if none. */
  private evictOne(address?: string): boolean {
    let oldest: [Socket, Tracked] | undefined;
    for (const entry of this.sockets) {
      const [, t] = entry;
      if (t.active > 0 || (address !== undefined && t.address !== address)) continue;
      if (!oldest || t.since < oldest[1].since) oldest = entry;
    }
    if (!oldest) return false;
    this.stats.evicted += 1;
    oldest[0].destroy();
    // Counted as gone now, not when its close event comes.
    this.sockets.delete(oldest[0]);
    const left = (this.perAddress.get(oldest[1].address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(oldest[1].address, left);
    else this.perAddress.delete(oldest[1].address);
    return true;
  }

  private refuse(socket: Socket): void {
    this.stats.refused += 1;
    socket.destroy();
  }
}
