/**
 * An emulator of the AWS Secrets Manager API on loopback for integration tests (not AWS itself:
 * what the emulators do not reproduce, such as throttling, is faked in the tests and named so).
 *
 * - LocalStack through testcontainers, only when a Docker engine answers a ping quickly;
 * - otherwise moto's server from the venv `scripts/peers/install-moto.sh` installs (cached
 *   outside the repo under `$ASS_PEERS_CACHE` or `~/.cache/agent-secret-store/peers`);
 * - neither: `{ skipReason }` naming the install script.
 *
 * Credentials are random per run: both peers accept any, and nothing real is ever used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dockerReachable, freePort, peersCacheDir } from './peer-common.js';

export interface AwsPeer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** 'moto' or 'localstack', for messages. */
  kind: string;
  stop(): Promise<void>;
}

export const MOTO_INSTALL_HINT = 'bash scripts/peers/install-moto.sh';
const LOCALSTACK_IMAGE = process.env.ASS_LOCALSTACK_IMAGE ?? 'localstack/localstack:3.8.1';
const REGION = 'us-east-1';

function randomCredentials(): AwsPeer['credentials'] {
  return {
    accessKeyId: `ASIATEST${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(20).toString('base64url'),
  };
}



async function waitForHttp(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode} before answering`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`moto_server did not answer at ${url} within ${deadlineMs} ms`);
}

async function startMoto(env: Record<string, string> = {}): Promise<AwsPeer | { skipReason: string }> {
  const bin = join(peersCacheDir(), 'moto-venv', 'bin', 'moto_server');
  if (!existsSync(bin)) {
    return {
      skipReason: `AWS peer missing: no Docker engine for LocalStack and no moto server at ${bin}. Install it with: ${MOTO_INSTALL_HINT}`,
    };
  }
  const port = await freePort();
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForHttp(`${endpoint}/moto-api/`, child, 20_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return { endpoint, region: REGION, credentials: randomCredentials(), kind: 'moto', stop };
}

async function startLocalStack(): Promise<AwsPeer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(LOCALSTACK_IMAGE)
    .withEnvironment({ SERVICES: 'secretsmanager' })
    .withExposedPorts(4566)
    .withWaitStrategy(Wait.forHttp('/_localstack/health', 4566).forStatusCode(200))
    .withStartupTimeout(120_000)
    .start();
  return {
    endpoint: `http://${container.getHost()}:${container.getMappedPort(4566)}`,
    region: REGION,
    credentials: randomCredentials(),
    kind: 'localstack',
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * Starts a peer, or says why none can run. LocalStack is used only when Docker answers; a
 * failure to start moto once installed is thrown (a broken peer is not a missing one).
 */
export async function startAwsPeer(): Promise<AwsPeer | { skipReason: string }> {
  if (await dockerReachable()) return await startLocalStack();
  return await startMoto();
}

export interface IamMotoPeer extends AwsPeer {
  /** The operator's own credentials (allowed everything): what a human with IAM rights holds. */
  operator: AwsPeer['credentials'];
  /** Gives the proxy's IAM user an inline policy allowing these Secrets Manager actions. */
  grantProxy(actions: string[]): Promise<void>;
}

/** Runs Python with boto3 (the moto venv has it: moto depends on it) against moto's IAM API. */
function boto(script: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const python = join(peersCacheDir(), 'moto-venv', 'bin', 'python');
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`boto3 script failed (${code}): ${err.slice(-1500)}`))));
  });
}

const BOOTSTRAP = `
import boto3, json, sys
ep, region = sys.argv[1], sys.argv[2]
def iam(key, secret):
    return boto3.client('iam', endpoint_url=ep, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret)
boot = iam('bootstrap', 'bootstrap')
# The three requests moto lets through before it enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT=3).
boot.create_user(UserName='operator')
op = boot.create_access_key(UserName='operator')['AccessKey']
boot.put_user_policy(UserName='operator', PolicyName='all', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))
operator = iam(op['AccessKeyId'], op['SecretAccessKey'])
operator.create_user(UserName='proxy')
proxy = operator.create_access_key(UserName='proxy')['AccessKey']
print(json.dumps({'operator': [op['AccessKeyId'], op['SecretAccessKey']], 'proxy': [proxy['AccessKeyId'], proxy['SecretAccessKey']]}))
`;

const GRANT = `
import boto3, json, os, sys
ep, region, actions = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
iam = boto3.client('iam', endpoint_url=ep, region_name=region, aws_access_key_id=os.environ['OP_KEY'], aws_secret_access_key=os.environ['OP_SECRET'])
iam.put_user_policy(UserName='proxy', PolicyName='secrets', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': actions, 'Resource': '*'}]}))
`;

/**
 * moto's server with IAM-like access control on ("IAM-like Access Control" in moto's docs):
 * after three bootstrap requests it checks every request's signature against the access keys
 * it issued and the caller's IAM policies. Bootstrapped here through its IAM API with boto3:
 * an operator allowed everything, and a `proxy` user with an access key and no policy yet
 * (`credentials`), which `grantProxy` then allows. Never LocalStack (whose free edition does
 * not enforce IAM).
 */
export async function startMotoWithIam(): Promise<IamMotoPeer | { skipReason: string }> {
  const peer = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '3' });
  if ('skipReason' in peer) return peer;
  try {
    const keys = JSON.parse(await boto(BOOTSTRAP, [peer.endpoint, peer.region])) as { operator: [string, string]; proxy: [string, string] };
    const operator = { accessKeyId: keys.operator[0], secretAccessKey: keys.operator[1] };
    return {
      ...peer,
      credentials: { accessKeyId: keys.proxy[0], secretAccessKey: keys.proxy[1] },
      operator,
      grantProxy: async (actions) => {
        await boto(GRANT, [peer.endpoint, peer.region, actions.join(',')], { OP_KEY: operator.accessKeyId, OP_SECRET: operator.secretAccessKey });
      },
    };
  } catch (error) {
    await peer.stop();
    throw error;
  }
}
