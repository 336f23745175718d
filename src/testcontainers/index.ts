/**
 * `@agentsecretstore/mcp/testcontainers`: agent-secret-store in a container for a user's own
 * integration tests, the way testcontainers starts a database.
 *
 *   const ass = await new AgentSecretStoreContainer()
 *     .withAgent('ci-agent', ['secrets:*:dev/**'])
 *     .withSecret('dev/db', 'PASSWORD', 'hunter2', 'standard')
 *     .start();
 *   // MCP at ass.getMcpUrl() with header x-agent-key: ass.getAgentKey('ci-agent')
 *
 * The keys are generated per container (only their sha256 goes into the container's config)
 * and the file store's passphrase is random per container. Works with the default bridge
 * network (the port is mapped) and with `.withNetworkMode('host')` or
 * ASS_TESTCONTAINERS_NETWORK_MODE=host (a free port of this machine is chosen, since nothing is
 * mapped there).
 *
 * testcontainers is a peer dependency of the package (optional): install it in the project that
 * imports this module; nothing else of the package loads it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { AbstractStartedContainer, GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from 'testcontainers';

/** What `docker build -t agent-secret-store .` in a clone of the repository makes. */
export const DEFAULT_IMAGE = 'agent-secret-store:latest';
/** The port the server listens on inside the container (bridge networking). */
export const CONTAINER_PORT = 8787;

export type AccessTier = 'standard' | 'sensitive' | 'critical';

/** The secret backend behind the server: the encrypted file store (default), a Vault, or AWS Secrets Manager (or an emulator of its API). */
export type BackendOptions =
  | { type: 'file' }
  | { type: 'vault'; address: string; token: string; mount?: string; prefix?: string; kvVersion?: 1 | 2 | 'auto' }
  | { type: 'aws'; region: string; endpoint?: string; accessKeyId?: string; secretAccessKey?: string; prefix?: string };

/** The config's `policy:` block (see config.example.yaml), e.g. `{ tiers: { sensitive: 'approval' } }`. */
export type PolicyOptions = Record<string, unknown>;

interface AgentEntry {
  id: string;
  grants: string[];
  key: string;
}

interface SecretEntry {
  namespace: string;
  key: string;
  value: string;
  tier: AccessTier;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const sha256 = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');
const agentKey = (): string => `ass_${randomBytes(32).toString('base64url')}`;
const adminKey = (): string => `ass_admin_${randomBytes(32).toString('base64url')}`;

export class AgentSecretStoreContainer extends GenericContainer {
  private backend: BackendOptions = { type: 'file' };
  private readonly agents = new Map<string, AgentEntry>();
  private readonly secrets: SecretEntry[] = [];
  private policy: PolicyOptions | undefined;
  private httpPort: number | undefined;

  constructor(image: string = DEFAULT_IMAGE) {
    super(image);
  }

  /** The backend (default: the encrypted file store inside the container). */
  withBackend(backend: BackendOptions): this {
    this.backend = backend;
    return this;
  }

  /** An agent with its grants (scopes such as `secrets:read:production/*`); its key comes from `getAgentKey(id)` once started. */
  withAgent(id: string, grants: string[]): this {
    if (!ID.test(id)) throw new Error(`agent id '${id}' must be 1-64 characters of letters, digits, _ . - (starting with a letter or digit)`);
    this.agents.set(id, { id, grants: [...grants], key: agentKey() });
    return this;
  }

  /** A secret stored by a human (the admin) once the server runs, at any tier. */
  withSecret(namespace: string, key: string, value: string, tier: AccessTier = 'standard'): this {
    this.secrets.push({ namespace, key, value, tier });
    return this;
  }

  /** The config's `policy:` block, replacing the default (standard and sensitive served, critical approved by a human). */
  withPolicy(policy: PolicyOptions): this {
    this.policy = policy;
    return this;
  }

  /** The port to listen on in host network mode (default: a free port of this machine). */
  withHttpPort(port: number): this {
    this.httpPort = port;
    return this;
  }

  override async start(): Promise<StartedAgentSecretStoreContainer> {
    // Where no bridge network exists (a rootless engine, or an engine started with --bridge=none),
    // ASS_TESTCONTAINERS_NETWORK_MODE=host selects host networking without changing the test.
    if (this.networkMode === undefined && process.env.ASS_TESTCONTAINERS_NETWORK_MODE) this.withNetworkMode(process.env.ASS_TESTCONTAINERS_NETWORK_MODE);
    const hostNetwork = this.networkMode === 'host';
    const port = hostNetwork ? (this.httpPort ?? (await freeLocalPort())) : CONTAINER_PORT;
    if (this.agents.size === 0) this.withAgent('default', ['secrets:*:**']);
    const admin = adminKey();
    const passphrase = randomBytes(32).toString('base64url');
    const runtimeHost = (await getContainerRuntimeClient()).info.containerRuntime.host;
    const hostHeader = runtimeHost.includes(':') ? `[${runtimeHost}]` : runtimeHost;
    const environment: Record<string, string> = {
      ASS_STORE_PASSPHRASE: passphrase,
      ASS_HTTP_PORT: String(port),
      // The address tests reach the server at, when it is not loopback (a remote engine).
      ASS_HTTP_ALLOWED_HOSTS: hostHeader,
      ASS_HTTP_ALLOWED_ORIGINS: `http://${hostHeader}`,
      ...backendEnvironment(this.backend),
    };
    this.withEnvironment(environment)
      .withCopyContentToContainer([{ content: configFor(this.backend, [...this.agents.values()], admin, this.policy), target: '/data/config.yaml', mode: 0o644 }])
      .withWaitStrategy(Wait.forLogMessage(/agent-secret-store listening on /))
      .withStartupTimeout(120_000);
    if (!hostNetwork) this.withExposedPorts(CONTAINER_PORT);
    const started = new StartedAgentSecretStoreContainer(await super.start(), { port, hostNetwork, admin, agents: new Map([...this.agents].map(([id, a]) => [id, a.key])) });
    for (const secret of this.secrets) await started.setSecret(secret.namespace, secret.key, secret.value, secret.tier);
    return started;
  }
}

export class StartedAgentSecretStoreContainer extends AbstractStartedContainer {
  constructor(
    started: StartedTestContainer,
    private readonly options: { port: number; hostNetwork: boolean; admin: string; agents: Map<string, string> },
  ) {
    super(started);
  }

