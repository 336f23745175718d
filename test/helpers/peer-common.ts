/**
 * What the peer helpers (moto, an emulator of the AWS API; Vault; the Python MCP SDK) share:
 * where the project's install scripts cache peers, whether a Docker engine answers (for the
 * testcontainers path), and a
 * free loopback port for a peer process.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';

export function peersCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ASS_PEERS_CACHE ?? join(homedir(), '.cache', 'agent-secret-store', 'peers');
}

/** Answers within ~1 s whether a Docker engine responds to `/_ping`; never hangs. */
export async function dockerReachable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const host = env.DOCKER_HOST;
  if (host?.startsWith('tcp://')) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    return await new Promise<boolean>((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port || 2375), timeout: 1000 });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(false));
    });
  }
  const candidates = host?.startsWith('unix://')
    ? [host.slice('unix://'.length)]
    : [
        '/var/run/docker.sock',
        join(homedir(), '.docker', 'run', 'docker.sock'),
        ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, 'docker.sock')] : []),
      ];
  for (const socketPath of candidates.filter((p) => existsSync(p))) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.once('timeout', () => (req.destroy(), resolve(false)));
      req.once('error', () => resolve(false));
      req.end();
    });
    if (ok) return true;
  }
  return false;
}

/** A port nothing listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The suite that stands in for one whose peer could not start: it FAILS with the reason (and
 * how to install the peer), unless ASS_ALLOW_MISSING_PEERS=1, when it is skipped with the
 * reason printed. A missing peer is never a silent pass.
 */
export function describeMissingPeer(suite: string, reason: string, installHint?: string): void {
  if (process.env.ASS_ALLOW_MISSING_PEERS === '1') {
    console.warn(`[${suite}] SKIPPED (ASS_ALLOW_MISSING_PEERS=1): ${reason}`);
    describe.skip(`${suite} (skipped: ${reason})`, () => {
      it('needs its peer', () => undefined);
    });
    return;
  }
  describe(suite, () => {
    it('has its peer running', () => {
      throw new Error(`${reason}\n(set ASS_ALLOW_MISSING_PEERS=1 to skip instead${installHint ? `; run ${installHint}` : ''})`);
    });
  });
}

