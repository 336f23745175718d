/**
 * The seed's conversation over real stdio, with the built CLI in front of each external
 * backend: AWS Secrets Manager (moto, an emulator of the AWS API, on loopback or through testcontainers)
 * and HashiCorp Vault (a real Vault dev server / testcontainers). Secrets written by another tool (no tier of ours) are served with the tier
 * the config gives their namespace pattern. A missing peer fails loudly, naming its install
 * script, unless ASS_ALLOW_MISSING_PEERS=1, when its suite is reported as skipped with the
 * reason (`describeMissingPeer`, as in the other peer suites).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsPeer, MOTO_INSTALL_HINT } from '../helpers/aws-peer.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { startVaultPeer, VAULT_INSTALL_HINT } from '../helpers/vault-peer.js';
import {
  admin, adminJson, approvalIdOf, call, connectAgent, fails, initHome, ok, removeHome, REPO_ROOT, tempDir,
  type AgentConnection, type Home,
} from '../helpers/cli.js';

interface Target {
  backend: Record<string, unknown>;
  env: Record<string, string>;
  /** Writes a secret the way another tool would: no tier, no type of ours. */
  writeForeign(namespace: string, key: string, value: string): Promise<void>;
  stop(): Promise<void>;
}

interface TargetSpec {
  name: string;
  installHint: string;
  start(prefix: string): Promise<Target | { skipReason: string }>;
}

const targets: TargetSpec[] = [
  {
    name: 'aws',
    installHint: MOTO_INSTALL_HINT,
    async start(prefix) {
      const peer = await startAwsPeer();
      if ('skipReason' in peer) return peer;
      const env = { AWS_ACCESS_KEY_ID: peer.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: peer.credentials.secretAccessKey, AWS_REGION: peer.region };
      const sdk = new SecretsManagerClient({ region: peer.region, endpoint: peer.endpoint, credentials: peer.credentials });
      return {
        backend: { type: 'aws', region: peer.region, endpoint: peer.endpoint, prefix },
        env,
        writeForeign: async (ns, key, value) => {
          await sdk.send(new CreateSecretCommand({ Name: `${prefix}/${ns}/${key}`, SecretString: value }));
        },
        stop: async () => {
          sdk.destroy();
          await peer.stop();
        },
      };
    },
  },
  {
    name: 'vault',
    installHint: VAULT_INSTALL_HINT,
    async start(prefix) {
      const peer = await startVaultPeer();
      if ('skipReason' in peer) return peer;
      return {
        backend: { type: 'vault', address: peer.address, mount: 'secret', prefix, auth: { method: 'token', token_env: 'VAULT_E2E_TOKEN' } },
        env: { VAULT_E2E_TOKEN: peer.token },
        writeForeign: async (ns, key, value) => {
          const res = await fetch(`${peer.address}/v1/secret/data/${prefix}/${ns}/${key}`, {
            method: 'POST',
            headers: { 'X-Vault-Token': peer.token, 'content-type': 'application/json' },
            body: JSON.stringify({ data: { value } }),
          });
          if (!res.ok) throw new Error(`vault write failed: ${res.status}`);
        },
        stop: () => peer.stop(),
      };
    },
  },
];

