import {
  DescribeSecretCommand,
  ListSecretVersionIdsCommand,
  ListSecretsCommand,
  type DescribeSecretCommandOutput,
  type SecretListEntry,
  type SecretVersionsListEntry,
} from '@aws-sdk/client-secrets-manager';
import { isNotFound, mapAwsError } from './errors.js';
import type { AwsSecretsClient } from './retrying-client.js';
import { foreignVersionNumber, parseVersionId } from './version-id.js';

/**
 * Read helpers shared by the adapter's operations. None of them reads a value: list paths
 * use only these (ListSecrets, ListSecretVersionIds, DescribeSecret), never GetSecretValue.
 */

export const CURRENT = 'AWSCURRENT';

/** DescribeSecret by exact name; null when AWS has no secret of that name. */
export async function describe(client: AwsSecretsClient, name: string, what: string): Promise<DescribeSecretCommandOutput | null> {
  try {
    const out = await client.send(new DescribeSecretCommand({ SecretId: name }));
    // Security: AWS also resolves partial ARNs; accept only the exact name we asked for.
    return out.Name === name ? out : null;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw mapAwsError(error, what);
  }
}

/** The VersionId carrying AWSCURRENT, from a DescribeSecret/ListSecrets stage map. */
export function currentVersionId(stages: Record<string, string[]> | undefined): string | undefined {
  for (const [id, labels] of Object.entries(stages ?? {})) {
    if (labels.includes(CURRENT)) return id;
  }
  return undefined;
}

/** Every version id of a secret, deprecated ones included (no values). */
export async function listVersions(client: AwsSecretsClient, secretId: string, what: string): Promise<SecretVersionsListEntry[]> {
  return allPages(what, async (NextToken) => {
    const out = await client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true, MaxResults: 100, NextToken }));
    return { items: out.Versions, next: out.NextToken };
  });
}

export interface VersionInfo {
  version: number;
  /** When this version was written (proxy versions: the writer's clock; others: AWS's). */
  writtenAt: Date | undefined;
}

/**
 * The integer version of `versionId`: parsed from a proxy-written VersionId without a request,
 * or (for a version another tool wrote) derived from the version list, see version-id.ts.
 */
export async function versionInfo(client: AwsSecretsClient, secretId: string, versionId: string, what: string): Promise<VersionInfo> {
  const parsed = parseVersionId(versionId);
  if (parsed) return { version: parsed.version, writtenAt: parsed.writtenAt };
  const versions = await listVersions(client, secretId, what);
  const self = versions.find((entry) => entry.VersionId === versionId);
  return { version: foreignVersionNumber(versionId, versions), writtenAt: self?.CreatedDate };
}

/** ListSecrets with a name-prefix filter, following every page. Planned deletions are excluded. */
export async function listByPrefix(client: AwsSecretsClient, namePrefix: string, what: string): Promise<SecretListEntry[]> {
  return allPages(what, async (NextToken) => {
    const out = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [namePrefix] }], MaxResults: 100, NextToken }));
    return { items: out.SecretList, next: out.NextToken };
  });
}

/** Follows NextToken through every page; an AWS error is mapped (and scrubbed) once, here. */
async function allPages<T>(what: string, page: (token: string | undefined) => Promise<{ items: T[] | undefined; next: string | undefined }>): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  do {
    try {
      const out = await page(token);
      items.push(...(out.items ?? []));
      token = out.next;
    } catch (error) {
      throw mapAwsError(error, what);
    }
  } while (token);
  return items;
}

/** updated_at never precedes created_at (writer clocks and AWS's clock differ slightly). */
export function isoNotBefore(at: Date | undefined, floor: Date | undefined): string {
  const floorMs = floor?.getTime() ?? 0;
  const ms = at ? Math.max(at.getTime(), floorMs) : floorMs;
  return new Date(ms).toISOString();
}
