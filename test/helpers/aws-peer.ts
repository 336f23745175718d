/**
 * An emulator of the AWS Secrets Manager API for integration tests (not AWS itself: what the
 * emulator does not reproduce, such as throttling, is faked in the tests and named so). moto's
 * server, on one of two paths (a `[aws-peer] path:` line on stderr and `kind` say which):
 *
 * - testcontainers: when an engine the user pointed at answers, or with
 *   `ASS_AWS_PEER=testcontainers` (then the tests' own engine, test/helpers/docker-engine.ts),
 *   from the image scripts/docker/build-moto-image.sh builds here out of the moto venv below
 *   (no registry is reachable);
 * - otherwise, and with `ASS_AWS_PEER=local`, the fallback: moto's server from the venv
 *   `scripts/peers/install-moto.sh` installs (cached outside the repo under `$ASS_PEERS_CACHE`
 *   or `~/.cache/agent-secret-store/peers`) on loopback;
 * - neither: `{ skipReason }` naming the install script.
 * The tests' own engine is not started unasked: the AWS suites are many and run often.
 *
 * Credentials are random per run: moto accepts any, and nothing real is ever used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildPeerImage, containerEngine, startPeerContainer } from './container-peer.js';
import { freePort, peersCacheDir } from './peer-common.js';

export interface AwsPeer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** 'moto' (loopback) or 'moto (testcontainers, <image>)', for messages. */
  kind: string;
  stop(): Promise<void>;
}

export const MOTO_INSTALL_HINT = 'bash scripts/peers/install-moto.sh';
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
      skipReason: `AWS peer missing: no moto server at ${bin}. Install it with: ${MOTO_INSTALL_HINT}`,
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

/** moto's server in the image built from the venv, through testcontainers; undefined when no engine. */
async function startMotoContainer(forced: boolean): Promise<AwsPeer | undefined> {
  const engine = await containerEngine({ startOwn: forced });
  if (!engine) {
    if (forced) throw new Error('ASS_AWS_PEER=testcontainers, but no Docker engine answers and dockerd is not installed (run `bash scripts/peers/install-docker.sh`)');
    return undefined;
  }
  if (!existsSync(join(peersCacheDir(), 'moto-venv', 'bin', 'python'))) {
    await engine.release();
    throw new Error(`the moto image is built from the moto venv, which is missing. Install it with: ${MOTO_INSTALL_HINT}`);
  }
  let image: string;
  try {
    image = await buildPeerImage(engine, 'build-moto-image.sh');
  } catch (error) {
    await engine.release();
    throw error;
  }
  const container = await startPeerContainer(engine, {
    image,
    namePrefix: 'ass-moto-peer',
    containerPort: 5000,
    listen: (host, port) => ({ MOTO_HOST: host, MOTO_PORT: String(port) }),
    wait: /Running on /,
  });
  const endpoint = `http://${container.host}:${container.port}`;
  // The log line comes as the socket opens; the API answers a moment later on a loaded machine.
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline) {
      await container.stop();
      throw new Error(`moto in ${image} did not answer at ${endpoint}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { endpoint, region: REGION, credentials: randomCredentials(), kind: `moto (testcontainers, ${image}, ${engine.kind} engine)`, stop: container.stop };
}

/**
 * Starts a peer, or says why none can run: moto through testcontainers when an engine answers
 * (or ASS_AWS_PEER=testcontainers, which fails rather than fall back), else moto on loopback.
 * A failure to start moto once installed is thrown (a broken peer is not a missing one).
 */
export async function startAwsPeer(): Promise<AwsPeer | { skipReason: string }> {
  const forced = process.env.ASS_AWS_PEER;
  if (forced !== 'local') {
    const peer = await startMotoContainer(forced === 'testcontainers');
    if (peer) {
      console.warn(`[aws-peer] path: testcontainers (${peer.kind})`);
      return peer;
    }
  }
  const peer = await startMoto();
  if (!('skipReason' in peer)) console.warn('[aws-peer] path: loopback moto_server');
  return peer;
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
