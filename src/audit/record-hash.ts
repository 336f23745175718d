/**
 * How an audit record is hashed into the chain.
 *
 * - Version 1 (records without `v`): SHA-256 of the record's fields in a fixed order. Anyone can
 *   recompute it, so a deleted record plus a recomputed chain verifies (kept only to verify
 *   logs written before version 2).
 * - Version 2 (`v: 2`): HMAC-SHA-256 with the audit key (`audit.key`, see audit-key.ts) over
 *   the same fields plus `v`. Recomputing the chain needs that key, which neither an agent nor
 *   the store directory gives.
 */
import { createHash, createHmac } from 'node:crypto';

/** Fields of an event, in hashing order. `continues` is only on rotation records; `on_behalf_of` (added later) only on calls made with a person's sign-in. Absent fields are not hashed, so older records verify unchanged. */
export const EVENT_FIELDS = ['actor', 'action', 'namespace', 'key', 'outcome', 'rule', 'reason', 'approval_id', 'token_id', 'error_code', 'latency_ms', 'continues', 'on_behalf_of'] as const;

/** The record format that new records are written in when an audit key is configured. */
export const KEYED_VERSION = 2;

export interface HashableRecord {
  seq: number;
  ts: string;
  prev: string;
  v?: number;
  [field: string]: unknown;
}

/**
 * `JSON.stringify` of the record's fields in hashing order, byte for byte (the golden hashes in
 * test/unit/audit-record-line.test.ts pin it), written as text field by field: building the
 * ordered object first was the audit append's largest allocation (bench/RESULTS.md).
 */
function canonical(record: HashableRecord): string {
  let text = `{"seq":${JSON.stringify(record.seq)},"ts":${JSON.stringify(record.ts)},"prev":${JSON.stringify(record.prev)}`;
  if (record.v !== undefined) text += `,"v":${JSON.stringify(record.v)}`;
  for (const field of EVENT_FIELDS) {
    // As JSON.stringify of an object: a field whose value has no JSON form is left out.
    const value = record[field] === undefined ? undefined : JSON.stringify(record[field]);
    if (value !== undefined) text += `,"${field}":${value}`;
  }
  return `${text}}`;
}

/**
 * The hash of a record (every field but `hash`, chained through `prev`). A keyed record
 * (`v: 2`) needs `key`; without it this returns null (the caller reports that it cannot check).
 */
export function hashRecord(record: HashableRecord, key?: Buffer | null): string | null {
  return hashCanonical(canonical(record), record.v, key);
}

/**
 * The hash and the JSON line (without its newline) of a record whose fields are already in
 * hashing order (seq, ts, prev, v, then EVENT_FIELDS, none undefined), as the appender builds
 * them: the line is the canonical text with `hash` added last, which is exactly
 * `JSON.stringify({...record, hash})`, so the record is serialized once rather than twice.
 */
export function hashAndLine(record: HashableRecord, key?: Buffer | null): { hash: string; line: string } | null {
  const text = canonical(record);
  const hash = hashCanonical(text, record.v, key);
  return hash === null ? null : { hash, line: `${text.slice(0, -1)},"hash":${JSON.stringify(hash)}}` };
}

function hashCanonical(text: string, v: number | undefined, key?: Buffer | null): string | null {
  if (v === undefined) return createHash('sha256').update(text).digest('hex');
  if (v !== KEYED_VERSION || !key) return null;
  return createHmac('sha256', key).update(text).digest('hex');
}
