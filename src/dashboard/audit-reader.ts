import { readFile } from 'node:fs/promises';
import type { AuditRecord } from '../audit/audit-log.js';

/**
 * Reads the current audit file for the dashboard: newest first, filtered, at most `limit`
 * records (the file can be long; verification is done separately by verifyAuditLog).
 * Lines that do not parse are skipped here; verification reports them.
 */

export interface AuditFilter {
  agent?: string;
  action?: string;
  outcome?: string;
  /** ISO timestamps, inclusive. */
  from?: string;
  to?: string;
}

export async function readAuditRecords(source: string | (() => Promise<string | null>), filter: AuditFilter, limit = 200): Promise<{ records: AuditRecord[]; matched: number }> {
  const text = await auditText(source);
  if (text === null) return { records: [], matched: 0 };
  const lines = text.split('\n');
  const records: AuditRecord[] = [];
  let matched = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line) continue;
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      continue;
    }
    if (!matches(record, filter)) continue;
    matched++;
    if (records.length < limit) records.push(record);
  }
  return { records, matched };
}

function matches(r: AuditRecord, f: AuditFilter): boolean {
  if (f.agent && r.actor !== `agent:${f.agent}` && !(r.reason ?? '').includes(`agent ${f.agent}`)) return false;
  if (f.action && r.action !== f.action) return false;
  if (f.outcome && r.outcome !== f.outcome) return false;
  if (f.from && r.ts < f.from) return false;
  if (f.to && r.ts > f.to) return false;
  return true;
}

/** The latest record of each `agent:<id>` actor: last activity per agent. */
export async function lastActivity(source: string | (() => Promise<string | null>)): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const text = await auditText(source);
  if (text === null) return out;
  for (const line of text.split('\n')) {
    if (!line.includes('"actor":"agent:')) continue;
    try {
      const r = JSON.parse(line) as AuditRecord;
      if (r.actor.startsWith('agent:')) out.set(r.actor.slice('agent:'.length), r.ts);
    } catch {
      // A damaged line is for `audit verify` to report.
    }
  }
  return out;
}

/** A file path (read here), or a loader of the log's text (the PostgreSQL audit log, see server/postgres-setup.ts). */
async function auditText(source: string | (() => Promise<string | null>)): Promise<string | null> {
  if (typeof source === 'function') return await source();
  try {
    return await readFile(source, 'utf8');
  } catch {
    return null;
  }
}
