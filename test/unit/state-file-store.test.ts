/**
 * What only the file store does: migrating a state.json of earlier versions, and finishing a
 * transaction a killed process left in its journal.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileStateStore, FileRecordBackend } from '../../src/state/file-store.js';
import { StateStore } from '../../src/state/store.js';
import type { ApprovalRecord, TokenRecord } from '../../src/state/records.js';

const dirs: string[] = [];
const temp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'ass-state-file-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const now = new Date();
const iso = (ms: number) => new Date(now.getTime() + ms).toISOString();
const approval = (id: string, over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  id, kind: 'secret_access', agent_id: 'bot', scopes: ['secrets:read:prod/KEY'], ttl_ms: 3_600_000, reason: 'r', rule: 'tier:critical',
  created_at: iso(-60_000), expires_at: iso(900_000), approvers_required: 1, delay_ms: 0, approvals: [], status: 'pending', ...over,
});
const token = (id: string, over: Partial<TokenRecord> = {}): TokenRecord => ({ id, agent_id: 'bot', scopes: ['secrets:read:prod/*'], issued_at: iso(-1000), expires_at: iso(3_600_000), uses: 0, ...over });

describe('file state store: a state.json of an earlier version', () => {
  it('is migrated on first open: approvals, tokens (with their uses), revocations and the outbox all carry over, once', async () => {
    const root = temp();
    const legacy = join(root, 'state.json');
    const granted = approval('11111111-1111-4111-8111-111111111111', { status: 'approved', resolved_at: iso(-30_000), approvals: [{ admin_id: 'alice', at: iso(-30_000) }] });
    const pending = approval('22222222-2222-4222-8222-222222222222', { agent_id: 'other' });
    const counted = token('33333333-3333-4333-8333-333333333333', { max_uses: 3, uses: 2 });
    const revokedHash = createHash('sha256').update('old-key').digest('hex');
    const event = { id: 'e1', type: 'approval.requested', at: iso(0), approval: { id: pending.id } };
    writeFileSync(legacy, JSON.stringify({
      version: 1, approvals: { [granted.id]: granted, [pending.id]: pending }, tokens: { [counted.id]: counted }, revoked_key_hashes: [revokedHash],
      outbox: [{ webhook: 'w', event, attempts: 1, next_attempt_at: iso(0) }], outbox_stats: { delivered: 4, failed_attempts: 1, abandoned: 0, dropped: 0 },
    }));
    const store = createFileStateStore({ dir: join(root, 'state'), legacyFile: legacy });
    // A lock-free read is the first thing a server does: it migrates first.
    expect(await store.isRevoked(revokedHash)).toBe(true);
    expect(existsSync(legacy)).toBe(false);
    expect(JSON.parse(readFileSync(`${legacy}.migrated`, 'utf8')).approvals[granted.id].id).toBe(granted.id);
    expect((await store.activeGrants('bot', now)).map((a) => a.id)).toEqual([granted.id]);
    expect((await store.pendingApprovals()).map((a) => a.id)).toEqual([pending.id]);
    expect((await store.getToken(counted.id))!.uses).toBe(2);
    await store.consumeUse(counted.id);
    await expect(store.consumeUse(counted.id)).rejects.toThrow(/used its 3 allowed times/);
    expect(await store.readOutbox()).toMatchObject({ outbox: [{ webhook: 'w', attempts: 1 }], outbox_stats: { delivered: 4 } });
    // The agent's index came over too: its pending cap counts the migrated request.
    await expect(store.openApproval({
      candidate: approval('44444444-4444-4444-8444-444444444444', { agent_id: 'other', scopes: ['secrets:read:x/Y'] }), now, cooldownMs: 0, limits: { maxPerAgent: 1, maxBytesPerAgent: 1 << 20 },
    })).rejects.toMatchObject({ code: 'TOO_MANY_PENDING' });
    // Another process opening later finds nothing more to migrate and the same records.
    const later = createFileStateStore({ dir: join(root, 'state'), legacyFile: legacy });
    expect((await later.getToken(counted.id))!.uses).toBe(3);
    expect((await later.listApprovals()).map((a) => a.id).sort()).toEqual([granted.id, pending.id].sort());
  });

  it('a state.json that is not JSON is refused with INTEGRITY_ERROR naming the file, and left in place', async () => {
    const root = temp();
    const legacy = join(root, 'state.json');
    writeFileSync(legacy, '{"approvals": {');
    const store = createFileStateStore({ dir: join(root, 'state'), legacyFile: legacy });
    await expect(store.listApprovals()).rejects.toMatchObject({ code: 'INTEGRITY_ERROR', message: expect.stringContaining('state.json is not valid JSON') });
    expect(readFileSync(legacy, 'utf8')).toBe('{"approvals": {');
  });
});

describe('file state store: a transaction a killed process left half done', () => {
  it('is finished from its journal by the next transaction of any process', async () => {
    const root = temp();
    const dir = join(root, 'state');
    const store = createFileStateStore({ dir });
    const first = await store.issueToken(token('55555555-5555-4555-8555-555555555555'), now, 200);
    // What a process killed between its journal and its last write leaves: the journal, and the
    // token file written but not the agent's index (its second write).
    const second = token('66666666-6666-4666-8666-666666666666');
    const indexRel = `agents/${createHash('sha256').update('bot').digest('hex')}.json`;
    const index = { approvals: [], tokens: [first.id, second.id] };
    writeFileSync(join(dir, 'journal.json'), JSON.stringify([[`tokens/${second.id}.json`, JSON.stringify(second)], [indexRel, JSON.stringify(index)]]));
    writeFileSync(join(dir, 'tokens', `${second.id}.json`), JSON.stringify(second));
    const next = createFileStateStore({ dir });
    // The cap sees both tokens only once the journal was applied.
    await expect(next.issueToken(token('77777777-7777-4777-8777-777777777777'), now, 2)).rejects.toMatchObject({ code: 'TOO_MANY_TOKENS' });
    expect(existsSync(join(dir, 'journal.json'))).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, indexRel), 'utf8')).tokens).toEqual([first.id, second.id]);
    expect(readdirSync(join(dir, 'tokens')).sort()).toEqual([`${first.id}.json`, `${second.id}.json`]);
  });

  it('keeps every file private (0700 folders, 0600 files)', async () => {
    const root = temp();
    const dir = join(root, 'state');
    const store = createFileStateStore({ dir });
    await store.issueToken(token('88888888-8888-4888-8888-888888888888'), now, 200);
    const { statSync } = await import('node:fs');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'tokens')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'tokens', '88888888-8888-4888-8888-888888888888.json')).mode & 0o777).toBe(0o600);
  });
});

describe('file state store: memory', () => {
  it('keeps no parsed copy of a record it deleted: 300 short-lived tokens leave a handful cached, not 300', async () => {
    const records = new FileRecordBackend({ dir: join(temp(), 'state') });
    const store = new StateStore(records);
    for (let i = 0; i < 300; i++) {
      // Each issue prunes the agent's tokens that expired before it (TOKEN_RETENTION_MS is 0).
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const at = new Date(now.getTime() + i * 1000);
      await store.issueToken(token(id, { issued_at: at.toISOString(), expires_at: new Date(at.getTime() + 500).toISOString() }), at, 10);
      expect((await store.getToken(id))!.id).toBe(id);
    }
    expect(readdirSync(join(dirs.at(-1)!, 'state', 'tokens'))).toHaveLength(1);
    expect(records.cachedRecords).toBeLessThan(10);
  });
});
