/**
 * The Vault adapter against a real Vault server (testcontainers, or the binary that
 * scripts/peers/install-vault.sh builds). No peer → the suite FAILS naming the install script,
 * unless ASS_ALLOW_MISSING_PEERS=1 (then describe.skip, reason printed).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { readFile } from 'node:fs/promises';
import NodeVault from 'node-vault';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { SecretBackend } from '../../src/adapters/backend.js';
import { createVaultBackend, VaultBackendConfigSchema, type VaultBackendConfigInput, type VaultClient } from '../../src/adapters/vault/index.js';
import { createNodeVaultClient } from '../../src/adapters/vault/client.js';
import type { AssError } from '../../src/shared/errors.js';
import { runBackendContract } from '../contract/backend-contract.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { startVaultPeer, type VaultPeer } from '../helpers/vault-peer.js';
import { caught, write } from '../helpers/backend-fixtures.js';

const started = await startVaultPeer();
const peer: VaultPeer | undefined = 'skipReason' in started ? undefined : started;

afterAll(async () => {
  await peer?.stop();
});

const TOKEN_ENV = 'ASS_TEST_VAULT_TOKEN';

function rootClient(p: VaultPeer = peer!): NodeVault.client {
  const client = NodeVault({ endpoint: p.address, token: p.token, pathPrefix: '', namespace: '' });
  client.token = p.token;
  return client;
}

function config(extra: Partial<VaultBackendConfigInput> = {}, p: VaultPeer = peer!): VaultBackendConfigInput {
  return {
    type: 'vault',
    address: p.address,
    prefix: `ass-test-${randomBytes(4).toString('hex')}`,
    auth: { method: 'token', token_env: TOKEN_ENV },
    request_timeout_ms: 2_000,
    ...extra,
  };
}

function tokenEnv(p: VaultPeer = peer!): NodeJS.ProcessEnv {
  return { [TOKEN_ENV]: p.token };
}


function expectScrubbed(error: AssError, p: VaultPeer): void {
  const url = new URL(p.address);
  for (const secret of [p.address, url.host, `:${url.port}`, p.token]) expect(error.message).not.toContain(secret);
  expect(error.message).not.toMatch(/request[_ -]?id/i);
  expect(JSON.stringify(error.details)).not.toContain(p.token);
  expect(error.cause).toBeUndefined();
}

async function enableKvV1(client: NodeVault.client, mount: string): Promise<void> {
  await client.write(`sys/mounts/${mount}`, { type: 'kv', options: { version: '1' } });
}

describe('vault backend: config and inputs (no server needed)', () => {
  /** A client that records calls and answers every one with `answer`. */
  const fakeClient = (answer: () => Promise<unknown>) => {
    const calls: string[] = [];
    const client: VaultClient = {
      token: '',
      read: (p) => (calls.push(`read ${p}`), answer()),
      write: (p) => (calls.push(`write ${p}`), answer()),
      list: (p) => (calls.push(`list ${p}`), answer()),
      delete: (p) => (calls.push(`delete ${p}`), answer()),
    };
    return { client, calls };
  };
  const base = { type: 'vault', address: 'http://127.0.0.1:1', kv_version: 2, auth: { method: 'token', token_env: 'T' } } as const;

  it('the schema is strict and takes env var names, not secrets', () => {
    expect(VaultBackendConfigSchema.safeParse(base).success).toBe(true);
    expect(VaultBackendConfigSchema.parse(base)).toMatchObject({ mount: 'secret', prefix: 'agent-secret-store', value_field: 'value' });
    expect(VaultBackendConfigSchema.safeParse({ ...base, token: 'hvs.x' }).success).toBe(false);
    expect(VaultBackendConfigSchema.safeParse({ ...base, auth: { method: 'token', token_env: 'hvs.CAES-abc' } }).success).toBe(false);
    expect(VaultBackendConfigSchema.safeParse({ ...base, auth: { method: 'approle', secret_id_env: 'S' } }).success).toBe(false);
    expect(VaultBackendConfigSchema.safeParse({ ...base, auth: { method: 'approle', role_id: 'r', secret_id: 'literal' } }).success).toBe(false);
    expect(VaultBackendConfigSchema.safeParse({ ...base, prefix: '../other' }).success).toBe(false);
    expect(VaultBackendConfigSchema.safeParse({ ...base, address: 'file:///etc/passwd' }).success).toBe(false);
  });

  it('refuses bad config, bad names and oversized values before any request', async () => {
    expect((await caught(createVaultBackend({ ...base, mount: '/x/' }, { T: 't' }))).code).toBe('CONFIG_INVALID');
    expect((await caught(createVaultBackend(base, {}))).code).toBe('CONFIG_INVALID');
    const { client, calls } = fakeClient(() => Promise.resolve({}));
    const b = await createVaultBackend(base, { T: 't' }, { client });
    calls.length = 0;
    for (const [ns, key] of [['../secret', 'K'], ['a//b', 'K'], ['a', '..'], ['a', 'x/y'], ['', 'K'], ['a', 'k\n']] as const) {
      expect((await caught(b.get(ns, key))).code).toBe('INVALID_ARGUMENT');
    }
    expect((await caught(b.put(write('a', 'K', 'x'.repeat(65_537))))).code).toBe('VALUE_TOO_LARGE');
    expect(calls).toEqual([]);
    await b.close();
  });

  it('scrubs vendor errors: no address, token or request id, no cause', async () => {
    const token = 'hvs.SUPER-SECRET-TOKEN';
    const vendor = Object.assign(new Error(`connect ECONNREFUSED 10.1.2.3:8200 token=${token} request_id=abc-123`), {
      config: { headers: { 'X-Vault-Token': token } },
    });
    const denied = Object.assign(new Error('1 error occurred: permission denied (request id abc-123)'), {
      response: { statusCode: 403, body: { errors: [`permission denied on 10.1.2.3 for ${token}`] } },
    });
    for (const thrown of [vendor, denied]) {
      const { client } = fakeClient(() => Promise.reject(thrown));
      const b = await createVaultBackend(base, { T: token }, { client });
      const error = await caught(b.get('ns', 'K'));
      expect(error.code).toBe('BACKEND_UNAVAILABLE');
      expect(error.message).not.toMatch(/10\.1\.2\.3|SUPER-SECRET|abc-123|request.id/i);
      expect(error.cause).toBeUndefined();
      expect(JSON.stringify(error.details)).not.toContain(token);
      await b.close();
    }
  });
  it('sends X-Vault-Namespace and the token only to the configured address', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const b = await createVaultBackend(
        { type: 'vault', address: `http://127.0.0.1:${port}`, kv_version: 2, namespace: 'team-a/dev', auth: { method: 'token', token_env: 'T' } },
        { T: 's.fake-token' },
      );
      expect(await b.get('ns', 'KEY')).toBeNull();
      await b.close();
    } finally {
      server.close();
    }
    const data = seen.filter((h) => h['x-vault-token'] === 's.fake-token');
    expect(data.length).toBeGreaterThan(0);
    for (const h of data) expect(h['x-vault-namespace']).toBe('team-a/dev');
  });
});

