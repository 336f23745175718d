/**
 * The read cache for remote backends (issue 14) against the real peers: a Vault server and moto
 * (AWS Secrets Manager). Each runtime talks to its peer through a loopback relay that counts the
 * HTTP requests, so every check is a call count or a value, never a timing. The clock is
 * injected: "within the ttl" is checked by moving it, not by waiting.
 * A missing peer fails loudly naming its install script (ASS_ALLOW_MISSING_PEERS=1 skips).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachedBackend, readCacheFigures } from '../../src/adapters/cache/read-cache.js';
import { authenticateAgent } from '../../src/server/authenticate.js';
import { humanDeleteSecret, humanRotateSecret } from '../../src/server/human-secrets.js';
import { generateAdminKey, generateAgentKey, hashKey } from '../../src/server/keys.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import type { AgentSettings } from '../../src/server/settings.js';
import { loadSettings } from '../../src/server/settings.js';
import { resolveHttpOptions } from '../../src/server/http/options.js';
import { startHttpServer } from '../../src/server/http/server.js';
import type { AssError } from '../../src/shared/errors.js';
import { startAwsPeer, MOTO_INSTALL_HINT } from '../helpers/aws-peer.js';
import { startHeaderProxy, type HeaderProxy } from '../helpers/header-proxy.js';
import { connectAgent, fails, ok, runCli } from '../helpers/cli.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { startVaultPeer, VAULT_INSTALL_HINT } from '../helpers/vault-peer.js';

interface Peer {
  /** The backend block, pointed at `url` (the counting relay). */
  backend(url: string, prefix: string): Record<string, unknown>;
  env: Record<string, string>;
  address: string;
  /** Writes a new value straight to the peer, as another tool would (out of band). */
  writeOutOfBand(prefix: string, namespace: string, key: string, value: string): Promise<void>;
  stop(): Promise<void>;
}

interface PeerSpec {
  name: string;
  installHint: string;
  start(): Promise<Peer | { skipReason: string }>;
}

const specs: PeerSpec[] = [
  {
    name: 'vault',
    installHint: VAULT_INSTALL_HINT,
    async start() {
      const peer = await startVaultPeer();
      if ('skipReason' in peer) return peer;
      return {
        address: peer.address,
        backend: (url, prefix) => ({ type: 'vault', address: url, mount: 'secret', kv_version: 2, prefix, auth: { method: 'token', token_env: 'CACHE_TEST_VAULT_TOKEN' } }),
        env: { CACHE_TEST_VAULT_TOKEN: peer.token },
        // A new version carrying our tier, as another writer would make it (the value changes).
        async writeOutOfBand(prefix, namespace, key, value) {
          const res = await fetch(`${peer.address}/v1/secret/data/${prefix}/${namespace}/${key}`, {
            method: 'POST',
            headers: { 'X-Vault-Token': peer.token, 'content-type': 'application/json' },
            body: JSON.stringify({ data: { value, ass_access_tier: 'sensitive', ass_secret_type: 'api_key' } }),
          });
          if (!res.ok) throw new Error(`vault write failed: ${res.status}`);
        },
        stop: () => peer.stop(),
      };
    },
  },
  {
    name: 'aws',
    installHint: MOTO_INSTALL_HINT,
    async start() {
      const peer = await startAwsPeer();
      if ('skipReason' in peer) return peer;
      const sdk = new SecretsManagerClient({ region: peer.region, endpoint: peer.endpoint, credentials: peer.credentials });
      return {
        address: peer.endpoint,
        backend: (url, prefix) => ({ type: 'aws', region: peer.region, endpoint: url, prefix }),
        env: { AWS_ACCESS_KEY_ID: peer.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: peer.credentials.secretAccessKey, AWS_REGION: peer.region },
        async writeOutOfBand(prefix, namespace, key, value) {
          await sdk.send(new PutSecretValueCommand({ SecretId: `${prefix}/${namespace}/${key}`, SecretString: value }));
        },
        stop: async () => {
          sdk.destroy();
          await peer.stop();
        },
      };
    },
  },
];

const TTL_MS = 30_000;

interface Setup {
  runtime: Runtime;
  bot: AgentSettings;
  narrow: AgentSettings;
  relay: HeaderProxy;
  prefix: string;
  dir: string;
  /** The admin key and bot's agent key of the config (for servers and CLIs run as their own processes). */
  adminKey: string;
  botKey: string;
  advance(ms: number): void;
  /** Requests the relay forwarded to the peer so far. */
  requests(): number;
  close(): Promise<void>;
}

