/**
 * Finding 7 of issue 9: the audit chain is keyed. Deleting a record and recomputing the chain
 * (which passed `audit verify` when the chain was a plain SHA-256) fails without the audit key;
 * older unkeyed logs still verify, and a chain recomputed unkeyed after the key was in use is
 * caught as a downgrade.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuditLog, rotateAuditLog, type AuditRecord } from '../../src/audit/audit-log.js';
import { readAuditKey } from '../../src/audit/audit-key.js';
import { verifyAuditLog } from '../../src/audit/verify.js';

const FIELDS = ['actor', 'action', 'namespace', 'key', 'outcome', 'rule', 'reason', 'approval_id', 'token_id', 'error_code', 'latency_ms', 'continues'] as const;

function fresh(): { path: string; keyPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ass-audit-keyed-'));
  return { path: join(dir, 'audit.log'), keyPath: join(dir, 'audit.key') };
}

async function write(path: string, keyPath: string | undefined, n: number, from = 0): Promise<void> {
  const log = createAuditLog(path, undefined, keyPath ? { keyPath } : {});
  for (let i = from; i < from + n; i++) await log.append({ actor: 'agent:bot', action: 'get_secret', namespace: 'production/stripe', key: `K${i}`, outcome: 'allowed' });
}

const records = (path: string): AuditRecord[] => readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as AuditRecord);

/** What an attacker without the key can do: recompute every hash as the unkeyed chain did. */
function recomputeUnkeyed(list: AuditRecord[], keepVersion: boolean): string {
  let prev = '0'.repeat(64);
  return list
    .map((record, i) => {
      const { hash: _hash, v, ...rest } = record;
      const body: Record<string, unknown> = { ...rest, seq: i + 1, prev };
      if (keepVersion) body.v = v;
      const ordered: Record<string, unknown> = { seq: body.seq, ts: body.ts, prev: body.prev };
      if (keepVersion && v !== undefined) ordered.v = v;
      for (const field of FIELDS) if (body[field] !== undefined) ordered[field] = body[field];
      const hash = createHash('sha256').update(JSON.stringify(ordered)).digest('hex');
      prev = hash;
      return JSON.stringify({ ...ordered, hash });
    })
    .join('\n') + '\n';
}

describe('keyed audit chain', () => {
  it('creates audit.key (0600) on first use and writes keyed records that verify with it', async () => {
    const { path, keyPath } = fresh();
    await write(path, keyPath, 3);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(records(path).every((r) => r.v === 2)).toBe(true);
    const key = readAuditKey(keyPath);
    expect(key?.keyedFromSeq).toBe(1);
    expect(await verifyAuditLog(path, undefined, { key })).toMatchObject({ ok: true, count: 3, keyed: true });
    // Without the key, keyed records cannot be checked: that is a failure, never a pass.
    const unkeyed = await verifyAuditLog(path);
    expect(unkeyed.ok).toBe(false);
    expect(unkeyed.problems[0]?.problem).toMatch(/no audit key/);
  });

  it('a deleted record with the chain recomputed (as v2, without the key) fails verify', async () => {
    const { path, keyPath } = fresh();
    await write(path, keyPath, 5);
    const list = records(path);
    list.splice(2, 1);
    writeFileSync(path, recomputeUnkeyed(list, true));
    const result = await verifyAuditLog(path, undefined, { key: readAuditKey(keyPath) });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.problem).join('\n')).toMatch(/does not match its hash/);
  });

  it('a deleted record with the chain recomputed in the old unkeyed format is caught as a downgrade', async () => {
    const { path, keyPath } = fresh();
    await write(path, keyPath, 5);
    const list = records(path);
    list.splice(2, 1);
    writeFileSync(path, recomputeUnkeyed(list, false));
    const result = await verifyAuditLog(path, undefined, { key: readAuditKey(keyPath) });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.problem).join('\n')).toMatch(/unkeyed record where keyed records were written/);
  });

  it('an older unkeyed log still verifies, and goes on keyed from the next record; a downgrade after that is caught', async () => {
    const { path, keyPath } = fresh();
    await write(path, undefined, 3);
    expect(records(path).some((r) => r.v !== undefined)).toBe(false);
    await write(path, keyPath, 2, 3);
    const key = readAuditKey(keyPath)!;
    expect(key.keyedFromSeq).toBe(4);
    expect(records(path).map((r) => r.v)).toEqual([undefined, undefined, undefined, 2, 2]);
    expect(await verifyAuditLog(path, undefined, { key })).toMatchObject({ ok: true, count: 5 });
    // Rewriting all of it unkeyed (deleting record 4) passes the plain chain but not the key's start.
    const list = records(path);
    list.splice(3, 1);
    writeFileSync(path, recomputeUnkeyed(list, false));
    const result = await verifyAuditLog(path, undefined, { key });
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.problem).join('\n')).toMatch(/unkeyed record where keyed records were written/);
  });

  it('rotation keeps the chain keyed, and a keyed log whose key file is gone refuses to append', async () => {
    const { path, keyPath } = fresh();
    await write(path, keyPath, 2);
    const rotation = await rotateAuditLog(path, 'admin:ops', new Date('2026-11-25T10:00:00Z'), { keyPath });
    expect(rotation.first.v).toBe(2);
    await write(path, keyPath, 1, 2);
    const key = readAuditKey(keyPath);
    expect(await verifyAuditLog(path, undefined, { all: true, key })).toMatchObject({ ok: true, count: 4 });
    rmSync(keyPath);
    await expect(createAuditLog(path, undefined, { keyPath }).append({ actor: 'system', action: 'x', outcome: 'ok' })).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
      cause: expect.objectContaining({ message: expect.stringMatching(/key file .* is missing/) }),
    });
  });
  it('rotating a keyed log without its key is refused and changes nothing (an unkeyed record there would read as tampering)', async () => {
    const { path, keyPath } = fresh();
    await write(path, keyPath, 3);
    const before = readFileSync(path, 'utf8');
    await expect(rotateAuditLog(path, 'admin:admin')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(readFileSync(path, 'utf8')).toBe(before);
    await rotateAuditLog(path, 'admin:admin', new Date(), { keyPath });
    expect((await verifyAuditLog(path, undefined, { all: true, key: readAuditKey(keyPath) })).ok).toBe(true);
  });
});
