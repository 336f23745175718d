import { open, readFile } from 'node:fs/promises';
import type { AuditRecord } from '../audit/audit-log.js';

/**
 * Reads the current audit file for the dashboard: newest first, filtered, at most `limit`
 * records (the file can be long; the chain is checked separately, incremental-verify.ts).
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

const CHUNK = 256 * 1024;

/**
 * The newest `limit` records that pass `filter`, newest first, read backwards from the end of
 * the file in 256 KiB chunks: a view costs what it shows, not the length of the log (a filter
 * that matches little still reads back until it has `limit` or reaches the start).
 * `more` says whether older matching records exist beyond those returned.
 */
export async function readAuditRecords(path: string, filter: AuditFilter, limit = 200): Promise<{ records: AuditRecord[]; more: boolean; bytesRead: number }> {
  const records: AuditRecord[] = [];
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return { records, more: false, bytesRead: 0 };
  }
  let bytesRead = 0;
  try {
    let end = (await handle.stat()).size;
    // Bytes of a line whose start is in an earlier chunk.
    let tail = Buffer.alloc(0);
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const chunk = Buffer.allocUnsafe(end - start);
      const { bytesRead: n } = await handle.read(chunk, 0, chunk.length, start);
      bytesRead += n;
      const data = tail.length ? Buffer.concat([chunk.subarray(0, n), tail]) : chunk.subarray(0, n);
      // Every line but the first is whole; the first may continue in the previous chunk.
      let stop = data.length;
      for (let nl = data.lastIndexOf(0x0a, stop - 1); nl !== -1; nl = data.lastIndexOf(0x0a, stop - 1)) {
        if (take(data.subarray(nl + 1, stop), filter, records, limit)) return { records: records.slice(0, limit), more: true, bytesRead };
        stop = nl;
        if (stop === 0) break;
      }
      tail = Buffer.from(data.subarray(0, stop));
      end = start;
    }
    if (tail.length && take(tail, filter, records, limit)) return { records: records.slice(0, limit), more: true, bytesRead };
    return { records, more: false, bytesRead };
  } finally {
    await handle.close();
  }
}

/** Parses and filters one line into `records`; true once there is one more than `limit` (so: more exist). */
function take(line: Buffer, filter: AuditFilter, records: AuditRecord[], limit: number): boolean {
  if (line.length === 0) return false;
  let record: AuditRecord;
  try {
    record = JSON.parse(line.toString('utf8')) as AuditRecord;
  } catch {
    return false; // A damaged line is for the chain check to report.
  }
  if (!matches(record, filter)) return false;
  records.push(record);
  return records.length > limit;
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
export async function lastActivity(path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return out;
  }
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