for (const spec of targets) {
  const prefix = `ass-e2e-${randomBytes(4).toString('hex')}`;
  // Started while the file is collected, so a missing peer turns into a suite reported as
  // skipped (or failed) with its reason, never into tests that pass without running.
  const started = await spec.start(prefix);
  if ('skipReason' in started) {
    describeMissingPeer(`stdio conversation on the ${spec.name} backend`, started.skipReason, spec.installHint);
    continue;
  }
  const target: Target = started;

  describe(`stdio conversation on the ${spec.name} backend`, () => {
    let home: Home | undefined;
    let agent: AgentConnection | undefined;
    let moduleLog = '';

    beforeAll(async () => {
      // The backend's credentials go to every process on this home: the server and each human command.
      home = { ...(await initHome({ backend: target.backend, 'policy.namespaces': [{ pattern: 'legacy/**', default_tier: 'critical' }] })), env: target.env };
      // The server logs every module it loads (test/helpers/module-log.mjs), for the last test.
      moduleLog = path.join(await tempDir('ass-modlog-'), 'modules.txt');
      agent = await connectAgent(home.configPath, home.agentKey, {
        env: { ...target.env, NODE_OPTIONS: `--import=${path.join(REPO_ROOT, 'test/helpers/module-log.mjs')}`, ASS_MODULE_LOG: moduleLog },
      });
    }, 180_000);

    afterAll(async () => {
      await agent?.close();
      await target.stop();
      removeHome(home);
      if (moduleLog) rmSync(path.dirname(moduleLog), { recursive: true, force: true });
    });

    it('serves, lists and versions secrets as the seed shows', async () => {
      const client = agent!.client;
      const stored = await ok(client, 'set_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'gemini-api-key-example', secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' } });
      expect(stored).toMatchObject({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', version: 1, secret_type: 'api_key', access_tier: 'sensitive' });
      expect(await ok(client, 'get_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' })).toEqual({
        value: 'gemini-api-key-example', secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' }, version: 1,
      });
      expect((await ok(client, 'set_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'v2' })).version).toBe(2);
      const list = await ok(client, 'list_secrets', { namespace: 'production/gemini' });
      expect(list).toMatchObject({ namespace: 'production/gemini', total: 1, items: [{ key: 'GEMINI_API_KEY', version: 2, access_tier: 'sensitive' }] });
      expect(JSON.stringify(list)).not.toContain('v2"');
      expect((await ok(client, 'list_namespaces', {})).namespaces).toEqual(expect.arrayContaining(['production', 'production/gemini']));
    });

    it('gates a critical secret behind a human approval given in another process', async () => {
      const client = agent!.client;
      const seeded = await admin(home!, ['secrets', 'set', 'production/stripe', 'STRIPE_SECRET_KEY', '--tier', 'critical', '--type', 'api_key'], { input: 'sk_live_example' });
      expect(seeded.code, seeded.stderr).toBe(0);
      const denied = await fails(client, 'get_secret', { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY' });
      const id = approvalIdOf(denied.error);
      expect((await ok(client, 'get_approval_status', { approval_id: id })).status).toBe('pending');
      await adminJson(home!, ['approvals', 'approve', id]);
      expect((await ok(client, 'get_approval_status', { approval_id: id })).status).toBe('approved');
      expect(await ok(client, 'get_secret', { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY' })).toMatchObject({ value: 'sk_live_example', access_tier: 'critical', version: 1 });
    });

    it('serves a secret written by another tool with the tier its namespace pattern gives', async () => {
      const client = agent!.client;
      await target.writeForeign('legacy/db', 'PASSWORD', 'foreign-value');
      await target.writeForeign('other', 'TOKEN', 'plain-value');
      expect(await ok(client, 'get_secret', { namespace: 'other', key: 'TOKEN' })).toMatchObject({ value: 'plain-value', access_tier: 'standard', secret_type: 'custom' });
      const gated = await call(client, 'get_secret', { namespace: 'legacy/db', key: 'PASSWORD' });
      expect(gated.ok).toBe(false);
      const id = approvalIdOf((gated as { error: string }).error);
      await adminJson(home!, ['approvals', 'approve', id]);
      expect(await ok(client, 'get_secret', { namespace: 'legacy/db', key: 'PASSWORD' })).toMatchObject({ value: 'foreign-value', access_tier: 'critical', version: 1 });
      // Reading wrote nothing back: still version 1, still no tier of ours in the listing's source.
      expect((await ok(client, 'list_secrets', { namespace: 'legacy/db' })).items[0]).toMatchObject({ version: 1, access_tier: 'critical' });
    });

    it('leaves delete and rotate to a human, who can do both through the CLI', async () => {
      const client = agent!.client;
      expect(await ok(client, 'delete_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' })).toMatchObject({ requires_human_auth: true });
      expect((await ok(client, 'get_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' })).version).toBe(2);
      const rotated = await adminJson<{ version: number }>(home!, ['secrets', 'rotate', 'production/gemini', 'GEMINI_API_KEY', '--generate']);
      expect(rotated.version).toBe(3);
      await adminJson(home!, ['secrets', 'delete', 'production/gemini', 'GEMINI_API_KEY']);
      expect((await fails(client, 'get_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' })).error).toMatch(/No secret 'GEMINI_API_KEY'/);
      const verify = await admin(home!, ['audit', 'verify', '--json']);
      expect(verify.code, verify.stdout).toBe(0);
    });

    it(`runs the ${spec.name} client from the bundle: its lazy chunk is loaded, nothing from node_modules`, () => {
      const loaded = readFileSync(moduleLog, 'utf8').split('\n').filter(Boolean);
      expect(loaded.some((m) => new RegExp(`/dist/chunks/${spec.name}-[^/]+\\.js$`).test(m)), loaded.join('\n')).toBe(true);
      expect(loaded.filter((m) => m.includes('/node_modules/'))).toEqual([]);
    });
  });
}
