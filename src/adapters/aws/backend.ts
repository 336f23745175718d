import { DeleteSecretCommand, GetSecretValueCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { AssError } from '../../shared/errors.js';
import { MAX_VALUE_BYTES, systemClock } from '../../shared/types.js';
import type { Clock, SecretRecord, SecretSummary, SecretWrite } from '../../shared/types.js';
import { summaryOfWrite, type BackendCapabilities, type BackendHealth, type DeleteOptions, type PutOptions, type SecretBackend } from '../backend.js';
import { isNotFound, mapAwsError, vendorFault } from './errors.js';
import { checkNamespace, parseSecretName, secretName } from './naming.js';
import type { AwsSecretsClient } from './retrying-client.js';
import { currentVersionId, describe, isoNotBefore, listByPrefix, versionInfo } from './store.js';
import { decodeTags, encodeTags } from './tags.js';
import { createSecret, appendVersion } from './writes.js';

export interface AwsBackendSettings {
  prefix: string;
  recoveryWindowDays: number;
  /** Region shown in health details (never the endpoint). */
  region: string;
  clock?: Clock;
  /**
   * The client without retries, for the optimistic unpinned read of `get`: it only saves a
   * round trip, so under throttling it should not add retries of its own. Default: the client.
   */
  singleAttempt?: AwsSecretsClient;
  /** Called by `close()`, e.g. to destroy an SDK client the factory created. */
  onClose?: () => void;
  /** Backoff between write rounds after losing a race (tests may pass a no-op). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * How often `put` without `expectedVersion` re-reads and retries after another writer moved
 * AWSCURRENT first. Each lost round costs one orphan (never current) version in AWS.
 */
const MAX_WRITE_ROUNDS = 40;
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * AWS Secrets Manager behind `SecretBackend`. Secret `<prefix>/<namespace>/<key>`, value in
 * `SecretString`, type/tier/metadata in tags, integer versions encoded in VersionIds
 * (version-id.ts), check-and-set on the AWSCURRENT label (writes.ts).
 */
export class AwsBackend implements SecretBackend {
  readonly kind = 'aws';
  readonly capabilities: BackendCapabilities = { versioning: true, checkAndSet: true, softDelete: true };
  private readonly clock: Clock;

  constructor(
    private readonly client: AwsSecretsClient,
    private readonly settings: AwsBackendSettings,
  ) {
    this.clock = settings.clock ?? systemClock;
  }

  async get(namespace: string, key: string): Promise<SecretRecord | null> {
    const name = secretName(this.settings.prefix, namespace, key);
    const what = `Reading '${key}' in '${namespace}'`;
    // Both requests at once (one round trip instead of two): DescribeSecret has the tags (tier,
    // type, metadata) and which version is current, GetSecretValue the current value. A value of
    // the version Describe calls current belongs with those tags, exactly as a read pinned to
    // that version would. If a write came between the two, the value is read again, pinned.
    // A failed unpinned read is never reported: the pinned read decides (and maps) errors.
    const [described, unpinned] = await Promise.all([
      describe(this.client, name, what),
      // The stage is named, not left to the default: moto's default does not follow a stage
      // moved by UpdateSecretVersionStage (the way our writes move AWSCURRENT); AWS's does.
      (this.settings.singleAttempt ?? this.client).send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' })).catch(() => undefined),
    ]);
    if (!described?.ARN || described.DeletedDate) return null;
    const versionId = currentVersionId(described.VersionIdsToStages);
    if (!versionId) return null;
    // Same secret (a name deleted and made again is another ARN) and the same version.
    let out = unpinned?.ARN === described.ARN && unpinned.VersionId === versionId ? unpinned : undefined;
    if (!out) {
      try {
        out = await this.client.send(new GetSecretValueCommand({ SecretId: described.ARN, VersionId: versionId }));
      } catch (error) {
        if (isNotFound(error) || vendorFault(error).name === 'InvalidRequestException') {
          // Deleted (or scheduled for deletion) between the two requests.
          const again = await describe(this.client, name, what);
          if (!again || again.DeletedDate) return null;
        }
        throw mapAwsError(error, what);
      }
    }
    if (out.SecretString === undefined) {
      throw new AssError('INVALID_ARGUMENT', `${what}: it holds binary data (SecretBinary); this proxy serves text values only.`);
    }
    const info = await versionInfo(this.client, described.ARN, versionId, what);
    const fields = decodeTags(described.Tags);
    const createdAt = isoNotBefore(described.CreatedDate, undefined);
    return {
      namespace,
      key,
      value: out.SecretString,
      version: info.version,
      ...fields,
      created_at: createdAt,
      updated_at: info.version === 1 ? createdAt : isoNotBefore(info.writtenAt ?? out.CreatedDate, described.CreatedDate),
      id: described.ARN,
    };
  }

  async put(write: SecretWrite, options: PutOptions = {}): Promise<SecretSummary> {
    // Checked before any request, with the same code every backend uses.
    const bytes = Buffer.byteLength(write.value, 'utf8');
    if (bytes > MAX_VALUE_BYTES) {
      throw new AssError('VALUE_TOO_LARGE', `The value is ${bytes} bytes; the limit is ${MAX_VALUE_BYTES} bytes (UTF-8).`, {
        max_bytes: MAX_VALUE_BYTES,
      });
    }
    const expected = options.expectedVersion;
    if (expected !== undefined && (!Number.isInteger(expected) || expected < 0)) {
      throw new AssError('INVALID_ARGUMENT', 'expectedVersion must be a non-negative integer.');
    }
    const name = secretName(this.settings.prefix, write.namespace, write.key);
    const tags = encodeTags(write);
    const what = `Writing '${write.key}' in '${write.namespace}'`;
    const conflict = (found: number) =>
      new AssError(
        'CONFLICT',
        `${what}: expected version ${expected} but the newest is ${found}. Read the secret again, then retry with that version.`,
        { expected_version: expected, current_version: found },
      );
    // One VersionId per version number for the whole logical write: a repeated round for the
    // same number re-sends the same token, and AWS makes no second version.
    const tokens = new Map<number, string>();
    for (let round = 0; round < MAX_WRITE_ROUNDS; round += 1) {
      if (round > 0) await this.backoff(round);
      const described = await describe(this.client, name, what);
      if (!described) {
        if (expected !== undefined && expected !== 0) throw conflict(0);
        const created = await createSecret(this.client, { name, write, tags, what, tokens, clock: this.clock });
        if (created) return this.summary(write, 1, created.arn, created.createdAt, created.createdAt);
        if (expected === 0) throw conflict(1);
        continue; // another writer created it first: append to theirs
      }
      if (described.DeletedDate) throw this.scheduledForDeletion(what, described.DeletedDate);
      const arn = described.ARN ?? name;
      const currentId = currentVersionId(described.VersionIdsToStages);
      const current = currentId ? (await versionInfo(this.client, arn, currentId, what)).version : 0;
      if (expected !== undefined && expected !== current) throw conflict(current);
      const appended = await appendVersion(this.client, {
        arn,
        name,
        write,
        tags,
        currentTags: described.Tags,
        currentId,
        version: current + 1,
        what,
        tokens,
        clock: this.clock,
      });
      if (appended) return this.summary(write, current + 1, arn, described.CreatedDate, appended.writtenAt);
      if (expected !== undefined) {
        const now = await describe(this.client, name, what);
        const id = currentVersionId(now?.VersionIdsToStages);
        throw conflict(id && now?.ARN ? (await versionInfo(this.client, now.ARN, id, what)).version : current);
      }
    }
    throw new AssError('CONFLICT', `${what}: other writers kept changing it. Read it again, then retry.`);
  }

  async list(namespace: string): Promise<SecretSummary[]> {
    checkNamespace(namespace);
    const what = `Listing '${namespace}'`;
    const entries = await listByPrefix(this.client, `${this.settings.prefix}/${namespace}/`, what);
    const out: SecretSummary[] = [];
    for (const entry of entries) {
      const parsed = entry.Name ? parseSecretName(this.settings.prefix, entry.Name) : null;
      // The name filter is a prefix match: keep only this exact namespace, not children.
      if (!parsed || parsed.namespace !== namespace || !entry.ARN || entry.DeletedDate) continue;
      const versionId = currentVersionId(entry.SecretVersionsToStages);
      if (!versionId) continue;
      const info = await versionInfo(this.client, entry.ARN, versionId, what);
      const createdAt = isoNotBefore(entry.CreatedDate, undefined);
      out.push({
        namespace,
        key: parsed.key,
        version: info.version,
        ...decodeTags(entry.Tags),
        created_at: createdAt,
        updated_at: info.version === 1 ? createdAt : isoNotBefore(info.writtenAt, entry.CreatedDate),
        id: entry.ARN,
      });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listNamespaces(): Promise<string[]> {
    const entries = await listByPrefix(this.client, `${this.settings.prefix}/`, 'Listing namespaces');
    const found = new Set<string>();
    for (const entry of entries) {
      const parsed = entry.Name ? parseSecretName(this.settings.prefix, entry.Name) : null;
      if (!parsed || entry.DeletedDate) continue;
      const segments = parsed.namespace.split('/');
      for (let i = 1; i <= segments.length; i += 1) found.add(segments.slice(0, i).join('/'));
    }
    return [...found].sort();
  }

  async delete(namespace: string, key: string, options: DeleteOptions = {}): Promise<boolean> {
    const name = secretName(this.settings.prefix, namespace, key);
    const what = `Deleting '${key}' in '${namespace}'`;
    const described = await describe(this.client, name, what);
    if (!described?.ARN) return false;
    // Already in its recovery window: nothing live is left (false), but a forced delete still
    // purges it, which is what the human asked for.
    const live = !described.DeletedDate;
    if (!live && !options.force) return false;
    try {
      await this.client.send(
        new DeleteSecretCommand(
          options.force
            ? { SecretId: described.ARN, ForceDeleteWithoutRecovery: true }
            : { SecretId: described.ARN, RecoveryWindowInDays: this.settings.recoveryWindowDays },
        ),
      );
      return live;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw mapAwsError(error, what);
    }
  }

  async health(): Promise<BackendHealth> {
    try {
      await this.client.send(
        new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [`${this.settings.prefix}/`] }], MaxResults: 1 }),
      );
      return { ok: true, detail: `AWS Secrets Manager reachable (region ${this.settings.region}).` };
    } catch (error) {
      return { ok: false, detail: mapAwsError(error, 'Health check').message };
    }
  }

  async close(): Promise<void> {
    this.settings.onClose?.();
  }

  /** Full-jitter backoff between write rounds, so racing writers spread out. */
  private async backoff(round: number): Promise<void> {
    const random = this.settings.random ?? Math.random;
    await (this.settings.sleep ?? defaultSleep)(Math.floor(random() * Math.min(1_000, 20 * 2 ** Math.min(round, 10))));
  }

  private summary(write: SecretWrite, version: number, arn: string, created: Date | undefined, writtenAt: Date): SecretSummary {
    const createdAt = isoNotBefore(created ?? writtenAt, undefined);
    return summaryOfWrite(write, { version, id: arn, created_at: createdAt, updated_at: version === 1 ? createdAt : isoNotBefore(writtenAt, created) });
  }


  /**
   * AWS keeps a deleted secret's name reserved until its recovery window ends. We refuse the
   * write rather than restore: a restore would bring back a secret a human chose to delete,
   * with its old tags and versions, on an agent's say-so.
   */
  private scheduledForDeletion(what: string, deletedAt: Date): AssError {
    return new AssError(
      'CONFLICT',
      `${what}: a secret of that name was deleted and is in AWS's recovery window (deletion date ${deletedAt.toISOString()}); AWS reserves the name until it is purged. Retrying will not help: a human can restore it (aws secretsmanager restore-secret) or purge it with a forced delete, then write again.`,
      { reason: 'scheduled_for_deletion', deletion_date: deletedAt.toISOString() },
    );
  }
}

