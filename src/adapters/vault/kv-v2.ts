import { summaryOfWrite } from '../backend.js';
import { AssError } from '../../shared/errors.js';
import type { SecretRecord, SecretSummary, SecretWrite } from '../../shared/types.js';
import type { VaultClient } from './client.js';
import { checkCustomMetadata, decodeFields, decodeValue, encodeFields, loosens } from './codec.js';
import { asIso, asRecord, listKeys, type KvEngine } from './engine.js';
import { isNotFound } from './errors.js';
import type { VaultPaths } from './paths.js';
import { CreatedAtCache, type VersionInfo } from './created-at-cache.js';

interface Metadata {
  created_time: string;
  current_version: number;
  custom_metadata: Record<string, unknown> | undefined;
  versions: Record<string, { created_time?: unknown; deletion_time?: unknown; destroyed?: unknown }>;
}

/**
 * KV v2: Vault's own versions, check-and-set on every write, our fields in custom_metadata.
 * Reading never writes (a secret without custom_metadata stays exactly as it is).
 */
export class KvV2Engine implements KvEngine {
  readonly capabilities = { versioning: true, checkAndSet: true, softDelete: false };
  private readonly createdAts = new CreatedAtCache();
  /**
   * Set once a data read lacks what a one-request read needs (custom_metadata on Vault < 1.9,
   * or the version or its time): from then on every read reads the metadata too.
   */
  private dataLacksCustomMetadata = false;

  constructor(
    private readonly client: VaultClient,
    private readonly paths: VaultPaths,
    private readonly valueField: string,
  ) {}

  async read(namespace: string, key: string): Promise<SecretRecord | null> {
    // One request in the steady state: the data read has the value, this version's time and
    // (Vault >= 1.9) custom_metadata. The metadata read is needed only for created_at (the time
    // of version 1), which is remembered per secret, and on a Vault whose data reads lack
    // custom_metadata. When we know beforehand that it is needed (nothing remembered, or such a
    // Vault), it runs in parallel with the data read, so a cold read costs no more time than a
    // warm one; only an entry found unusable after the data read (the secret was recreated
    // outside us) costs a second round trip.
    const path = this.paths.metadata(namespace, key);
    const prefetch = this.dataLacksCustomMetadata || !this.createdAts.has(path);
    const [data, prefetched] = await Promise.all([
      this.client.read(this.paths.data(namespace, key)).catch(nullOn404),
      prefetch ? this.readMetadata(namespace, key) : undefined,
    ]);
    const body = asRecord(asRecord(data)?.data);
    const version = asRecord(body?.metadata);
    if (!body || !version || prefetched === null || isGone(version)) {
      this.createdAts.delete(path);
      return null;
    }
    // Security: the access tier in custom_metadata decides whether a human must approve, so it
    // is never cached; a Vault that does not send it with the data gets the metadata read.
    let current = ownVersion(version);
    if (!current) this.dataLacksCustomMetadata = true;
    let created = current && !prefetched ? this.knownCreatedAt(path, current) : undefined;
    if (!current || created === undefined) {
      const meta = prefetched ?? (await this.readMetadata(namespace, key));
      if (!meta) return null;
      created = createdAt(meta);
      current ??= withMetadata(version, meta);
    }
    return {
      namespace,
      key,
      value: decodeValue(asRecord(body.data), this.valueField),
      version: current.version,
      ...decodeFields(current.custom),
      created_at: created,
      updated_at: current.createdTime,
      id: this.paths.id(namespace, key),
    };
  }

  async summary(namespace: string, key: string): Promise<SecretSummary | null> {
    const meta = await this.readMetadata(namespace, key);
    if (!meta || meta.current_version === 0) return null;
    const current = meta.versions[String(meta.current_version)];
    if (!current || isGone(current)) return null;
    return {
      namespace,
      key,
      version: meta.current_version,
      ...decodeFields(meta.custom_metadata),
      created_at: createdAt(meta),
      updated_at: asIso(current.created_time, meta.created_time),
      id: this.paths.id(namespace, key),
    };
  }

