import {
  CreateSecretCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import type { Clock, SecretWrite } from '../../shared/types.js';
import { mapAwsError, vendorFault } from './errors.js';
import type { AwsSecretsClient } from './retrying-client.js';
import { CURRENT, currentVersionId, describe } from './store.js';
import { TAG_TIER, decodeTags, staleTagKeys, stricterTier } from './tags.js';
import { makeVersionId, parseVersionId } from './version-id.js';

/**
 * The label a new version carries between PutSecretValue and the AWSCURRENT move. Not
 * AWSPENDING, which belongs to AWS's rotation functions.
 */
export const PENDING = 'ass-pending';

interface WriteContext {
  name: string;
  write: SecretWrite;
  tags: Tag[];
  what: string;
  /** One token per version number for the whole logical write (see backend.ts `put`). */
  tokens: Map<number, string>;
  clock: Clock;
}

function tokenFor(ctx: WriteContext, version: number): string {
  let token = ctx.tokens.get(version);
  if (!token) {
    token = makeVersionId(version, ctx.clock());
    ctx.tokens.set(version, token);
  }
  return token;
}

/**
 * Version 1: CreateSecret with value, tags and token in one request, which AWS refuses if the
 * name exists, so two processes creating the same secret cannot both get version 1.
 * Returns null when another writer created it first.
 */
export async function createSecret(
  client: AwsSecretsClient,
  ctx: WriteContext,
): Promise<{ arn: string; createdAt: Date } | null> {
  const token = tokenFor(ctx, 1);
  try {
    const out = await client.send(
      new CreateSecretCommand({
        Name: ctx.name,
        SecretString: ctx.write.value,
        ClientRequestToken: token,
        Tags: ctx.tags,
        Description: 'Managed by agent-secret-store',
      }),
    );
    const described = await describe(client, ctx.name, ctx.what);
    return { arn: out.ARN ?? described?.ARN ?? ctx.name, createdAt: described?.CreatedDate ?? ctx.clock() };
  } catch (error) {
    if (vendorFault(error).name === 'ResourceExistsException') return null;
    throw mapAwsError(error, ctx.what);
  }
}

/**
 * Version n+1, as a check-and-set on AWSCURRENT:
 * 1. if the tier rises, tag it first (fail closed: the old value is never shown weaker);
 * 2. PutSecretValue under the private PENDING label, so AWSCURRENT does not move yet;
 * 3. UpdateSecretVersionStage moves AWSCURRENT with `RemoveFromVersionId = currentId`, which
 *    AWS refuses if AWSCURRENT is no longer there (another writer won); AWS then moves
 *    AWSPREVIOUS to the version AWSCURRENT left, as for any PutSecretValue;
 * 4. the remaining tags, then the PENDING label is dropped (best effort).
 * Returns null when another writer moved AWSCURRENT first.
 *
 * Window that remains: tags belong to the secret, not to a version, so between steps 3 and 4
 * a reader sees the new value with the previous metadata/type (tier: the stricter of old and
 * new). A writer that loses in step 3 may already have raised the tier in step 1; that errs
 * to the stricter tier and the next write sets it again.
 */
export async function appendVersion(
  client: AwsSecretsClient,
  ctx: WriteContext & { arn: string; currentTags: Tag[] | undefined; currentId: string | undefined; version: number },
): Promise<{ writtenAt: Date } | null> {
  const token = tokenFor(ctx, ctx.version);
  const writtenAt = parseVersionId(token)?.writtenAt ?? ctx.clock();
  const send = async (run: () => Promise<unknown>): Promise<void> => {
    try {
      await run();
    } catch (error) {
      throw mapAwsError(error, ctx.what);
    }
  };
  const oldTier = decodeTags(ctx.currentTags).access_tier;
  if (oldTier !== ctx.write.access_tier && stricterTier(oldTier, ctx.write.access_tier) === ctx.write.access_tier) {
    await send(() => client.send(new TagResourceCommand({ SecretId: ctx.arn, Tags: [{ Key: TAG_TIER, Value: ctx.write.access_tier }] })));
  }
  await send(() =>
    client.send(
      new PutSecretValueCommand({
        SecretId: ctx.arn,
        SecretString: ctx.write.value,
        ClientRequestToken: token,
        // PENDING keeps AWSCURRENT in place until the check-and-set below; a secret with no
        // current version (created empty by another tool) takes AWSCURRENT directly.
        VersionStages: ctx.currentId ? [PENDING] : [CURRENT],
      }),
    ),
  );
  if (ctx.currentId) {
    try {
      await client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: ctx.arn,
          VersionStage: CURRENT,
          MoveToVersionId: token,
          RemoveFromVersionId: ctx.currentId,
        }),
      );
    } catch (error) {
      // Either another writer moved AWSCURRENT (we lost), or an earlier attempt of this very
      // request succeeded and only its answer was lost (we won): ask AWS which.
      const now = await describe(client, ctx.name, ctx.what);
      const holder = currentVersionId(now?.VersionIdsToStages);
      if (holder !== token) {
        if (holder !== ctx.currentId) return null;
        throw mapAwsError(error, ctx.what);
      }
    }
  }
  await send(() => client.send(new TagResourceCommand({ SecretId: ctx.arn, Tags: ctx.tags })));
  const stale = staleTagKeys(ctx.currentTags, ctx.tags);
  if (stale.length > 0) await send(() => client.send(new UntagResourceCommand({ SecretId: ctx.arn, TagKeys: stale })));
  if (ctx.currentId) {
    try {
      await client.send(new UpdateSecretVersionStageCommand({ SecretId: ctx.arn, VersionStage: PENDING, RemoveFromVersionId: token }));
    } catch {
      // Best effort: a later write may already have taken the label; it is harmless either way.
    }
  }
  return { writtenAt };
}
