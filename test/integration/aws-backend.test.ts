/**
 * The AWS Secrets Manager adapter against an emulator of the AWS API, moto's server (not AWS
 * itself): through testcontainers from an image built here when a Docker engine answers or
 * ASS_AWS_PEER=testcontainers, otherwise on loopback from `scripts/peers/install-moto.sh`
 * (test/helpers/aws-peer.ts; a `[aws-peer] path:` line says which): the shared
 * backend contract plus AWS-specific behaviour. Peer-free cases (naming, tags, retries on a
 * fake client) run always.
 *
 * A missing peer fails this file, naming the install script, unless ASS_ALLOW_MISSING_PEERS=1.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, describe, expect, it } from 'vitest';
import { createAwsBackend, type AwsBackendConfigInput, type AwsSecretsClient } from '../../src/adapters/aws/index.js';
import { AwsBackendConfigSchema } from '../../src/adapters/aws/index.js';
import { secretName } from '../../src/adapters/aws/naming.js';
import { decodeTags, encodeTags } from '../../src/adapters/aws/tags.js';
import { foreignVersionNumber, makeVersionId, parseVersionId } from '../../src/adapters/aws/version-id.js';
import type { SecretBackend } from '../../src/adapters/backend.js';
import type { AssError } from '../../src/shared/errors.js';
import { runBackendContract } from '../contract/backend-contract.js';
import { MOTO_INSTALL_HINT, startAwsPeer, type AwsPeer } from '../helpers/aws-peer.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { caught, write } from '../helpers/backend-fixtures.js';

const noSleep = async () => undefined;


/** An error shaped like the SDK's service exceptions (name, $fault, $metadata). */
function awsError(name: string, status: number, message: string, requestId = randomBytes(8).toString('hex')): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, requestId, attempts: 1 },
  });
}

/** Records every command name sent through it and can replace responses. */
function recording(inner: AwsSecretsClient, intercept?: (name: string, command: unknown, call: number) => unknown) {
  const names: string[] = [];
  let calls = 0;
  const client = {
    send: async (command: unknown) => {
      const name = (command as object).constructor.name;
      names.push(name);
      calls += 1;
      const replaced = intercept?.(name, command, calls);
      if (replaced instanceof Error) throw replaced;
      return await (inner.send as (c: unknown) => Promise<unknown>)(command);
    },
  } as AwsSecretsClient;
  return { client, names };
}

