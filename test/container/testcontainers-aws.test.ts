/**
 * `AgentSecretStoreContainer.withBackend({ type: 'aws', … })`: the module's container in front
 * of an AWS Secrets Manager API, here moto's server in the image built from the moto venv
 * (scripts/docker/build-moto-image.sh) through testcontainers, both on the tests' own engine
 * (host networking, so the server reaches moto on loopback). A secret seeded through the module
 * lands in moto under the configured prefix (read back with the AWS SDK), an agent reads it over
 * MCP, `list_secrets` shows no value, and the AWS credentials reach the container only through
 * its environment: never its config file, never its logs.
 */
import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentSecretStoreContainer, type StartedAgentSecretStoreContainer } from '../../src/testcontainers/index.js';
import { startAwsPeer, type AwsPeer } from '../helpers/aws-peer.js';
import { testcontainersFor } from '../helpers/container-peer.js';
import { acquireDockerEngine, buildProjectImage, type DockerEngine } from '../helpers/docker-engine.js';

const SETUP = 900_000;
const run = randomBytes(4).toString('hex');
const PREFIX = `ass-tc-${run}`;
const VALUE = `sk_aws_${randomBytes(8).toString('hex')}`;

let engine: DockerEngine;
let moto: AwsPeer;
let ass: StartedAgentSecretStoreContainer | undefined;

beforeAll(async () => {
  engine = await acquireDockerEngine();
  const { tag } = await buildProjectImage(engine);
  await testcontainersFor({ kind: 'own', env: engine.env, hostNetwork: true, release: async () => undefined });
  process.env.ASS_AWS_PEER = 'testcontainers';
  const peer = await startAwsPeer();
  if ('skipReason' in peer) throw new Error(peer.skipReason);
  moto = peer;
  ass = await new AgentSecretStoreContainer(tag)
    .withNetworkMode('host')
    .withBackend({ type: 'aws', region: moto.region, endpoint: moto.endpoint, prefix: PREFIX, ...moto.credentials })
    .withAgent('ci', ['secrets:read:dev/**'])
    .withSecret('dev/payments', 'API_KEY', VALUE, 'standard')
    .start();
}, SETUP);

afterAll(async () => {
  await ass?.stop();
  await moto?.stop();
  const left = await engine?.release();
  if (left) expect(left).toEqual({ dockerdAlive: false, interfaces: [], iptablesChains: [], ipForwardChanged: false, mounts: [] });
}, SETUP);

describe('withBackend aws, against moto through testcontainers', () => {
  it('the moto peer took the testcontainers path', () => {
    expect(moto.kind).toMatch(/^moto \(testcontainers, agent-secret-store\/moto-peer:/);
  });

  it('a secret seeded through the module is stored in the AWS API under the prefix, and an agent reads it over MCP', async () => {
    const sdk = new SecretsManagerClient({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
    const listed = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [`${PREFIX}/`] }] }));
    const names = (listed.SecretList ?? []).map((s) => s.Name);
    // Can fail: with configFor() writing the file backend whatever withBackend says, moto holds nothing.
    expect(names).toEqual([`${PREFIX}/dev/payments/API_KEY`]);
    const stored = await sdk.send(new GetSecretValueCommand({ SecretId: `${PREFIX}/dev/payments/API_KEY` }));
    expect(stored.SecretString).toBe(VALUE);

    const client = new Client({ name: 'ci', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(ass!.getMcpUrl()), { requestInit: { headers: { 'x-agent-key': ass!.getAgentKey('ci') } } }));
    const read = await client.callTool({ name: 'get_secret', arguments: { namespace: 'dev/payments', key: 'API_KEY' } });
    expect(read.structuredContent).toMatchObject({ value: VALUE });
    const list = await client.callTool({ name: 'list_secrets', arguments: { namespace: 'dev/payments' } });
    expect(JSON.stringify(list)).toContain('API_KEY');
    expect(JSON.stringify(list)).not.toContain(VALUE);
    await client.close();
  }, 120_000);

  it('the AWS credentials are in the container environment only: not in its config file, not in its logs', async () => {
    const config = await ass!.exec(['cat', '/data/config.yaml']);
    expect(config.exitCode).toBe(0);
    expect(config.output).toContain('"type": "aws"');
    expect(config.output).toContain(moto.endpoint);
    expect(config.output).not.toContain(moto.credentials.secretAccessKey);
    expect(config.output).not.toContain(moto.credentials.accessKeyId);
    const logs = (await engine.docker(['logs', ass!.getId()])).stdout + (await engine.docker(['logs', ass!.getId()])).stderr;
    for (const secret of [moto.credentials.secretAccessKey, VALUE, ass!.getAdminKey(), ass!.getAgentKey('ci')]) expect(logs).not.toContain(secret);
  }, 120_000);
});
