import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { hashRecord, type AuditRecord } from './audit-log.js';

export interface AuditVerification {
  ok: boolean;
  /** Lines read. */
  count: number;
  /** Hash of the last good record: write it down elsewhere to detect a cut-off tail later. */
  head: string | null;
  problems: { line: number; problem: string }[];
}

/**
 * Checks every line: parses, has the next sequence number, points at the previous line's
 * hash, and hashes to its own `hash`. An edited line breaks its own hash; an inserted or
 * deleted line breaks `seq` and `prev`. A cut-off tail can only be seen against a head
 * recorded elsewhere (pass it as `expectedHead`).
 */
export async function verifyAuditLog(path: string, expectedHead?: string): Promise<AuditVerification> {
  const problems: AuditVerification['problems'] = [];
  let count = 0;
  let prev = '0'.repeat(64);
  let expectedSeq = 1;
  let head: string | null = null;
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    count++;
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      problems.push({ line: count, problem: 'not valid JSON' });
      continue;
    }
    const { hash, ...body } = record;
    if (record.seq !== expectedSeq) problems.push({ line: count, problem: `sequence ${record.seq} where ${expectedSeq} was expected (a line was inserted or deleted)` });
    if (record.prev !== prev) problems.push({ line: count, problem: 'does not chain to the previous line (a line was inserted, deleted or edited)' });
    if (hashRecord(body) !== hash) problems.push({ line: count, problem: 'content does not match its hash (the line was edited)' });
    prev = hash;
    head = hash;
    expectedSeq = (typeof record.seq === 'number' ? record.seq : expectedSeq) + 1;
  }
  if (expectedHead && head !== expectedHead) problems.push({ line: count, problem: `the last record's hash is not the expected head ${expectedHead.slice(0, 12)}… (the tail was cut or extended)` });
  return { ok: problems.length === 0, count, head, problems };
}
