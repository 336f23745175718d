/**
 * The AWS SDK's Node-version notice (`NodeVersionSupportWarning`, printed on Node < 22 by every
 * process that builds a client) is not shown by the server or the CLI: the package pins an SDK
 * version that supports the Node versions it declares, so the notice is noise in every MCP
 * session's log and after every command (docs/aws.md says why). Real processes against moto.
 * What must still hold: a user who sets the SDK's own switch to `false` sees it, any other
 * warning still reaches stderr, and the switch does not leak into the process's environment.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAwsPeer, MOTO_INSTALL_HINT, type AwsPeer } from '../helpers/aws-peer.js';
import { admin, connectAgent, initHome, ok, removeHome, runCli, type Home } from '../helpers/cli.js';
import { SDK_NODE_WARNING_SWITCH, withoutSdkNodeWarning } from '../../src/adapters/aws/sdk-node-warning.js';

const NOTICE = /NodeVersionSupportWarning|The AWS SDK for JavaScript \(v3\)/;
/** The SDK prints its notice only below this Node major (the SDK's own threshold). */
const SDK_WANTS_NODE = 22;
const nodeMajor = Number(process.versions.node.split('.')[0]);

let peer: AwsPeer | undefined;
let home: Home | undefined;
let env: Record<string, string> = {};
const temp = mkdtempSync(path.join(tmpdir(), 'ass-aws-warning-'));

beforeAll(async () => {
  const started = await startAwsPeer();
  if ('skipReason' in started) {
    if (process.env.ASS_ALLOW_MISSING_PEERS === '1') return void console.warn(`SKIPPED (ASS_ALLOW_MISSING_PEERS=1): ${started.skipReason}`);
    throw new Error(`${started.skipReason}\nRun ${MOTO_INSTALL_HINT} (npm test does), or set ASS_ALLOW_MISSING_PEERS=1 to skip.`);
  }
  peer = started;
  env = { AWS_ACCESS_KEY_ID: peer.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: peer.credentials.secretAccessKey, AWS_REGION: peer.region };
  home = await initHome({ backend: { type: 'aws', region: peer.region, endpoint: peer.endpoint, prefix: `warn${randomBytes(3).toString('hex')}` } });
  home.env = env;
}, 120_000);

afterAll(async () => {
  removeHome(home);
  await peer?.stop();
  rmSync(temp, { recursive: true, force: true });
});

describe("the AWS SDK's Node-version notice", () => {
  it('a stdio server and CLI commands on the AWS backend print no SDK notice', async () => {
    if (!home) return;
    const set = await admin(home, ['secrets', 'set', 'ops', 'TOKEN'], { input: 'v1' });
    expect(set.code, set.stderr).toBe(0);
    const listed = await admin(home, ['secrets', 'list', 'ops']);
    expect(listed.code, listed.stderr).toBe(0);
    const agent = await connectAgent(home.configPath, home.agentKey, { env });
    try {
      expect((await ok(agent.client, 'get_secret', { namespace: 'ops', key: 'TOKEN' })).value).toBe('v1');
      for (const stderr of [set.stderr, listed.stderr, agent.stderr()]) expect(stderr).not.toMatch(NOTICE);
    } finally {
      await agent.close();
    }
  }, 120_000);

  it("the user's own choice stands: with the SDK's switch set to false the notice is shown (on Node < 22), once", async () => {
    if (!home) return;
    const listed = await runCli(['--config', home.configPath, 'secrets', 'list', 'ops'], { env: { ...env, ASS_ADMIN_KEY: home.adminKey, [SDK_NODE_WARNING_SWITCH]: 'false' } });
    expect(listed.code, listed.stderr).toBe(0);
    if (nodeMajor < SDK_WANTS_NODE) expect(listed.stderr.match(/NodeVersionSupportWarning/g) ?? []).toHaveLength(1);
    else expect(listed.stderr).not.toMatch(NOTICE);
  }, 60_000);

  it('other warnings still reach stderr', async () => {
    if (!home) return;
    // A preload that emits a warning of its own once the command is done with the SDK.
    const preload = path.join(temp, 'canary-warning.cjs');
    writeFileSync(preload, "process.once('beforeExit', () => process.emitWarning('canary warning from the test', 'CanaryWarning'));\n");
    const listed = await runCli(['--config', home.configPath, 'secrets', 'list', 'ops'], { env: { ...env, ASS_ADMIN_KEY: home.adminKey, NODE_OPTIONS: `--require ${preload}` } });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toMatch(/CanaryWarning: canary warning from the test/);
    expect(listed.stderr).not.toMatch(NOTICE);
  }, 60_000);
});

describe('withoutSdkNodeWarning', () => {
  it('sets the switch only while the client is built, and keeps a value the user set', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(withoutSdkNodeWarning(() => env[SDK_NODE_WARNING_SWITCH], env)).toBe('true');
    expect(SDK_NODE_WARNING_SWITCH in env).toBe(false);
    expect(() => withoutSdkNodeWarning(() => { throw new Error('boom'); }, env)).toThrow('boom');
    expect(SDK_NODE_WARNING_SWITCH in env).toBe(false);
    const chosen: NodeJS.ProcessEnv = { [SDK_NODE_WARNING_SWITCH]: 'false' };
    expect(withoutSdkNodeWarning(() => chosen[SDK_NODE_WARNING_SWITCH], chosen)).toBe('false');
    expect(chosen[SDK_NODE_WARNING_SWITCH]).toBe('false');
  });
});
