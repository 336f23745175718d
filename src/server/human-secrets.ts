import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { effectiveTier, namespaceDefaultTier, validateNamespace, validatePath } from '../policy/index.js';
import { AssError, isAssError } from '../shared/errors.js';
import { ACCESS_TIERS, SECRET_TYPES, type AccessTier, type SecretSummary, type SecretType } from '../shared/types.js';
import { adminActor, type HumanAdmin, type HumanSurface } from './human-decisions.js';
import type { Runtime } from './runtime.js';

/**
 * The human secret operations, written once for every surface (CLI, REST, dashboard): list,
 * reveal (a human read), set, rotate and delete. Each is audited with the admin's id before it
 * takes effect (fail closed: no record, no action); a failure after that gets a second record.
 * Values never reach an audit record, a log line or an error message.
 */

export const SecretTypeSchema = z.enum(SECRET_TYPES);
export const AccessTierSchema = z.enum(ACCESS_TIERS);
export const GenerateBytesSchema = z.number().int().min(16).max(1024);

interface Who extends HumanAdmin {
  via: HumanSurface;
}

async function audited<T>(runtime: Runtime, who: Who, action: string, target: { namespace: string; key: string }, reason: string, act: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const actor = adminActor(who);
  await runtime.audit.append({ actor, action, ...target, outcome: 'allowed', rule: 'human', reason: `${reason} (${who.via})`, latency_ms: performance.now() - started });
  try {
    return await act();
  } catch (error) {
    await runtime.audit
      .append({ actor, action, ...target, outcome: 'error', rule: 'human', error_code: isAssError(error) ? error.code : 'INTERNAL', latency_ms: performance.now() - started })
      .catch(() => undefined);
    throw error;
  }
}

const notFound = (namespace: string, key: string, what: string): AssError =>
  new AssError('SECRET_NOT_FOUND', `No secret '${key}' in '${namespace}'; ${what}`);

/** Namespaces, and the secrets (metadata only, tiers as enforced) in `namespace` or in all of them. */
export async function humanListSecrets(runtime: Runtime, namespace?: string): Promise<{ namespaces: string[]; items: SecretSummary[] }> {
  const namespaces = [...(await runtime.backend.listNamespaces())].sort();
  if (namespace !== undefined) validateNamespace(namespace);
  const wanted = namespace === undefined ? namespaces : [namespace];
  const items: SecretSummary[] = [];
  for (const ns of wanted) {
    for (const item of await runtime.backend.list(ns)) items.push({ ...item, namespace: ns, access_tier: effectiveTier(runtime.settings.policy, ns, item.access_tier) });
  }
  return { namespaces, items };
}

/** One secret's metadata (no value), or SECRET_NOT_FOUND. Not audited: it is what a list shows. */
export async function humanDescribeSecret(runtime: Runtime, namespace: string, key: string): Promise<SecretSummary> {
  const path = validatePath(namespace, key);
  const found = (await runtime.backend.list(path.namespace)).find((s) => s.key === path.key);
  if (!found) throw notFound(path.namespace, path.key, 'it may have been deleted.');
  return { ...found, namespace: path.namespace, access_tier: effectiveTier(runtime.settings.policy, path.namespace, found.access_tier) };
}

/** A human reads a value (audited as `secrets.reveal` before the read). */
export async function humanRevealSecret(runtime: Runtime, who: Who, input: { namespace: string; key: string }): Promise<{ value: string; version: number }> {
  const { namespace, key } = validatePath(input.namespace, input.key);
  return audited(runtime, who, 'secrets.reveal', { namespace, key }, 'human read', async () => {
    const record = await runtime.backend.get(namespace, key);
    if (!record) throw notFound(namespace, key, 'nothing to reveal.');
    return { value: record.value, version: record.version };
  });
}

export interface HumanSetInput {
  namespace: string;
  key: string;
  value: string;
  secretType?: SecretType;
  /** Default: the secret's current tier, or for a new secret its namespace's default tier. */
  tier?: AccessTier;
}

/** A human stores a secret at any tier (the way to seed a critical one). */
export async function humanSetSecret(runtime: Runtime, who: Who, input: HumanSetInput): Promise<{ namespace: string; key: string; version: number; access_tier: AccessTier }> {
  const { namespace, key } = validatePath(input.namespace, input.key);
  if (!input.value) throw new AssError('INVALID_ARGUMENT', 'The value is empty; nothing was stored.');
  const policy = runtime.settings.policy;
  const existing = await runtime.backend.get(namespace, key);
  // Security: a new value keeps the secret's tier unless the human names another, so updating a
  // critical secret never quietly makes it standard (served without approval).
  const tier = input.tier ?? (existing ? effectiveTier(policy, namespace, existing.access_tier) : namespaceDefaultTier(policy, namespace));
  return audited(runtime, who, 'secrets.set', { namespace, key }, `tier ${tier}`, async () => {
    const current = await runtime.backend.get(namespace, key);
    const stored = await runtime.backend.put(
      { namespace, key, value: input.value, secret_type: input.secretType ?? current?.secret_type ?? 'custom', access_tier: tier, metadata: current?.metadata ?? {} },
      { expectedVersion: current?.version ?? 0 },
    );
    return { namespace, key, version: stored.version, access_tier: tier };
  });
}

/** A human writes a new version: the given value, or a generated one that is never returned. */
export async function humanRotateSecret(
  runtime: Runtime,
  who: Who,
  input: { namespace: string; key: string; value?: string; generateBytes?: number },
): Promise<{ namespace: string; key: string; version: number }> {
  const { namespace, key } = validatePath(input.namespace, input.key);
  if (Boolean(input.value) === (input.generateBytes !== undefined)) throw new AssError('INVALID_ARGUMENT', 'Give exactly one of a new value or generate.');
  if (input.generateBytes !== undefined && !GenerateBytesSchema.safeParse(input.generateBytes).success) throw new AssError('INVALID_ARGUMENT', 'Generated values are 16 to 1024 random bytes.');
  const current = await runtime.backend.get(namespace, key);
  if (!current) throw notFound(namespace, key, `nothing to rotate. Create it with \`agent-secret-store secrets set ${namespace} ${key}\` (a human) or set_secret (an agent).`);
  const value = input.generateBytes !== undefined ? randomBytes(input.generateBytes).toString('base64url') : input.value!;
  return audited(runtime, who, 'secrets.rotate', { namespace, key }, input.generateBytes !== undefined ? 'generated value' : 'value given', async () => {
    const stored = await runtime.backend.put(
      { namespace, key, value, secret_type: current.secret_type, access_tier: effectiveTier(runtime.settings.policy, namespace, current.access_tier), metadata: current.metadata },
      { expectedVersion: current.version },
    );
    return { namespace, key, version: stored.version };
  });
}

/** A human deletes a secret and its versions; `force` skips a backend's recovery window (AWS). */
export async function humanDeleteSecret(runtime: Runtime, who: Who, input: { namespace: string; key: string; force?: boolean }): Promise<{ deleted: true; namespace: string; key: string }> {
  const { namespace, key } = validatePath(input.namespace, input.key);
  return audited(runtime, who, 'secrets.delete', { namespace, key }, input.force ? 'forced, no recovery window' : 'requested by a human', async () => {
    if (!(await runtime.backend.delete(namespace, key, { force: Boolean(input.force) }))) throw notFound(namespace, key, 'nothing was deleted.');
    return { deleted: true as const, namespace, key };
  });
}
