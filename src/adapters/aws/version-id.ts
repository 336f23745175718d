import { randomBytes } from 'node:crypto';

/**
 * Version numbers live in the AWS VersionId itself.
 *
 * Every version the proxy writes gets `ClientRequestToken = ass-v<N>-t<epoch ms>-<24 hex>`,
 * and AWS makes the token the VersionId. A VersionId is immutable and belongs to exactly one
 * version, so any process reading any version derives the same number from it, with no extra
 * request and no staging-label quota (AWS allows 20 labels per secret). Which number is
 * current is decided by AWS atomically: the new version is created under a private label and
 * AWSCURRENT is moved to it with `RemoveFromVersionId = <the version we read>`, which AWS
 * refuses if another writer moved AWSCURRENT first (see backend.ts, `putVersion`).
 *
 * Security: the token carries no hash of the value. A hash in a VersionId would be readable
 * by anyone allowed `ListSecretVersionIds`/`DescribeSecret` without `GetSecretValue`, and
 * would let them test guesses of a weak value offline. The random part is drawn once per
 * logical write and reused by every retry of that write.
 */
const VERSION_ID = /^ass-v(\d{1,10})-t(\d{1,15})-[0-9a-f]{24}$/;

export interface ParsedVersionId {
  version: number;
  writtenAt: Date;
}

export function makeVersionId(version: number, now: Date): string {
  return `ass-v${version}-t${now.getTime()}-${randomBytes(12).toString('hex')}`;
}

/** The number and write time encoded in a proxy-written VersionId; null for other tools'. */
export function parseVersionId(versionId: string | undefined): ParsedVersionId | null {
  if (!versionId) return null;
  const match = VERSION_ID.exec(versionId);
  if (!match) return null;
  const version = Number(match[1]);
  const ms = Number(match[2]);
  if (!Number.isSafeInteger(version) || version < 1 || !Number.isSafeInteger(ms)) return null;
  return { version, writtenAt: new Date(ms) };
}

export interface VersionEntry {
  VersionId?: string | undefined;
  CreatedDate?: Date | undefined;
}

/**
 * The number of a version another tool wrote (random VersionId): one past the newest
 * proxy-numbered version, plus one for each other foreign version not older than it.
 * Best effort by design: AWS keeps only ~100 versions, and its CreatedDate has second
 * resolution, so two foreign writes within one second of a proxy write can tie.
 */
export function foreignVersionNumber(versionId: string, versions: VersionEntry[]): number {
  let newest: { version: number; created: number } | null = null;
  for (const entry of versions) {
    const parsed = parseVersionId(entry.VersionId);
    if (parsed && (!newest || parsed.version > newest.version)) {
      newest = { version: parsed.version, created: entry.CreatedDate?.getTime() ?? 0 };
    }
  }
  const base = newest?.version ?? 0;
  const since = newest?.created ?? Number.NEGATIVE_INFINITY;
  const self = versions.find((entry) => entry.VersionId === versionId);
  const until = self?.CreatedDate?.getTime() ?? Number.POSITIVE_INFINITY;
  let foreign = 0;
  for (const entry of versions) {
    if (!entry.VersionId || parseVersionId(entry.VersionId)) continue;
    const created = entry.CreatedDate?.getTime() ?? 0;
    if (created >= since && created <= until) foreign += 1;
  }
  if (!self) foreign += 1;
  return base + Math.max(1, foreign);
}
