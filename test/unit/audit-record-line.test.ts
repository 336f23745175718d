/**
 * The appender serializes each record once (record-hash.ts `hashAndLine`): the line it writes
 * must be exactly `JSON.stringify(record)`, for keyed and unkeyed records and every field.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog, type AuditEvent } from '../../src/audit/audit-log.js';
import { readAuditKey } from '../../src/audit/audit-key.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { hashRecord } from '../../src/audit/record-hash.js';
import { fileLines } from '../../src/shared/file-lines.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ass-audit-line-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const events: AuditEvent[] = [
  { actor: 'agent:a', action: 'get_secret', namespace: 'production/gemini', key: 'GEMINI_API_KEY', outcome: 'allowed', rule: 'tier:sensitive', latency_ms: 1.25 },
  { actor: 'agent:b', action: 'request_token', outcome: 'approval_requested', reason: 'déploiement "urgent" \\ ✓ \u2028 <b>', approval_id: 'apr_1', on_behalf_of: 'admin:alice' },
  { actor: 'admin:x', action: 'approve', outcome: 'ok', approval_id: 'apr_1', token_id: 'tok_1', error_code: 'NONE', continues: undefined },
];

describe('audit record lines', () => {
  for (const keyed of [true, false]) {
    it(`${keyed ? 'keyed' : 'unkeyed'}: every line written is JSON.stringify of its record, and the chain verifies`, async () => {
      const log = path.join(dir, 'audit.log');
      const keyPath = path.join(dir, 'audit.key');
      const audit = createAuditLog(log, undefined, keyed ? { keyPath } : {});
      const records = [];
      for (const event of events) records.push(await audit.append(event));
      await audit.close();
      const lines = readFileSync(log, 'utf8').split('\n').slice(0, -1);
      expect(lines).toEqual(records.map((record) => JSON.stringify(record)));
      expect(records.map((r) => r.v)).toEqual(keyed ? [2, 2, 2] : [undefined, undefined, undefined]);
      const verified = await verifyAuditLog(log, records.at(-1)!.hash, { key: keyed ? readAuditKey(keyPath) : null });
      expect(verified.problems).toEqual([]);
      expect(verified.ok).toBe(true);
    });
  }
});

describe('reading the log splits lines on "\\n" only', () => {
  it('a record whose reason holds U+2028 and U+2029 verifies and exports as one line (Node 24 readline splits on them)', async () => {
    const log = path.join(dir, 'audit.log');
    const audit = createAuditLog(log, undefined, {});
    const record = await audit.append({ actor: 'agent:a', action: 'get_secret', outcome: 'denied', reason: 'one\u2028two\u2029three' });
    await audit.close();
    const lines: string[] = [];
    for await (const line of fileLines(log)) lines.push(line);
    expect(lines).toEqual([JSON.stringify(record)]);
    const verified = await verifyAuditLog(log, record.hash, { key: null });
    expect(verified.problems).toEqual([]);
  });
});

describe('the hashed text of a record is JSON.stringify of its fields in order', () => {
  it('hashes as it always has: golden hashes computed with the earlier JSON.stringify-of-an-object form, so old logs still verify', () => {
    // Computed before the canonical text was built field by field (record-hash.ts), by the code then.
    const key = Buffer.alloc(32, 7);
    const base = { seq: 41, ts: '2026-11-29T20:00:00.000Z', prev: 'ab'.repeat(32) };
    const full = {
      ...base, actor: 'agent:b', action: 'request_token', namespace: 'production/gemini', key: 'GEMINI_API_KEY', outcome: 'approval_requested', rule: 'tier:critical',
      reason: 'déploiement "urgent" \\ ✓ \u2028 <b> \u0000\n', approval_id: 'apr_1', token_id: 'tok_1', error_code: 'NONE', latency_ms: 1.25, continues: 'x'.repeat(64), on_behalf_of: 'admin:alice',
    };
    expect(hashRecord(full)).toBe('cf0022b6a294e140d360f62fe393196e7f5d17292a8f81fa05bb7f7cb75fea48');
    expect(hashRecord({ ...full, v: 2 }, key)).toBe('137b02ddaceb3e3fed07d89f8f772bdb18adfdcfd4867057a2efe447c7973883');
    expect(hashRecord({ ...base, v: 2, actor: 'a', action: 'b', outcome: 'ok', latency_ms: 0.001 }, key)).toBe('8c2efd5120e4236a5e808751d68bd033d4730d4d3c4500ae67b2de378e74cc1e');
  });
});