/** A runtime on `peer` behind a counting relay, with `cache` in the backend block and an injected clock. */
async function setUp(peer: Peer, cache: Record<string, unknown>): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'ass-read-cache-'));
  const relay = await startHeaderProxy(peer.address, {});
  const prefix = `ass-cache-${randomBytes(4).toString('hex')}`;
  const botKey = generateAgentKey();
  const narrowKey = generateAgentKey();
  const adminKey = generateAdminKey();
  const config = {
    version: 1,
    backend: { ...peer.backend(relay.url, prefix), cache },
    policy: { tiers: { standard: 'auto', sensitive: 'auto', critical: 'auto' } },
    admins: [{ id: 'admin', key_sha256: hashKey(adminKey) }],
    agents: [
      { id: 'bot', key_sha256: hashKey(botKey), grants: ['secrets:*:**'] },
      { id: 'narrow', key_sha256: hashKey(narrowKey), grants: ['secrets:read:other/*'] },
    ],
  };
  await writeFile(join(dir, 'config.yaml'), JSON.stringify(config), { mode: 0o600 });
  const settings = loadSettings(join(dir, 'config.yaml'), peer.env);
  let now = Date.parse('2026-06-01T10:00:00Z');
  const runtime = await openRuntime(settings, pino({ level: 'silent' }), { clock: () => new Date(now), env: peer.env });
  return {
    runtime,
    bot: authenticateAgent(settings, botKey),
    narrow: authenticateAgent(settings, narrowKey),
    relay,
    prefix,
    dir,
    adminKey,
    botKey,
    advance: (ms) => (now += ms),
    requests: () => relay.seen.length,
    close: async () => {
      await runtime.close();
      await relay.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const caught = async (p: Promise<unknown>): Promise<AssError> => p.then(() => { throw new Error('expected a failure'); }, (e: AssError) => e);

for (const spec of specs) {
  const started = await spec.start();
  if ('skipReason' in started) {
    describeMissingPeer(`read cache on ${spec.name}`, started.skipReason, spec.installHint);
    continue;
  }
  const peer = started;
  afterAll(() => peer.stop());

  describe(`read cache on ${spec.name} (real peer, counted requests)`, () => {
    let s: Setup;
    beforeAll(async () => {
      s = await setUp(peer, { ttl: `${TTL_MS / 1000}s` });
    }, 120_000);
    afterAll(async () => {
      await s?.close();
    });

    /** Requests one backend read of a secret costs on this adapter (a cold read of a fresh secret). */
    async function requestsPerRead(): Promise<number> {
      const key = `PROBE_${randomBytes(3).toString('hex')}`;
      await s.runtime.service.setSecret(s.bot, { namespace: 'app/probe', key, value: 'probe', access_tier: 'sensitive' });
      const before = s.requests();
      await s.runtime.service.getSecret(s.bot, { namespace: 'app/probe', key });
      return s.requests() - before;
    }

    it('100 concurrent cold reads of one secret make exactly one backend read, and later reads none', async () => {
      const perRead = await requestsPerRead();
      expect(perRead).toBeGreaterThan(0);
      await s.runtime.service.setSecret(s.bot, { namespace: 'app/flight', key: 'KEY', value: 'v1', access_tier: 'sensitive' });
      const before = s.requests();
      const values = await Promise.all(Array.from({ length: 100 }, () => s.runtime.service.getSecret(s.bot, { namespace: 'app/flight', key: 'KEY' })));
      expect(values.map((v) => v.value)).toEqual(Array(100).fill('v1'));
      expect(s.requests() - before).toBe(perRead);
      for (let i = 0; i < 10; i++) await s.runtime.service.getSecret(s.bot, { namespace: 'app/flight', key: 'KEY' });
      expect(s.requests() - before).toBe(perRead);
    });

    it('every write through the server is read back at once: 0 stale reads, also with a read in flight during the write', async () => {
      const path = { namespace: 'app/writes', key: 'KEY' };
      await s.runtime.service.setSecret(s.bot, { ...path, value: 'w0', access_tier: 'sensitive' });
      let stale = 0;
      for (let i = 1; i <= 10; i++) {
        // Cached first, then a cold read started just before the write (it may read the old version).
        await s.runtime.service.getSecret(s.bot, path);
        const inFlight = s.runtime.service.getSecret(s.bot, path);
        await s.runtime.service.setSecret(s.bot, { ...path, value: `w${i}` });
        await inFlight;
        if ((await s.runtime.service.getSecret(s.bot, path)).value !== `w${i}`) stale++;
      }
      expect(stale).toBe(0);
    });

    it('a human rotate and delete through the server are seen at once', async () => {
      const path = { namespace: 'app/human', key: 'KEY' };
      await s.runtime.service.setSecret(s.bot, { ...path, value: 'before', access_tier: 'sensitive' });
      expect((await s.runtime.service.getSecret(s.bot, path)).value).toBe('before');
      await humanRotateSecret(s.runtime, { adminId: 'admin', via: 'cli' }, { ...path, value: 'rotated' });
      expect((await s.runtime.service.getSecret(s.bot, path)).value).toBe('rotated');
      await humanDeleteSecret(s.runtime, { adminId: 'admin', via: 'cli' }, { ...path, force: true });
      expect((await caught(s.runtime.service.getSecret(s.bot, path))).code).toBe('SECRET_NOT_FOUND');
    });

    it('an out-of-band change is served from the cache until the ttl passes, then read from the backend', async () => {
      const path = { namespace: 'app/oob', key: 'KEY' };
      await s.runtime.service.setSecret(s.bot, { ...path, value: 'ours', access_tier: 'sensitive' });
      expect((await s.runtime.service.getSecret(s.bot, path)).value).toBe('ours');
      await peer.writeOutOfBand(s.prefix, path.namespace, path.key, 'theirs');
      s.advance(TTL_MS - 1);
      expect((await s.runtime.service.getSecret(s.bot, path)).value).toBe('ours');
      s.advance(2);
      expect((await s.runtime.service.getSecret(s.bot, path)).value).toBe('theirs');
    });

    it('a critical secret is not cached by default: every read goes to the backend', async () => {
      const path = { namespace: 'app/critical', key: 'KEY' };
      await s.runtime.service.setSecret(s.bot, { ...path, value: 'c', access_tier: 'critical' });
      const before = s.requests();
      await s.runtime.service.getSecret(s.bot, path);
      const one = s.requests() - before;
      expect(one).toBeGreaterThan(0);
      await s.runtime.service.getSecret(s.bot, path);
      expect(s.requests() - before).toBe(2 * one);
    });

    it('access is decided before a cached value leaves: an agent without a grant is refused, with no backend request', async () => {
      const path = { namespace: 'app/access', key: 'KEY' };
      await s.runtime.service.setSecret(s.bot, { ...path, value: 'mine', access_tier: 'sensitive' });
      await s.runtime.service.getSecret(s.bot, path);
      const before = s.requests();
      const refused = await caught(s.runtime.service.getSecret(s.narrow, path));
      expect(refused.code).toBe('POLICY_DENIED');
      expect(refused.message).not.toContain('mine');
      expect(s.requests()).toBe(before);
    });

    it('revoking an agent drops every cached value, and the cache is never written to disk', async () => {
      const path = { namespace: 'app/revoke', key: 'KEY' };
      const value = `held-only-in-memory-${randomBytes(6).toString('hex')}`;
      await s.runtime.service.setSecret(s.bot, { ...path, value, access_tier: 'sensitive' });
      await s.runtime.service.getSecret(s.bot, path);
      expect(readCacheFigures(s.runtime.backend)!.entries).toBeGreaterThan(0);
      for (const file of filesUnder(s.dir)) expect(readFileSync(file, 'utf8'), file).not.toContain(value);
      // Revoked by another process (the CLI): the next call of any agent sees it in the state.
      await s.runtime.state.revokeAgent({ agentId: 'narrow', keySha256: s.narrow.config.key_sha256, adminId: 'admin', now: new Date() });
      await caught(s.runtime.service.getSecret(s.narrow, { namespace: 'other', key: 'X' }));
      expect(readCacheFigures(s.runtime.backend)!.entries).toBe(0);
      const before = s.requests();
      expect((await s.runtime.service.getSecret(s.bot, path)).value).toBe(value);
      expect(s.requests()).toBeGreaterThan(before);
    });
  });

  describe(`read cache on ${spec.name}: writes by other processes (R-13)`, () => {
    it('a `secrets rotate` and `secrets delete` by the CLI in its own process are seen at once by a running stdio server, with a 1 h ttl', async () => {
      const s = await setUp(peer, { ttl: '1h' });
      const configPath = join(s.dir, 'config.yaml');
      // The server: `agent-secret-store serve` (stdio) as its own process, with its own read cache.
      const server = await connectAgent(configPath, s.botKey, { env: peer.env });
      try {
        const path = { namespace: 'app/cli', key: 'KEY' };
        const cli = (args: string[], input = '') =>
          runCli(['--config', configPath, 'secrets', ...args, path.namespace, path.key, '--json'], { env: { ...peer.env, ASS_ADMIN_KEY: s.adminKey }, input, timeoutMs: 120_000 });
        await ok(server.client, 'set_secret', { ...path, value: 'leaked-old-value', access_tier: 'sensitive' });
        expect((await ok(server.client, 'get_secret', path)).value).toBe('leaked-old-value');
        // Served from the server's memory now: a second read makes no backend request.
        const before = s.requests();
        expect((await ok(server.client, 'get_secret', path)).value).toBe('leaked-old-value');
        expect(s.requests()).toBe(before);

        const rotated = await cli(['rotate'], 'rotated-new-value\n');
        expect(rotated.code, rotated.stderr).toBe(0);
        expect((await ok(server.client, 'get_secret', path)).value).toBe('rotated-new-value');

        const deleted = await cli(['delete', '--force']);
        expect(deleted.code, deleted.stderr).toBe(0);
        expect((await fails(server.client, 'get_secret', path)).code).toBe('SECRET_NOT_FOUND');
      } finally {
        await server.close();
        await s.close();
      }
    }, 240_000);
  });

  describe(`read cache on ${spec.name}: bounds and explicit tiers`, () => {
    it('keeps at most max_entries (least recently read evicted first) and caches critical only when listed', async () => {
      const s = await setUp(peer, { ttl: '1m', max_entries: 3, tiers: ['critical'] });
      try {
        expect(s.runtime.backend).toBeInstanceOf(CachedBackend);
        for (let i = 0; i < 5; i++) await s.runtime.service.setSecret(s.bot, { namespace: 'app/lru', key: `K${i}`, value: `v${i}`, access_tier: 'critical' });
        await s.runtime.service.setSecret(s.bot, { namespace: 'app/lru', key: 'SENSITIVE', value: 's', access_tier: 'sensitive' });
        for (let i = 0; i < 5; i++) await s.runtime.service.getSecret(s.bot, { namespace: 'app/lru', key: `K${i}` });
        expect(readCacheFigures(s.runtime.backend)).toMatchObject({ entries: 3, evictions: 2 });
        // K4 (most recent) is served from memory; K0 (evicted) is read again.
        let before = s.requests();
        await s.runtime.service.getSecret(s.bot, { namespace: 'app/lru', key: 'K4' });
        expect(s.requests()).toBe(before);
        await s.runtime.service.getSecret(s.bot, { namespace: 'app/lru', key: 'K0' });
        expect(s.requests()).toBeGreaterThan(before);
        // Only critical listed: a sensitive secret is read from the backend every time.
        await s.runtime.service.getSecret(s.bot, { namespace: 'app/lru', key: 'SENSITIVE' });
        before = s.requests();
        await s.runtime.service.getSecret(s.bot, { namespace: 'app/lru', key: 'SENSITIVE' });
        expect(s.requests()).toBeGreaterThan(before);
        // serve --http shows the same figures on /metrics.
        const http = await startHttpServer(s.runtime, resolveHttpOptions(undefined, { port: 0 }));
        try {
          const text = await (await fetch(`${http.url}/metrics`)).text();
          const figures = readCacheFigures(s.runtime.backend)!;
          expect(figures.hits).toBeGreaterThan(0);
          expect(text).toMatch(new RegExp(`^ass_cache_requests_total\\{result="hit"\\} ${figures.hits}$`, 'm'));
          expect(text).toMatch(new RegExp(`^ass_cache_requests_total\\{result="miss"\\} ${figures.misses}$`, 'm'));
          expect(text).toMatch(/^ass_cache_evictions_total [1-9]\d*$/m);
          expect(text).toMatch(/^ass_cache_entries 3$/m);
        } finally {
          await http.close();
        }
      } finally {
        await s.close();
      }
    }, 120_000);
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