describe('aws adapter without a peer', () => {
  it('checks names against AWS rules before any request', () => {
    expect(secretName('p', 'prod/stripe', 'KEY')).toBe('p/prod/stripe/KEY');
    for (const [ns, key] of [
      ['prod', 'bad key'],
      ['prod', 'a/b'],
      ['prod/', 'K'],
      ['', 'K'],
      ['prod', 'API-SECRET'], // ends like the generated "-XXXXXX" ARN suffix
      ['prod', 'ключ'],
      ['x'.repeat(520), 'K'],
    ] as const) {
      expect(() => secretName('p', ns, key), `${ns}/${key}`).toThrowError(/./);
      try {
        secretName('p', ns, key);
      } catch (error) {
        expect((error as AssError).code).toBe('INVALID_ARGUMENT');
      }
    }
    expect(() => secretName('p', 'prod', 'API-SECRET')).toThrow(/-XXXXXX/);
    expect(secretName('p', 'prod', 'API-SECRET1')).toBe('p/prod/API-SECRET1');
  });

  it('round-trips type, tier and metadata through tags, base64 where AWS tags cannot hold the text', () => {
    const metadata = { team: 'ml', 'owner email': 'a@example.com', note: 'ünïcode ✓', empty: '', 'k✓': 'b64:literal' };
    const tags = encodeTags({ secret_type: 'oauth_token', access_tier: 'critical', metadata });
    for (const tag of tags) {
      expect(tag.Key).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u);
      expect(tag.Value).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u);
    }
    expect(decodeTags(tags)).toEqual({ secret_type: 'oauth_token', access_tier: 'critical', metadata });
    expect(decodeTags(undefined)).toEqual({ secret_type: 'custom', access_tier: null, metadata: {} });
    // Security: an unreadable tier tag fails closed.
    expect(decodeTags([{ Key: 'ass:access_tier', Value: 'Standard ' }]).access_tier).toBe('critical');
  });

  it('encodes the version number in the VersionId and numbers foreign versions after ours', () => {
    const id = makeVersionId(42, new Date(1_700_000_000_000));
    expect(id.length).toBeGreaterThanOrEqual(32);
    expect(id.length).toBeLessThanOrEqual(64);
    expect(parseVersionId(id)).toEqual({ version: 42, writtenAt: new Date(1_700_000_000_000) });
    expect(parseVersionId('0b6a1d1e-8c55-4f0e-9d1c-1f2e3d4c5b6a')).toBeNull();
    const t = (s: number) => new Date(s * 1000);
    const ours = makeVersionId(3, t(10));
    expect(foreignVersionNumber('f1', [{ VersionId: 'f1', CreatedDate: t(1) }])).toBe(1);
    expect(
      foreignVersionNumber('f2', [
        { VersionId: ours, CreatedDate: t(10) },
        { VersionId: 'f1', CreatedDate: t(11) },
        { VersionId: 'f2', CreatedDate: t(12) },
      ]),
    ).toBe(5);
  });

  it('validates config strictly, apart from connecting', async () => {
    expect(AwsBackendConfigSchema.parse({ type: 'aws', region: 'eu-west-1' })).toEqual({
      type: 'aws',
      region: 'eu-west-1',
      prefix: 'agent-secret-store',
      recovery_window_days: 30,
      max_attempts: 4,
    });
    expect(AwsBackendConfigSchema.safeParse({ type: 'aws', region: 'eu-west-1', extra: 1 }).success).toBe(false);
    expect(AwsBackendConfigSchema.safeParse({ type: 'aws', recovery_window_days: 3 }).success).toBe(false);
    const error = await caught(createAwsBackend({ type: 'aws' }, {}));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/region/);
  });

  it('refuses values over 65,536 bytes and bad names before any request', async () => {
    const sent: string[] = [];
    const client = { send: async (c: unknown) => void sent.push((c as object).constructor.name) } as unknown as AwsSecretsClient;
    const backend = await createAwsBackend({ type: 'aws', region: 'us-east-1' }, {}, { client });
    expect((await caught(backend.put(write('ns', 'BIG', 'x'.repeat(65_537))))).code).toBe('VALUE_TOO_LARGE');
    expect((await caught(backend.put(write('ns', 'KEY-ABCDEF', 'v')))).code).toBe('INVALID_ARGUMENT');
    expect((await caught(backend.put(write('ns', 'K', 'v', { metadata: { ['m'.repeat(130)]: 'x' } })))).code).toBe('INVALID_ARGUMENT');
    expect(sent).toEqual([]);
  });

  it('AccessDenied is not retried and its message is scrubbed', async () => {
    let calls = 0;
    const leaky = awsError(
      'AccessDeniedException',
      400,
      'User: arn:aws:iam::123456789012:user/proxy is not authorized to perform: secretsmanager:DescribeSecret on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:agent-secret-store/ns/K-AbC123 (AKIAIOSFODNN7EXAMPLE) https://secretsmanager.us-east-1.amazonaws.com',
      'req-7f3c9a',
    );
    const client = {
      send: async () => {
        calls += 1;
        throw leaky;
      },
    } as unknown as AwsSecretsClient;
    const backend = await createAwsBackend({ type: 'aws', region: 'us-east-1', max_attempts: 5 }, {}, { client, sleep: noSleep });
    const error = await caught(backend.get('ns', 'K'));
    // A get sends DescribeSecret and GetSecretValue at once; each is tried once, never retried.
    expect(calls).toBe(2);
    expect(error.retryable).toBe(false);
    for (const leak of ['123456789012', 'arn:', 'AKIA', 'req-7f3c9a', 'amazonaws.com', 'User:']) {
      expect(error.message).not.toContain(leak);
      expect(JSON.stringify(error.details)).not.toContain(leak);
    }
    expect(error.message).toMatch(/docs\/aws\.md/);
  });

  it('no credentials at all says what to set, not that AWS refused an identity', async () => {
    // What the SDK's default chain throws when no provider has credentials (a new user's first run).
    const missing = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const client = { send: async () => { throw missing; } } as unknown as AwsSecretsClient;
    const backend = await createAwsBackend({ type: 'aws', region: 'us-east-1', max_attempts: 5 }, {}, { client, sleep: noSleep });
    const error = await caught(backend.get('ns', 'K'));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/found no AWS credentials \(CredentialsProviderError\)\. Give it an identity through the standard AWS chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE/);
    expect(error.message).not.toMatch(/refused|grant the proxy/);
  });
});