  async write(write: SecretWrite, expectedVersion: number | undefined): Promise<SecretSummary> {
    const meta = await this.readMetadata(write.namespace, write.key);
    const current = meta?.current_version ?? 0;
    if (expectedVersion !== undefined && expectedVersion !== current) {
      throw conflict(write, expectedVersion, current);
    }
    const custom = encodeFields(write, meta?.custom_metadata);
    checkCustomMetadata(custom);
    const writeMetadata = () => this.client.write(this.paths.metadata(write.namespace, write.key), { custom_metadata: custom });
    const writeData = () =>
      this.client.write(this.paths.data(write.namespace, write.key), {
        // Security: cas is always sent, so a concurrent writer makes this attempt fail instead
        // of being silently overwritten.
        options: { cas: expectedVersion ?? current },
        data: { [this.valueField]: write.value },
      });
    // custom_metadata is not versioned and cannot be written atomically with the data. Order
    // the two writes so that, between them or if the second fails, the tier in force is never
    // weaker than both the old and the new one.
    let written: unknown;
    if (loosens(decodeFields(meta?.custom_metadata).access_tier, write.access_tier)) {
      written = await writeData();
      await writeMetadata();
    } else {
      await writeMetadata();
      written = await writeData();
    }
    const stored = asRecord(asRecord(written)?.data);
    const now = new Date().toISOString();
    const updated = asIso(stored?.created_time, now);
    const created = meta && current > 0 ? createdAt(meta) : updated;
    if (typeof stored?.version === 'number' && asIso(stored.created_time, '') !== '') {
      this.createdAts.remember(this.paths.metadata(write.namespace, write.key), created, { version: stored.version, createdTime: updated });
    }
    return summaryOfWrite(write, {
      version: typeof stored?.version === 'number' ? stored.version : current + 1,
      id: this.paths.id(write.namespace, write.key),
      created_at: created,
      updated_at: updated,
    });
  }

  async children(namespace: string): Promise<string[]> {
    return listKeys(await this.client.list(this.paths.folder(namespace)).catch(nullOn404));
  }

  async remove(namespace: string, key: string): Promise<boolean> {
    const path = this.paths.metadata(namespace, key);
    try {
      const meta = await this.readMetadata(namespace, key);
      if (!meta) return false;
      // Deleting the metadata destroys every version (needs `delete` on metadata/, see docs).
      await this.client.delete(path);
      return meta.current_version > 0;
    } finally {
      this.createdAts.delete(path);
    }
  }

  /**
   * created_at without a metadata read: version 1's own time, or what we remembered for a later
   * version. Undefined when the metadata must be read.
   */
  private knownCreatedAt(path: string, current: VersionInfo): string | undefined {
    if (current.version !== 1) return this.createdAts.lookup(path, current);
    this.createdAts.remember(path, current.createdTime, current);
    return current.createdTime;
  }

  private async readMetadata(namespace: string, key: string): Promise<Metadata | null> {
    const response = await this.client.read(this.paths.metadata(namespace, key)).catch(nullOn404);
    const data = asRecord(asRecord(response)?.data);
    if (!data) return null;
    const meta: Metadata = {
      created_time: asIso(data.created_time, new Date(0).toISOString()),
      current_version: typeof data.current_version === 'number' ? data.current_version : 0,
      custom_metadata: asRecord(data.custom_metadata),
      versions: (asRecord(data.versions) ?? {}) as Metadata['versions'],
    };
    const currentTime = meta.versions[String(meta.current_version)]?.created_time;
    if (meta.current_version > 0 && typeof currentTime === 'string' && currentTime !== '') {
      this.createdAts.remember(this.paths.metadata(namespace, key), createdAt(meta), {
        version: meta.current_version,
        createdTime: asIso(currentTime, ''),
      });
    }
    return meta;
  }
}

interface CurrentVersion extends VersionInfo {
  custom: Record<string, unknown> | null | undefined;
}

/**
 * The data read's own metadata, or undefined when it lacks any field we need (Vault < 1.9 sends
 * no custom_metadata; null means "none", and is complete).
 */
function ownVersion(version: Record<string, unknown>): CurrentVersion | undefined {
  const createdTime = asIso(version.created_time, '');
  const custom = version.custom_metadata;
  if (typeof version.version !== 'number' || createdTime === '' || !(custom === null || asRecord(custom))) return undefined;
  return { version: version.version, createdTime, custom: asRecord(custom) };
}

/** The data read's metadata completed from the metadata read (what every read did before). */
function withMetadata(version: Record<string, unknown>, meta: Metadata): CurrentVersion {
  return {
    version: typeof version.version === 'number' ? version.version : meta.current_version,
    createdTime: asIso(version.created_time, meta.created_time),
    custom: asRecord(version.custom_metadata) ?? meta.custom_metadata,
  };
}

function isGone(version: Record<string, unknown>): boolean {
  return version.destroyed === true || (typeof version.deletion_time === 'string' && version.deletion_time !== '');
}

/**
 * When version 1 was written. Not the metadata's own created_time: for a new secret we write
 * custom_metadata a moment before version 1 (so the tier is in force before the value exists).
 * Once Vault has pruned version 1 (max_versions), the metadata's time is the best we have.
 */
function createdAt(meta: Metadata): string {
  return asIso(meta.versions['1']?.created_time, meta.created_time);
}

function nullOn404(error: unknown): null {
  if (isNotFound(error)) return null;
  throw error;
}

function conflict(write: SecretWrite, expected: number, current: number): AssError {
  return new AssError(
    'CONFLICT',
    `'${write.namespace}/${write.key}' is at version ${current}, not ${expected}. Read it again and retry.`,
    { expected_version: expected, current_version: current },
  );
}
