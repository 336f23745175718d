/**
 * The shared human actions (src/server/human-*.ts) in-process on a real file backend: cancel
 * applies only to an approval waiting out its delay; rotate takes exactly one of a value or
 * generate; every action leaves an audit record under the admin and the surface it came from,
 * and never the value.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideApproval } from '../../src/server/human-decisions.js';
import { humanDeleteSecret, humanListSecrets, humanRevealSecret, humanRotateSecret, humanSetSecret } from '../../src/server/human-secrets.js';
import { createLogger } from '../../src/server/logger.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import { loadSettings } from '../../src/server/settings.js';
import { makeConfig, type RemoteConfig } from '../helpers/remote-server.js';

let config: RemoteConfig;
let runtime: Runtime;
const who = { adminId: 'admin', via: 'dashboard' as const };

beforeAll(async () => {
  config = await makeConfig({ agents: [{ id: 'alpha', grants: ['secrets:*:**'] }] });
  runtime = await openRuntime(loadSettings(config.configPath, {}), createLogger('error'));
});
afterAll(async () => {
  await runtime?.close();
  await config?.cleanup();
});

const request = (delayMs: number) =>
  runtime.approvals.request({ kind: 'secret_access', agentId: 'alpha', scopes: [`secrets:read:ns/K${delayMs}`], ttlMs: 60_000, reason: 'test', rule: 'tier:critical', approvers: 1, delayMs });

describe('decideApproval cancel', () => {
  it('refuses to cancel a plain pending request (deny is for that), and cancels one in its delay', async () => {
    const { approval: plain } = await request(0);
    await expect(decideApproval(runtime, { verb: 'cancel', id: plain.id, ...who })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await runtime.approvals.find(plain.id)).view.status).toBe('pending');

    const { approval: delayed } = await request(3_600_000);
    await decideApproval(runtime, { verb: 'approve', id: delayed.id, ...who });
    const cancelled = await decideApproval(runtime, { verb: 'cancel', id: delayed.id, ...who });
    expect(cancelled.approval).toMatchObject({ status: 'denied', cancelled: true, denied_by: 'admin' });
    const records = readFileSync(runtime.settings.auditPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records.filter((r) => r.approval_id === delayed.id).map((r) => `${r.action} ${r.outcome} ${r.reason}`)).toEqual([
      'approvals.approve approval_granted agent alpha: secrets:read:ns/K3600000 (dashboard)',
      'approvals.cancel approval_denied agent alpha: secrets:read:ns/K3600000 (dashboard)',
    ]);
  });
});

describe('human secret operations', () => {
  it('a new value keeps the secret\'s tier unless the human names one (a critical secret never quietly becomes standard)', async () => {
    await humanSetSecret(runtime, who, { namespace: 'team/keep', key: 'K', value: 'v1', tier: 'critical' });
    expect(await humanSetSecret(runtime, who, { namespace: 'team/keep', key: 'K', value: 'v2' })).toMatchObject({ version: 2, access_tier: 'critical' });
    expect((await runtime.backend.get('team/keep', 'K'))?.access_tier).toBe('critical');
    expect(await humanSetSecret(runtime, who, { namespace: 'team/keep', key: 'K', value: 'v3', tier: 'standard' })).toMatchObject({ access_tier: 'standard' });
  });

  it('set, list, reveal, rotate, delete: audited under the admin and the surface, never with the value', async () => {
    await humanSetSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN', value: 'first-value', tier: 'critical' });
    const listed = await humanListSecrets(runtime, 'team/app');
    expect(listed.items).toEqual([expect.objectContaining({ key: 'TOKEN', access_tier: 'critical', version: 1 })]);
    expect(JSON.stringify(listed)).not.toContain('first-value');
    expect(await humanRevealSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN' })).toEqual({ value: 'first-value', version: 1 });
    await expect(humanRotateSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN', value: 'x', generateBytes: 32 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(humanRotateSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN', generateBytes: 8 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await humanRotateSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN', generateBytes: 32 })).version).toBe(2);
    expect((await humanRevealSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN' })).value).not.toBe('first-value');
    await humanDeleteSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN' });
    await expect(humanRevealSecret(runtime, who, { namespace: 'team/app', key: 'TOKEN' })).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    await expect(humanListSecrets(runtime, '../etc')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const text = readFileSync(runtime.settings.auditPath, 'utf8');
    expect(text).not.toContain('first-value');
    const ours = text.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.key === 'TOKEN');
    expect(ours.map((r) => `${r.actor} ${r.action} ${r.outcome}`)).toEqual([
      'admin:admin secrets.set allowed',
      'admin:admin secrets.reveal allowed',
      'admin:admin secrets.rotate allowed',
      'admin:admin secrets.reveal allowed',
      'admin:admin secrets.delete allowed',
      'admin:admin secrets.reveal allowed',
      'admin:admin secrets.reveal error',
    ]);
  });
});