const peer = await startAwsPeer();

if ('skipReason' in peer) {
  describeMissingPeer('aws backend against an emulator of the AWS API', peer.skipReason, MOTO_INSTALL_HINT);
} else {
  peerSuites(peer);
}

function peerSuites(p: AwsPeer): void {
  afterAll(async () => {
    await p.stop();
  });
  const raw = new SecretsManagerClient({ region: p.region, endpoint: p.endpoint, credentials: p.credentials });
  const env = { AWS_ACCESS_KEY_ID: p.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: p.credentials.secretAccessKey };
  const config = (prefix: string, extra: Partial<AwsBackendConfigInput> = {}): AwsBackendConfigInput => ({
    type: 'aws',
    region: p.region,
    endpoint: p.endpoint,
    prefix,
    recovery_window_days: 7,
    ...extra,
  });
  const newPrefix = () => `ass-it-${randomBytes(4).toString('hex')}`;

  /** Force-deletes everything under a prefix with the raw SDK. */
  async function purge(prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const out = await raw.send(
        new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [`${prefix}/`] }], IncludePlannedDeletion: true, NextToken: token }),
      );
      for (const s of out.SecretList ?? []) await raw.send(new DeleteSecretCommand({ SecretId: s.ARN, ForceDeleteWithoutRecovery: true }));
      token = out.NextToken;
    } while (token);
  }

  runBackendContract(`aws backend (${p.kind})`, async () => {
    const prefix = newPrefix();
    const backend = await createAwsBackend(config(prefix), env);
    return { backend, cleanup: () => purge(prefix) };
  });

  describe(`aws backend specifics (${p.kind})`, () => {
    const prefix = newPrefix();
    const backends: SecretBackend[] = [];
    const make = async (extra: Partial<AwsBackendConfigInput> = {}, deps = {}) => {
      const backend = await createAwsBackend(config(prefix, extra), env, deps);
      backends.push(backend);
      return backend;
    };
    afterAll(async () => {
      for (const backend of backends) await backend.close();
      await purge(prefix);
      raw.destroy();
    });

    it('serves a secret created outside the proxy (no tags) with tier null and type custom', async () => {
      const b = await make();
      await raw.send(new CreateSecretCommand({ Name: `${prefix}/legacy/db/DB_PASSWORD`, SecretString: 'legacy-pw' }));
      const got = await b.get('legacy/db', 'DB_PASSWORD');
      expect(got).toMatchObject({ value: 'legacy-pw', version: 1, access_tier: null, secret_type: 'custom', metadata: {} });
      expect(got?.id).toMatch(/^arn:aws:secretsmanager:/);
      const [listed] = await b.list('legacy/db');
      expect(listed).toMatchObject({ key: 'DB_PASSWORD', version: 1, access_tier: null, secret_type: 'custom' });
      expect(await b.listNamespaces()).toEqual(expect.arrayContaining(['legacy', 'legacy/db']));
      // The proxy's next write numbers on from the foreign version and adds its tags.
      const next = await b.put(write('legacy/db', 'DB_PASSWORD', 'rotated', { access_tier: 'critical' }));
      expect(next.version).toBe(2);
      expect(await b.get('legacy/db', 'DB_PASSWORD')).toMatchObject({ value: 'rotated', version: 2, access_tier: 'critical' });
    });

    it('AWSCURRENT holds the new value and AWSPREVIOUS the old one, as AWS documents', async () => {
      const b = await make();
      await b.put(write('stages', 'K', 'first'));
      await b.put(write('stages', 'K', 'second'));
      const name = `${prefix}/stages/K`;
      const current = await raw.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
      const previous = await raw.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
      expect(current.SecretString).toBe('second');
      expect(previous.SecretString).toBe('first');
      expect(parseVersionId(current.VersionId)?.version).toBe(2);
      expect(parseVersionId(previous.VersionId)?.version).toBe(1);
      const described = await raw.send(new DescribeSecretCommand({ SecretId: name }));
      const labels = Object.values(described.VersionIdsToStages ?? {}).flat();
      expect(labels.filter((l) => l === 'AWSCURRENT')).toHaveLength(1);
      expect(labels).not.toContain('ass-pending');
    });

    it('a retried PutSecretValue (same ClientRequestToken) makes no second version', async () => {
      // Fake of a lost response: the first PutSecretValue reaches AWS, then the answer is
      // replaced by a transient 500, so our retry layer re-sends the identical command.
      let failedOnce = false;
      const { client, names } = recording(raw, () => undefined);
      const lossy = {
        send: async (command: unknown) => {
          const result = await client.send(command as never);
          if (command instanceof PutSecretValueCommand && !failedOnce) {
            failedOnce = true;
            throw awsError('InternalServiceError', 500, 'connection reset after commit');
          }
          return result;
        },
      } as AwsSecretsClient;
      const b = await make({}, { client: lossy, sleep: noSleep });
      await b.put(write('retry', 'K', 'one'));
      const second = await b.put(write('retry', 'K', 'two'));
      expect(names.filter((n) => n === 'PutSecretValueCommand')).toHaveLength(2);
      expect(second.version).toBe(2);
      const versions = await raw.send(new ListSecretVersionIdsCommand({ SecretId: `${prefix}/retry/K`, IncludeDeprecated: true }));
      expect(versions.Versions).toHaveLength(2);
      // And re-sending that exact request by hand still adds nothing.
      const token = versions.Versions?.map((v) => v.VersionId ?? '').find((id) => parseVersionId(id)?.version === 2);
      await raw.send(new PutSecretValueCommand({ SecretId: `${prefix}/retry/K`, SecretString: 'two', ClientRequestToken: token, VersionStages: ['ass-pending'] }));
      const after = await raw.send(new ListSecretVersionIdsCommand({ SecretId: `${prefix}/retry/K`, IncludeDeprecated: true }));
      expect(after.Versions).toHaveLength(2);
      expect(await b.get('retry', 'K')).toMatchObject({ value: 'two', version: 2 });
    });

    it('two processes writing the same secret agree on version numbers; check-and-set holds across them', async () => {
      const a = await make();
      const c = await make();
      expect((await a.put(write('two', 'K', 'a1'))).version).toBe(1);
      expect((await c.put(write('two', 'K', 'c2'))).version).toBe(2);
      expect(await a.get('two', 'K')).toMatchObject({ value: 'c2', version: 2 });
      await a.put(write('two', 'K', 'a3'), { expectedVersion: 2 });
      expect((await caught(c.put(write('two', 'K', 'c-stale'), { expectedVersion: 2 }))).code).toBe('CONFLICT');
      const racers = await Promise.all([a, c, a, c].map((b, i) => b.put(write('two', 'K', `r${i}`))));
      expect(racers.map((r) => r.version).sort()).toEqual([4, 5, 6, 7]);
      expect((await c.get('two', 'K'))?.version).toBe(7);
    });

    it('delete uses the recovery window; a write on the reserved name is refused; force purges', async () => {
      const b = await make();
      await b.put(write('del', 'K', 'v'));
      expect(await b.delete('del', 'K')).toBe(true);
      const described = await raw.send(new DescribeSecretCommand({ SecretId: `${prefix}/del/K` }));
      expect(described.DeletedDate).toBeInstanceOf(Date);
      expect(await b.get('del', 'K')).toBeNull();
      expect(await b.list('del')).toEqual([]);
      const refused = await caught(b.put(write('del', 'K', 'again')));
      expect(refused.code).toBe('CONFLICT');
      expect(refused.details).toMatchObject({ reason: 'scheduled_for_deletion' });
      expect(refused.message).toMatch(/restore|forced delete/);
      expect(await b.delete('del', 'K')).toBe(false);
      // The human's forced delete purges the scheduled secret; nothing live was there.
      expect(await b.delete('del', 'K', { force: true })).toBe(false);
      await expect(raw.send(new DescribeSecretCommand({ SecretId: `${prefix}/del/K` }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      expect((await b.put(write('del', 'K', 'fresh'))).version).toBe(1);
      expect(await b.delete('del', 'K', { force: true })).toBe(true);
      await expect(raw.send(new DescribeSecretCommand({ SecretId: `${prefix}/del/K` }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    });

    it('list and listNamespaces never read a value (no GetSecretValue)', async () => {
      const { client, names } = recording(raw);
      const b = await make({}, { client });
      await b.put(write('listing/a', 'K1', 'v'));
      await b.put(write('listing/a', 'K2', 'v'));
      await raw.send(new CreateSecretCommand({ Name: `${prefix}/listing/a/FOREIGN`, SecretString: 'x' }));
      names.length = 0;
      expect((await b.list('listing/a')).map((s) => s.key)).toEqual(['FOREIGN', 'K1', 'K2']);
      expect(await b.listNamespaces()).toEqual(expect.arrayContaining(['listing', 'listing/a']));
      expect(names).not.toContain('GetSecretValueCommand');
      expect(names).toContain('ListSecretsCommand');
    });

    it('a get is one round trip: DescribeSecret and an unpinned GetSecretValue at once', async () => {
      const b0 = await make();
      await b0.put(write('onetrip', 'K', 'v1'));
      await b0.put(write('onetrip', 'K', 'v2'));
      const { client, names } = recording(raw);
      const b = await make({}, { client });
      expect(await b.get('onetrip', 'K')).toMatchObject({ value: 'v2', version: 2, access_tier: 'sensitive' });
      expect([...names].sort(), JSON.stringify(names)).toEqual(['DescribeSecretCommand', 'GetSecretValueCommand']);
    });

    it('a write between the two requests of a get: the value is read again, pinned to the version the tags belong to', async () => {
      const writer = await make();
      await writer.put(write('race', 'K', 'v1-standard', { access_tier: 'standard' }));
      let describedDone!: () => void;
      const described = new Promise<void>((resolve) => (describedDone = resolve));
      let raced = false;
      const sent: string[] = [];
      const client = {
        send: async (command: { constructor: { name: string }; input: { VersionId?: string } }) => {
          const name = command.constructor.name;
          sent.push(`${name}${command.input.VersionId ? ' (pinned)' : ''}`);
          const forward = () => (raw.send as (c: unknown) => Promise<unknown>)(command);
          if (name === 'DescribeSecretCommand' && !raced) {
            const out = await forward();
            describedDone();
            return out;
          }
          if (name === 'GetSecretValueCommand' && !command.input.VersionId && !raced) {
            // Another tool raises the tier and writes a new value after Describe answered.
            raced = true;
            await described;
            await writer.put(write('race', 'K', 'v2-critical', { access_tier: 'critical' }));
          }
          return forward();
        },
      } as unknown as AwsSecretsClient;
      const b = await make({}, { client });
      // The tags Describe saw say standard and version 1: the value served is version 1's.
      expect(await b.get('race', 'K')).toMatchObject({ value: 'v1-standard', version: 1, access_tier: 'standard' });
      expect(sent, JSON.stringify(sent)).toContain('GetSecretValueCommand (pinned)');
      // The next read sees the new version with its tier.
      expect(await b.get('race', 'K')).toMatchObject({ value: 'v2-critical', version: 2, access_tier: 'critical' });
    });

    it('retries ThrottlingException with jittered backoff (fake throttling: moto cannot throttle)', async () => {
      // A fake of AWS's throttling in front of the emulator: the first two requests fail.
      const sleeps: number[] = [];
      const { client, names } = recording(raw, (_name, _c, call) =>
        call <= 2 ? awsError('ThrottlingException', 400, 'Rate exceeded for arn:aws:secretsmanager:us-east-1:123456789012:secret:x') : undefined,
      );
      const b = await make({ max_attempts: 4 }, { client, sleep: async (ms: number) => void sleeps.push(ms), random: () => 0.5 });
      await b.put(write('throttle', 'K', 'v'));
      expect(names.slice(0, 3)).toEqual(['DescribeSecretCommand', 'DescribeSecretCommand', 'DescribeSecretCommand']);
      expect(sleeps).toHaveLength(2);
      expect(sleeps[1]!).toBeGreaterThan(sleeps[0]!);
      expect(await b.get('throttle', 'K')).toMatchObject({ value: 'v', version: 1 });

      // Bounded: with throttling that never ends, max_attempts requests then BACKEND_UNAVAILABLE.
      const always = recording(raw, () => awsError('ThrottlingException', 400, 'Rate exceeded'));
      const stuck = await make({ max_attempts: 3 }, { client: always.client, sleep: noSleep });
      const error = await caught(stuck.get('throttle', 'K'));
      expect(error.code).toBe('BACKEND_UNAVAILABLE');
      // DescribeSecret tried max_attempts times; the optimistic unpinned GetSecretValue once (it
      // only saves a round trip, so it adds no retries under throttling); then no more.
      expect([...always.names].sort()).toEqual(['DescribeSecretCommand', 'DescribeSecretCommand', 'DescribeSecretCommand', 'GetSecretValueCommand']);
    });

    it('vendor errors from the AWS API emulator are mapped and scrubbed', async () => {
      const name = `${prefix}/scrub/K`;
      await raw.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: makeVersionId(1, new Date()) }));
      const described = await raw.send(new DescribeSecretCommand({ SecretId: name }));
      const token = Object.keys(described.VersionIdsToStages ?? {})[0];
      // A real vendor error whose message names the ARN (with account id).
      const real = await raw
        .send(new PutSecretValueCommand({ SecretId: name, SecretString: 'different', ClientRequestToken: token }))
        .then(() => undefined, (e: unknown) => e as Error & { $metadata?: { requestId?: string } });
      expect(real?.message).toContain('arn:aws:secretsmanager');
      const { client } = recording(raw, (n) => (n === 'GetSecretValueCommand' ? real : undefined));
      const b = await make({}, { client, sleep: noSleep });
      const error = await caught(b.get('scrub', 'K'));
      const shown = `${error.message} ${JSON.stringify(error.details)}`;
      for (const leak of ['arn:', described.ARN!.split(':')[4]!, new URL(p.endpoint).host, p.credentials.accessKeyId, 'different', 'v1']) {
        expect(shown).not.toContain(leak);
      }
      // The request id the emulator sent must not be passed on either.
      const requestId = real?.$metadata?.requestId;
      expect(requestId).toMatch(/\S{8,}/);
      expect(shown).not.toContain(requestId);
      expect(error.code).toBe('CONFLICT');
    });

    it('health reports ok and a short detail without the endpoint', async () => {
      const b = await make();
      const health = await b.health();
      expect(health.ok).toBe(true);
      expect(health.detail).not.toContain(new URL(p.endpoint).host);
    });
  });
}