  /** `http://host:port` of the server, seen from the test. */
  getBaseUrl(): string {
    const host = this.getHost();
    const port = this.options.hostNetwork ? this.options.port : this.getMappedPort(CONTAINER_PORT);
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Streamable HTTP MCP endpoint; authenticate with the `x-agent-key` header. */
  getMcpUrl(): string {
    return `${this.getBaseUrl()}/mcp`;
  }

  /** SSE MCP endpoint (the older transport); authenticate with the `x-agent-key` header. */
  getSseUrl(): string {
    return `${this.getBaseUrl()}/sse`;
  }

  /** REST API base (`/v1`). */
  getRestUrl(): string {
    return `${this.getBaseUrl()}/v1`;
  }

  /** The key of an agent added with `withAgent` (or of `default` when none was). */
  getAgentKey(id = 'default'): string {
    const key = this.options.agents.get(id);
    if (!key) throw new Error(`no agent '${id}' in this container; agents: ${[...this.options.agents.keys()].join(', ')}`);
    return key;
  }

  /** The admin key: approves, denies, deletes and rotates. Never give it to an agent. */
  getAdminKey(): string {
    return this.options.admin;
  }

  /** A human approves a pending approval request (what `agent-secret-store approvals approve <id>` does). */
  async approve(approvalId: string): Promise<void> {
    await this.cli(['approvals', 'approve', approvalId]);
  }

  /** A human denies a pending approval request. */
  async deny(approvalId: string): Promise<void> {
    await this.cli(['approvals', 'deny', approvalId]);
  }

  /** A human stores a secret at any tier. */
  async setSecret(namespace: string, key: string, value: string, tier: AccessTier = 'standard'): Promise<void> {
    // The value goes through stdin, so it is never in a process's arguments.
    await this.cli(['sh', '-c', 'printf %s "$ASS_SEED_VALUE" | agent-secret-store secrets set "$1" "$2" --tier "$3"', 'seed', namespace, key, tier], { ASS_SEED_VALUE: value }, true);
  }

  /** Runs the CLI inside the container with the admin key in its environment. */
  private async cli(args: string[], env: Record<string, string> = {}, raw = false): Promise<string> {
    const result = await this.exec(raw ? args : ['agent-secret-store', ...args], { env: { ASS_ADMIN_KEY: this.options.admin, ...env } });
    if (result.exitCode !== 0) throw new Error(`agent-secret-store ${raw ? 'secrets set' : args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }
}

function backendEnvironment(backend: BackendOptions): Record<string, string> {
  if (backend.type === 'vault') return { VAULT_TOKEN: backend.token };
  if (backend.type === 'aws') {
    return {
      ...(backend.accessKeyId ? { AWS_ACCESS_KEY_ID: backend.accessKeyId } : {}),
      ...(backend.secretAccessKey ? { AWS_SECRET_ACCESS_KEY: backend.secretAccessKey } : {}),
    };
  }
  return {};
}

/** The server's config (JSON is YAML): key hashes only; every credential is read from the environment. */
function configFor(backend: BackendOptions, agents: AgentEntry[], admin: string, policy: PolicyOptions | undefined): string {
  const backendBlock =
    backend.type === 'vault'
      ? { type: 'vault', address: backend.address, mount: backend.mount ?? 'secret', prefix: backend.prefix ?? 'agent-secret-store', kv_version: backend.kvVersion ?? 'auto', auth: { method: 'token', token_env: 'VAULT_TOKEN' } }
      : backend.type === 'aws'
        ? { type: 'aws', region: backend.region, ...(backend.endpoint ? { endpoint: backend.endpoint } : {}), ...(backend.prefix ? { prefix: backend.prefix } : {}) }
        : { type: 'file', path: '/data/secrets', passphrase_env: 'ASS_STORE_PASSPHRASE' };
  return `${JSON.stringify(
    {
      version: 1,
      data_dir: '/data',
      backend: backendBlock,
      ...(policy ? { policy } : {}),
      audit: { path: '/data/audit.log' },
      admins: [{ id: 'admin', key_sha256: sha256(admin) }],
      agents: agents.map((a) => ({ id: a.id, key_sha256: sha256(a.key), grants: a.grants })),
    },
    null,
    2,
  )}\n`;
}

function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
