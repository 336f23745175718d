/**
 * What the hosted-client suites point the hosted product's clients at: our built `serve --http`
 * as its own process, either on the file backend ("direct") or with the `ass` adapter in front
 * of a second instance ("via-ass": clients → A (backend: ass) → B (file backend)). Both seed the
 * same critical secret; on A the embedded default policy asks a human for it, and a human
 * approves with our CLI against A.
 */
import { createBackend } from '../../src/adapters/registry.js';
import { loadSettings } from '../../src/server/settings.js';
import { approveWithCli, spawnBuiltHttpServer, type BuiltServer } from './hosted-clients.js';
import { makeConfig, type AgentSpec, type RemoteConfig } from './remote-server.js';

export const CRITICAL = { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY', value: 'sk_live_hosted-compat-critical-9d2e' };

/** The agents every target has: the seed's agent, a second one, and one explicitly denied a namespace. */
export const AGENTS: AgentSpec[] = [
  { id: 'claude', grants: ['secrets:*:production/**', 'secrets:*:staging/**', 'secrets:*:imports/**'], deny: ['secrets:*:production/hr/**'] },
  { id: 'other', grants: ['secrets:*:elsewhere/**'] },
];

export interface Target {
  kind: 'direct' | 'via-ass';
  url: string;
  keys: Record<string, string>;
  adminKey: string;
  /** A human approves with our CLI, against this target's config. */
  approve(approvalId: string): Promise<void>;
  stop(): Promise<void>;
}

async function seedCritical(configPath: string): Promise<void> {
  const backend = await createBackend(loadSettings(configPath, {}).backend);
  await backend.put({ ...CRITICAL, secret_type: 'api_key', access_tier: 'critical', metadata: { team: 'payments' } });
  await backend.close();
}

export async function startTarget(kind: Target['kind'], options: { rateLimit?: { per_minute: number; burst: number } } = {}): Promise<Target> {
  const http = { rate_limit: options.rateLimit ?? { per_minute: 1_000_000, burst: 10_000 } };
  const parts: Array<{ config: RemoteConfig; server: BuiltServer }> = [];
  const stop = async () => {
    for (const p of parts.reverse()) {
      await p.server.stop();
      await p.config.cleanup();
    }
  };
  try {
    if (kind === 'direct') {
      const config = await makeConfig({ agents: AGENTS, http });
      await seedCritical(config.configPath);
      parts.push({ config, server: await spawnBuiltHttpServer(config.configPath) });
      return { kind, url: parts[0]!.server.url, keys: config.keys, adminKey: config.adminKey, approve: (id) => approveWithCli(config.configPath, config.adminKey, id), stop };
    }
    // B: the second instance, holding the secrets; its policy serves every tier to the relay agent.
    const remote = await makeConfig({ agents: [{ id: 'relay', grants: ['secrets:*:**'] }], policy: { tiers: { standard: 'auto', sensitive: 'auto', critical: 'auto' } }, http: { rate_limit: { per_minute: 1_000_000, burst: 10_000 } } });
    await seedCritical(remote.configPath);
    parts.push({ config: remote, server: await spawnBuiltHttpServer(remote.configPath) });
    const env = { ASS_REMOTE_AGENT_KEY: remote.keys.relay! };
    // A: the instance the clients talk to; its embedded default policy asks a human for critical.
    const local = await makeConfig({ agents: AGENTS, http, backend: { type: 'ass', url: parts[0]!.server.url, agent_key_env: 'ASS_REMOTE_AGENT_KEY' } });
    parts.push({ config: local, server: await spawnBuiltHttpServer(local.configPath, env) });
    return {
      kind, url: parts[1]!.server.url, keys: local.keys, adminKey: local.adminKey,
      approve: (id) => approveWithCli(local.configPath, local.adminKey, id, env),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
