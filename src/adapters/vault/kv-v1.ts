import { summaryOfWrite } from '../backend.js';
import { AssError } from '../../shared/errors.js';
import type { SecretRecord, SecretSummary, SecretWrite } from '../../shared/types.js';
import type { VaultClient } from './client.js';
import { decodeFields, decodeValue, encodeFields } from './codec.js';
import { asIso, asRecord, listKeys, UNKNOWN_TIME, type KvEngine } from './engine.js';
import { isNotFound } from './errors.js';
import type { VaultPaths } from './paths.js';

const VERSION_KEY = 'ass_version';
const CREATED_KEY = 'ass_created_at';
const UPDATED_KEY = 'ass_updated_at';

/**
 * KV v1 keeps one unversioned map per path and has neither custom_metadata nor check-and-set.
 * Our fields sit beside the value in that map; `version` is a counter we keep there. The
 * `expectedVersion` check is read-then-write, not atomic: `capabilities.checkAndSet` is false.
 */
export class KvV1Engine implements KvEngine {
  readonly capabilities = { versioning: false, checkAndSet: false, softDelete: false };

  constructor(
    private readonly client: VaultClient,
    private readonly paths: VaultPaths,
    private readonly valueField: string,
    private readonly clock: () => Date,
  ) {}

  async read(namespace: string, key: string): Promise<SecretRecord | null> {
    const data = await this.readData(namespace, key);
    if (!data) return null;
    return { ...this.toSummary(namespace, key, data), value: decodeValue(data, this.valueField) };
  }

  async summary(namespace: string, key: string): Promise<SecretSummary | null> {
    const data = await this.readData(namespace, key);
    return data ? this.toSummary(namespace, key, data) : null;
  }

  async write(write: SecretWrite, expectedVersion: number | undefined): Promise<SecretSummary> {
    const existing = await this.readData(write.namespace, write.key);
    const current = existing ? versionOf(existing) : 0;
    if (expectedVersion !== undefined && expectedVersion !== current) {
      throw new AssError('CONFLICT', `'${write.namespace}/${write.key}' is at version ${current}, not ${expectedVersion}. Read it again and retry.`, {
        expected_version: expectedVersion,
        current_version: current,
      });
    }
    const now = this.clock().toISOString();
    const created = existing ? asIso(existing[CREATED_KEY], now) : now;
    const version = current + 1;
    const fields = encodeFields(write, undefined);
    await this.client.write(this.paths.data(write.namespace, write.key), {
      ...fields,
      [VERSION_KEY]: String(version),
      [CREATED_KEY]: created,
      [UPDATED_KEY]: now,
      [this.valueField]: write.value,
    });
    return summaryOfWrite(write, { version, id: this.paths.id(write.namespace, write.key), created_at: created, updated_at: now });
  }

  async children(namespace: string): Promise<string[]> {
    return listKeys(await this.client.list(this.paths.folder(namespace)).catch(nullOn404));
  }

  async remove(namespace: string, key: string): Promise<boolean> {
    if (!(await this.readData(namespace, key))) return false;
    await this.client.delete(this.paths.data(namespace, key));
    return true;
  }

  private async readData(namespace: string, key: string): Promise<Record<string, unknown> | null> {
    const response = await this.client.read(this.paths.data(namespace, key)).catch(nullOn404);
    return asRecord(asRecord(response)?.data) ?? null;
  }

  private toSummary(namespace: string, key: string, data: Record<string, unknown>): SecretSummary {
    const created = asIso(data[CREATED_KEY], UNKNOWN_TIME);
    return {
      namespace,
      key,
      version: versionOf(data),
      ...decodeFields(data),
      created_at: created,
      updated_at: asIso(data[UPDATED_KEY], created),
      id: this.paths.id(namespace, key),
    };
  }
}

/** A secret written by another tool has no counter: it is version 1. */
function versionOf(data: Record<string, unknown>): number {
  const n = Number(data[VERSION_KEY]);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

function nullOn404(error: unknown): null {
  if (isNotFound(error)) return null;
  throw error;
}
