import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditLog } from '../../src/audit/verify.js';

async function logWith(n: number): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'ass-audit-')), 'audit.log');
  const log = createAuditLog(path);
  for (let i = 0; i < n; i++) await log.append({ actor: 'agent:bot', action: 'get_secret', namespace: 'production/gemini', key: `K${i}`, outcome: 'allowed', rule: 'tier:standard' });
  return path;
}

const lines = (path: string): string[] => readFileSync(path, 'utf8').trimEnd().split('\n');

describe('audit log', () => {
  it('chains records and verifies an untouched log', async () => {
    const path = await logWith(5);
    const result = await verifyAuditLog(path);
    expect(result).toMatchObject({ ok: true, count: 5 });
    expect(lines(path).map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps one chain across concurrent appenders', async () => {
    const path = await logWith(0);
    const a = createAuditLog(path);
    const b = createAuditLog(path);
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append({ actor: 'system', action: 'x', outcome: 'ok' })));
    expect(await verifyAuditLog(path)).toMatchObject({ ok: true, count: 40 });
  });

  it.each([
    ['edited', (l: string[]) => { l[2] = l[2]!.replace('"allowed"', '"denied"'); }, /line 3: content does not match/],
    ['deleted', (l: string[]) => { l.splice(2, 1); }, /line 3: sequence 4 where 3/],
    ['inserted', (l: string[]) => { l.splice(2, 0, l[1]!); }, /line 3: sequence 2 where 3/],
    ['garbage', (l: string[]) => { l[1] = 'not json'; }, /line 2: not valid JSON/],
  ])('detects a %s line', async (_name, mutate, expected) => {
    const path = await logWith(5);
    const l = lines(path);
    mutate(l);
    writeFileSync(path, `${l.join('\n')}\n`);
    const result = await verifyAuditLog(path);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => `line ${p.line}: ${p.problem}`).join('\n')).toMatch(expected);
  });

  it('detects a cut-off tail against a recorded head', async () => {
    const path = await logWith(5);
    const { head } = await verifyAuditLog(path);
    writeFileSync(path, `${lines(path).slice(0, 4).join('\n')}\n`);
    expect((await verifyAuditLog(path)).ok).toBe(true);
    expect((await verifyAuditLog(path, head!)).ok).toBe(false);
  });

  it('fails closed with AUDIT_UNAVAILABLE when the log cannot be written', async () => {
    const path = await logWith(1);
    // A path under a regular file cannot be created, whoever runs the test (root ignores modes).
    const blocked = createAuditLog(join(path, 'cannot-be-under-a-file.log'));
    await expect(blocked.append({ actor: 'system', action: 'x', outcome: 'ok' })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });

  it('copies only known fields, so a stray value field never reaches the log', async () => {
    const path = await logWith(0);
    const log = createAuditLog(path);
    await log.append({ actor: 'agent:bot', action: 'set_secret', outcome: 'allowed', value: 'canary-value-123' } as never);
    expect(readFileSync(path, 'utf8')).not.toContain('canary-value-123');
  });
});
