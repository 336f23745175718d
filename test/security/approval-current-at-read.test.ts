/**
 * The policy decides each read once (scopes checked before the backend read, the decision
 * finished with the stored tier after it). These tests try to make a read use an approval that
 * is no longer in force at that read: one granted to an earlier read, or one that lapses while
 * the backend is being read (the window between the early check and the decision).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { APPROVAL_ERROR, approvalIdOf, call } from '../helpers/cli.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

const HOUR = 60 * 60 * 1000;
let env: InProcess | undefined;

afterEach(async () => {
  if (env) {
    await env.close();
    rmSync(env.dir, { recursive: true, force: true });
    env = undefined;
  }
});

async function read(e: InProcess, namespace: string, key: string): Promise<{ value?: string; code?: string; approvalId?: string }> {
  const outcome = await call(e.client, 'get_secret', { namespace, key });
  if (outcome.ok) return { value: outcome.data.value as string };
  return { ...(outcome.code ? { code: outcome.code } : {}), ...(APPROVAL_ERROR.test(outcome.error) ? { approvalId: approvalIdOf(outcome.error) } : {}) };
}

async function putSensitive(e: InProcess, namespace: string, key: string, value: string): Promise<void> {
  await e.runtime.backend.put({ namespace, key, value, secret_type: 'custom', access_tier: 'sensitive', metadata: {} }, { expectedVersion: 0 });
}

/** Runs `during` inside the next backend read of `namespace/key` (after the early check, before the decision). */
function duringNextRead(e: InProcess, during: () => void): void {
  const backend = e.runtime.backend;
  const real = backend.get.bind(backend);
  backend.get = async (namespace, key) => {
    backend.get = real;
    const record = await real(namespace, key);
    during();
    return record;
  };
}

describe('a read is decided on the approvals in force at that read', () => {
  it('an approval granted to one read serves the next; once lapsed, the next read asks again', async () => {
    env = await startInProcess({ agentYaml: '    grants: ["secrets:read:prod/**"]', extraYaml: 'policy: { tiers: { sensitive: { effect: approval } } }' });
    await putSensitive(env, 'prod', 'API_KEY', 'v-approved');
    const asked = await read(env, 'prod', 'API_KEY');
    expect(asked.code).toBe('APPROVAL_REQUIRED');
    await env.runtime.approvals.approve(asked.approvalId!, 'admin');
    expect((await read(env, 'prod', 'API_KEY')).value).toBe('v-approved');
    env.advance(HOUR + 1000);
    expect((await read(env, 'prod', 'API_KEY')).code).toBe('APPROVAL_REQUIRED');
  });

  it('with a grant and an approval tier: an approval that lapses during the backend read does not serve the value', async () => {
    env = await startInProcess({ agentYaml: '    grants: ["secrets:read:prod/**"]', extraYaml: 'policy: { tiers: { sensitive: { effect: approval } } }' });
    await putSensitive(env, 'prod', 'API_KEY', 'v-lapsing');
    const asked = await read(env, 'prod', 'API_KEY');
    await env.runtime.approvals.approve(asked.approvalId!, 'admin');
    env.advance(HOUR - 1000);
    const e = env;
    duringNextRead(e, () => e.advance(2000));
    const lapsed = await read(env, 'prod', 'API_KEY');
    expect(lapsed.value).toBeUndefined();
    expect(lapsed.code).toBe('APPROVAL_REQUIRED');
  });

  it('with no grant, only an approved scope: one that lapses during the backend read does not serve the value', async () => {
    // The agent's grant was narrowed after a human approved this one secret.
    env = await startInProcess({ agentYaml: '    grants: ["secrets:read:other/**"]' });
    await putSensitive(env, 'prod', 'API_KEY', 'v-approval-only');
    const { approval } = await env.runtime.approvals.request({
      kind: 'secret_access', agentId: 'bot', scopes: ['secrets:read:prod/API_KEY'], ttlMs: HOUR, reason: 'test', rule: 'tier:sensitive', approvers: 1, delayMs: 0,
    });
    await env.runtime.approvals.approve(approval.id, 'admin');
    expect((await read(env, 'prod', 'API_KEY')).value).toBe('v-approval-only');
    env.advance(HOUR - 1000);
    const e = env;
    duringNextRead(e, () => e.advance(2000));
    const lapsed = await read(env, 'prod', 'API_KEY');
    expect(lapsed.value).toBeUndefined();
    expect(lapsed.code).toBe('POLICY_DENIED');
    // And the next read is refused before the backend is read at all.
    expect((await read(env, 'prod', 'API_KEY')).code).toBe('POLICY_DENIED');
  });
});