if (!peer) {
  describeMissingPeer('vault backend', (started as { skipReason: string }).skipReason);
} else {
  runBackendContract(`vault backend (KV v2, ${peer.via})`, async () => ({
    backend: await createVaultBackend(config(), tokenEnv()),
    cleanup: async () => undefined,
  }));

  const v1Mount = `kv1-${randomBytes(3).toString('hex')}`;
  runBackendContract(`vault backend (KV v1 mount, ${peer.via})`, async () => {
    await enableKvV1(rootClient(), v1Mount);
    return { backend: await createVaultBackend(config({ mount: v1Mount }), tokenEnv()), cleanup: async () => undefined };
  });

  describe(`vault backend: Vault specifics (${peer.via})`, () => {
    const backends: SecretBackend[] = [];
    const make = async (extra: Partial<VaultBackendConfigInput> = {}, env = tokenEnv()) => {
      const b = await createVaultBackend(config(extra), env);
      backends.push(b);
      return b;
    };
    afterAll(async () => {
      for (const b of backends) await b.close();
    });

    it('maps namespace/key onto <mount>/data/<prefix>/<namespace>/<key> with custom_metadata', async () => {
      const prefix = `ass-map-${randomBytes(3).toString('hex')}`;
      const b = await make({ prefix });
      const summary = await b.put(write('prod/stripe', 'STRIPE_KEY', 'sk_live_x', { metadata: { team: 'pay' } }));
      expect(summary.id).toBe(`secret/data/${prefix}/prod/stripe/STRIPE_KEY`);
      const raw = await rootClient().read(`secret/data/${prefix}/prod/stripe/STRIPE_KEY`);
      expect(raw.data.data).toEqual({ value: 'sk_live_x' });
      const meta = await rootClient().read(`secret/metadata/${prefix}/prod/stripe/STRIPE_KEY`);
      expect(meta.data.custom_metadata).toEqual({ ass_secret_type: 'api_key', ass_access_tier: 'sensitive', ass_meta_team: 'pay' });
      expect(meta.data.current_version).toBe(1);
    });

    it('serves a secret written by another tool with access_tier null, and reading never writes', async () => {
      const prefix = `ass-foreign-${randomBytes(3).toString('hex')}`;
      const root = rootClient();
      await root.write(`secret/data/${prefix}/legacy/DB_PASSWORD`, { data: { value: 'hunter2' } });
      await root.write(`secret/data/${prefix}/legacy/DB_CREDS`, { data: { username: 'app', password: 'pw' } });
      const before = await root.read(`secret/metadata/${prefix}/legacy/DB_PASSWORD`);
      const b = await make({ prefix });

      const got = await b.get('legacy', 'DB_PASSWORD');
      expect(got).toMatchObject({ value: 'hunter2', version: 1, access_tier: null, secret_type: 'custom', metadata: {} });
      // No `value` field: the data's own fields, as JSON.
      expect(JSON.parse((await b.get('legacy', 'DB_CREDS'))!.value)).toEqual({ username: 'app', password: 'pw' });
      expect((await b.list('legacy')).map((s) => [s.key, s.access_tier])).toEqual([
        ['DB_CREDS', null],
        ['DB_PASSWORD', null],
      ]);
      expect(await b.listNamespaces()).toEqual(['legacy']);

      const after = await root.read(`secret/metadata/${prefix}/legacy/DB_PASSWORD`);
      expect(after.data.current_version).toBe(1);
      expect(after.data.updated_time).toBe(before.data.updated_time);
      expect(after.data.custom_metadata ?? null).toBeNull();
    });

    it("keeps other tools' custom_metadata keys when it writes", async () => {
      const prefix = `ass-keep-${randomBytes(3).toString('hex')}`;
      const root = rootClient();
      await root.write(`secret/data/${prefix}/ns/KEY`, { data: { value: 'a' } });
      await root.write(`secret/metadata/${prefix}/ns/KEY`, { custom_metadata: { owner: 'platform' } });
      const b = await make({ prefix });
      expect((await b.put(write('ns', 'KEY', 'b', { access_tier: 'critical' }))).version).toBe(2);
      const meta = await root.read(`secret/metadata/${prefix}/ns/KEY`);
      expect(meta.data.custom_metadata).toMatchObject({ owner: 'platform', ass_access_tier: 'critical' });
    });

    it('two proxies racing on one key lose nothing (check-and-set)', async () => {
      const prefix = `ass-race-${randomBytes(3).toString('hex')}`;
      const [a, b] = [await make({ prefix, cas_retries: 10 }), await make({ prefix, cas_retries: 10 })];
      const n = 6;
      const results = await Promise.all(
        Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? a : b).put(write('race', 'KEY', `value-${i}`))),
      );
      expect(results.map((r) => r.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
      const meta = await rootClient().read(`secret/metadata/${prefix}/race/KEY`);
      expect(meta.data.current_version).toBe(2 * n);

      // Both read version 12 and both try to write on top of it: exactly one wins.
      const outcomes = await Promise.allSettled([
        a.put(write('race', 'KEY', 'from-a'), { expectedVersion: 2 * n }),
        b.put(write('race', 'KEY', 'from-b'), { expectedVersion: 2 * n }),
      ]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const loser = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect((loser.reason as AssError).code).toBe('CONFLICT');
    });

    it('detects a KV v1 mount by itself and keeps our fields beside the value', async () => {
      const mount = `kv1-auto-${randomBytes(3).toString('hex')}`;
      await enableKvV1(rootClient(), mount);
      const b = await make({ mount, kv_version: 'auto' });
      expect(b.capabilities).toEqual({ versioning: false, checkAndSet: false, softDelete: false });
      const s = await b.put(write('team', 'K', 'v1-value', { access_tier: 'critical' }));
      expect(s.id).toMatch(new RegExp(`^${mount}/ass-test-[0-9a-f]+/team/K$`));
      expect((await b.put(write('team', 'K', 'v2-value'))).version).toBe(2);
      expect(await b.get('team', 'K')).toMatchObject({ value: 'v2-value', version: 2, access_tier: 'sensitive' });
    });

    it('AppRole login with the least-privilege policy from docs/vault.md: read/write/list work, delete is refused', async () => {
      const root = rootClient();
      const prefix = `ass-approle-${randomBytes(3).toString('hex')}`;
      const docs = await readFile(new URL('../../docs/vault.md', import.meta.url), 'utf8');
      const hcl = /```hcl\n([\s\S]*?)```/.exec(docs)?.[1];
      expect(hcl, 'docs/vault.md must contain the policy in an ```hcl block').toBeDefined();
      const policy = hcl!.replaceAll('agent-secret-store', prefix);
      const mountPath = `approle-${randomBytes(3).toString('hex')}`;
      await root.write(`sys/auth/${mountPath}`, { type: 'approle' });
      await root.write(`sys/policies/acl/${prefix}`, { policy });
      await root.write(`auth/${mountPath}/role/proxy`, { token_policies: prefix, token_ttl: '1h', token_max_ttl: '4h' });
      const roleId = (await root.read(`auth/${mountPath}/role/proxy/role-id`)).data.role_id as string;
      const secretId = (await root.write(`auth/${mountPath}/role/proxy/secret-id`, {})).data.secret_id as string;

      const b = await make(
        { prefix, kv_version: 'auto', auth: { method: 'approle', mount: mountPath, role_id_env: 'R_ID', secret_id_env: 'S_ID' } },
        { R_ID: roleId, S_ID: secretId },
      );
      await b.put(write('prod/app', 'API_KEY', 'approle-value'));
      expect((await b.get('prod/app', 'API_KEY'))?.value).toBe('approle-value');
      expect((await b.list('prod/app')).map((s) => s.key)).toEqual(['API_KEY']);
      expect(await b.listNamespaces()).toEqual(['prod', 'prod/app']);
      expect(await b.health()).toMatchObject({ ok: true });

      const refused = await caught(b.delete('prod/app', 'API_KEY'));
      expect(refused.code).toBe('BACKEND_UNAVAILABLE');
      expect(refused.message).toMatch(/permission/);
      expectScrubbed(refused, peer!);
      expect(refused.message).not.toContain(secretId);

      const wrong = await caught(
        createVaultBackend(config({ prefix, auth: { method: 'approle', mount: mountPath, role_id: roleId, secret_id_env: 'S_ID' } }), { S_ID: 'not-it' }),
      );
      expect(wrong.code).toBe('BACKEND_UNAVAILABLE');
      expectScrubbed(wrong, peer!);
    });

    it('a revoked proxy token: health is not ok and calls give a scrubbed BACKEND_UNAVAILABLE', async () => {
      const root = rootClient();
      const token = (await root.write('auth/token/create', { policies: ['root'], ttl: '10m' })).auth.client_token as string;
      const b = await make({}, { [TOKEN_ENV]: token });
      expect(await b.health()).toMatchObject({ ok: true });
      await root.write('auth/token/revoke', { token });
      const health = await b.health();
      expect(health.ok).toBe(false);
      expect(health.detail).not.toContain(token);
      const error = await caught(b.get('any', 'KEY'));
      expect(error.code).toBe('BACKEND_UNAVAILABLE');
      expectScrubbed(error, { ...peer!, token });
    });

    it('renews a renewable token at half its TTL', async () => {
      const root = rootClient();
      const created = await root.write('auth/token/create', { ttl: '1h', explicit_max_ttl: '5h', renewable: true, policies: ['root'] });
      const token = created.auth.client_token as string;
      // The real node-vault client against the real Vault, with its renew-self answers recorded.
      const inner = createNodeVaultClient(VaultBackendConfigSchema.parse(config({})));
      const renewals: number[] = [];
      let asked = 0;
      let renewed!: () => void;
      const firstRenewal = new Promise<void>((resolve) => (renewed = resolve));
      const client: VaultClient = {
        get token() {
          return inner.token;
        },
        set token(value: string) {
          inner.token = value;
        },
        read: (path) => inner.read(path),
        list: (path) => inner.list(path),
        delete: (path) => inner.delete(path),
        write: async (path, data) => {
          // Counted when asked (synchronously, when the timer fires), answered when Vault replies.
          if (path === 'auth/token/renew-self') asked += 1;
          const response = await inner.write(path, data);
          if (path === 'auth/token/renew-self') {
            renewals.push(Number((response as { auth?: { lease_duration?: unknown } }).auth?.lease_duration));
            renewed();
          }
          return response;
        },
      };
      // An injected clock for the session's renewal timer: the schedule is checked at simulated
      // instants while the requests to Vault stay real. No test waits for a TTL to pass.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      let b: SecretBackend | undefined;
      try {
        b = await createVaultBackend(config({}), { [TOKEN_ENV]: token }, { client });
        await b.put(write('renew', 'K', 'v'));
        await vi.advanceTimersByTimeAsync(30 * 60_000 - 1_000);
        expect(asked, 'not renewed before half the TTL').toBe(0);
        await vi.advanceTimersByTimeAsync(1_000);
        expect(asked, 'renewal asked at half the TTL').toBe(1);
      } finally {
        vi.useRealTimers();
      }
      try {
        // The renewal request is in flight: wait for Vault's answer (an event), bounded against a hang.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([firstRenewal, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no renewal')), 30_000)))]).finally(() => clearTimeout(timer));
        expect(renewals).toEqual([3600]);
        expect((await b!.get('renew', 'K'))?.value).toBe('v');
      } finally {
        await b!.close();
      }
    });

  });

  describe(`vault backend: sealed and stopped server (${peer.via})`, () => {
    it('gives BACKEND_UNAVAILABLE with a scrubbed message and serves nothing stale', async () => {
      const own = await startVaultPeer();
      if ('skipReason' in own) throw new Error(own.skipReason);
      try {
        const b = await createVaultBackend(config({}, own), tokenEnv(own));
        await b.put(write('ns', 'KEY', 'before-seal'));
        expect((await b.get('ns', 'KEY'))?.value).toBe('before-seal');

        await rootClient(own).write('sys/seal', {});
        const sealed = await caught(b.get('ns', 'KEY'));
        expect(sealed.code).toBe('BACKEND_UNAVAILABLE');
        expect(sealed.message).toMatch(/sealed/);
        expectScrubbed(sealed, own);
        expect(await b.health()).toMatchObject({ ok: false });
        expect((await caught(b.list('ns'))).code).toBe('BACKEND_UNAVAILABLE');

        await own.stop();
        const gone = await caught(b.get('ns', 'KEY'));
        expect(gone.code).toBe('BACKEND_UNAVAILABLE');
        expectScrubbed(gone, own);
        const health = await b.health();
        expect(health.ok).toBe(false);
        expect(health.detail).not.toContain(new URL(own.address).host);
        await b.close();
      } finally {
        await own.stop();
      }
    });
  });
}
