/**
 * R-4: client ID metadata documents are resolved with c-ares under one deadline, bounded in
 * number, and a failing domain is refused at once. The document hosts' DNS server is a loopback
 * UDP socket that counts queries and never answers (what an attacker's authoritative server
 * does); requests go to the in-process server's OAuth service (what /oauth/authorize calls).
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setDocumentResolverServersForTests } from '../../src/server/oauth/clients.js';
import { oauthFor, OAuthError } from '../../src/server/oauth/index.js';
import { DOCUMENT_REFUSED } from '../../src/server/oauth/service.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

const OAUTH = { auth: { oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } } } };
/** The global bound of fetches in flight (clients.ts MAX_FETCHES), times the A and AAAA query of each. */
const MAX_QUERIES_IN_FLIGHT = 4 * 2;
/** What c-ares would take by default (5 s timeout, 4 tries, growing) is far beyond this; ours is 5 s per fetch. */
const ANSWER_BOUND_MS = 25_000;

async function silentDns(): Promise<{ socket: Socket; server: string; queries: () => number }> {
  let queries = 0;
  const socket = createSocket('udp4');
  socket.on('message', () => (queries += 1));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, server: `127.0.0.1:${socket.address().port}`, queries: () => queries };
}

describe('R-4: client ID metadata documents whose DNS never answers', () => {
  let server: InProcessServer | undefined;
  let dns: Awaited<ReturnType<typeof silentDns>> | undefined;
  afterEach(async () => {
    setDocumentResolverServersForTests(null);
    await server?.close();
    server = undefined;
    await new Promise<void>((resolve) => (dns ? dns.socket.close(() => resolve()) : resolve()));
    dns = undefined;
  });

  it('authorize answers within the bound, file reads keep going, at most 4 fetches run, and a failed domain is not queried again', async () => {
    dns = await silentDns();
    setDocumentResolverServersForTests([dns.server]);
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], extra: OAUTH });
    // What GET /oauth/authorize calls (the route needs the dashboard mount for its sign-in page).
    const oauth = (await oauthFor(server.runtime))!;
    const authorize = (clientId: string) =>
      oauth.beginAuthorization(new URLSearchParams({ client_id: clientId, redirect_uri: 'http://127.0.0.1:9/cb', response_type: 'code', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }), server!.url).then(
        () => 'accepted',
        (error: unknown) => (error instanceof OAuthError && error.description === DOCUMENT_REFUSED ? 'refused' : String(error)),
      );

    // Ten domains at once (random sub-domains of ten zones whose DNS never answers).
    let firstAnswerQueries: number | null = null;
    let fsReadsBeforeFirstAnswer: number | null = null;
    let fsReads = 0;
    const answers = Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        authorize(`https://r${i}.stall-${i}.test/client.json`).then((status) => {
          firstAnswerQueries ??= dns!.queries();
          fsReadsBeforeFirstAnswer ??= fsReads;
          return status;
        }),
      ),
    );
    // File work while the lookups hang: with dns.lookup (libuv's 4 threads) these would queue behind them.
    const configFile = server.configPath;
    for (let i = 0; i < 20; i++) {
      await readFile(configFile, 'utf8');
      fsReads += 1;
    }
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'bound passed'>((resolve) => (timer = setTimeout(() => resolve('bound passed'), ANSWER_BOUND_MS)));
    const statuses = await Promise.race([answers, bound]);
    clearTimeout(timer);
    expect(statuses).toEqual(Array(10).fill('refused'));
    expect(fsReadsBeforeFirstAnswer).toBe(20);
    expect(firstAnswerQueries).toBeGreaterThan(0);
    expect(firstAnswerQueries).toBeLessThanOrEqual(MAX_QUERIES_IN_FLIGHT);

    // A new sub-domain and path of a zone that just failed: refused with no DNS query at all.
    const before = dns.queries();
    expect(await authorize('https://another.stall-3.test/other.json')).toBe('refused');
    expect(dns.queries()).toBe(before);

    // Three sub-domains of one fresh zone at once: one fetch runs (A + AAAA), the others wait and are then refused unqueried.
    const fresh = dns.queries();
    expect(await Promise.all(['a', 'b', 'c'].map((sub) => authorize(`https://${sub}.stall-fresh.test/client.json`)))).toEqual(['refused', 'refused', 'refused']);
    expect(dns.queries() - fresh).toBe(2);
    expect(path.isAbsolute(configFile)).toBe(true);
  }, 120_000);
});
