import { lstatSync } from 'node:fs';
import { fileLines } from '../shared/file-lines.js';
import { basename, dirname, join } from 'node:path';
import { hashRecord, readLastLine, type AuditRecord } from './audit-log.js';
import type { AuditKey } from './audit-key.js';
import { KEYED_VERSION } from './record-hash.js';
import { readTornTails, tornPathOf } from './torn-tail.js';

const GENESIS = '0'.repeat(64);

export interface AuditVerification {
  ok: boolean;
  /** Lines read (in every file checked). */
  count: number;
  /** Hash of the last good record: write it down elsewhere to detect a cut-off tail later. */
  head: string | null;
  /** The files checked, oldest first (more than one after `audit rotate`, with `all`). */
  files: string[];
  /**
   * When the log starts with an `audit.rotate` record: the older file it continues, and whether
   * that file was there to check the link against (a file archived elsewhere is not a problem).
   */
  continues?: { file: string; present: boolean };
  /**
   * With `all`: an older file a `continues` link names that is not beside the log (archived
   * elsewhere, or deleted): the chain before it was not checked.
   */
  notChecked?: string[];
  problems: { file: string; line: number; problem: string }[];
  /** Whether keyed records were checked with the audit key (false: no key was given or found). */
  keyed: boolean;
  /**
   * Torn last lines (writes cut short by a full disk or a crash) that an append kept aside in
   * `<log>.torn` before going on; each also has an `audit.repair` record in the chain.
   */
  tornTails?: { file: string; ts: string; offset: number; length: number }[];
}

export interface VerifyOptions {
  /** After `audit rotate`: check every older file in full. */
  all?: boolean;
  /** The audit key: needed to check keyed records, and to catch a chain recomputed without it. */
  key?: AuditKey | null;
}

/**
 * Checks every line: parses, has the next sequence number, points at the previous line's
 * hash, and hashes to its own `hash`. An edited line breaks its own hash; an inserted or
 * deleted line breaks `seq` and `prev`. A cut-off tail can only be seen against a head
 * recorded elsewhere (pass it as `expectedHead`).
 *
 * A log rotated by `audit rotate` starts with an `audit.rotate` record that chains to the last
 * record of the file it names; that link is checked when the file is beside the log, and with
 * `all` every older file is checked in full, back to the first.
 */
export async function verifyAuditLog(path: string, expectedHead?: string, options: VerifyOptions = {}): Promise<AuditVerification> {
  const result: AuditVerification = { ok: true, count: 0, head: null, files: [], problems: [], keyed: Boolean(options.key) };
  const kept = readTornTails(path);
  if (kept.length > 0) result.tornTails = kept.map((tail) => ({ file: basename(tornPathOf(path)), ts: tail.ts, offset: tail.offset, length: tail.length }));
  // No log yet (a new setup before its first request): an empty chain, intact, unless a head
  // was recorded for it.
  if (!lstatSync(path, { throwIfNoEntry: false })) {
    if (expectedHead) result.problems.push({ file: basename(path), line: 0, problem: `the log does not exist, but a head ${expectedHead.slice(0, 12)}… was recorded (it was deleted or moved)` });
    result.ok = result.problems.length === 0;
    return result;
  }
  const current = await verifyFile(path, result, options.key ?? null);
  await linkToOlder(path, current, result, Boolean(options.all), options.key ?? null);
  if (expectedHead && current.head !== expectedHead) {
    result.problems.push({ file: basename(path), line: current.count, problem: `the last record's hash is not the expected head ${expectedHead.slice(0, 12)}… (the tail was cut or extended)` });
  }
  result.head = current.head;
  result.ok = result.problems.length === 0;
  return result;
}

/** When the log continues an older file (after `audit rotate`): checks the link (and, with `all`, the older files). */
export async function linkToOlder(path: string, current: FileCheck, result: AuditVerification, all: boolean, key: AuditKey | null): Promise<void> {
  if (current.continues === undefined) return;
  result.continues = { file: current.continues, present: olderFileState(path, current.continues) === 'present' };
  await checkOlder(path, current.continues, current.firstPrev, current.firstSeq, result, all, key);
}

/** Whether a `continues` name is a regular file beside the log (never a link, FIFO or folder). */
function olderFileState(path: string, name: string): 'present' | 'absent' | 'invalid' {
  // Security: the name comes from the file; it may only name a file beside the log.
  if (name === '' || name !== basename(name) || name === '.' || name === '..') return 'invalid';
  const info = lstatSync(join(dirname(path), name), { throwIfNoEntry: false });
  if (!info) return 'absent';
  return info.isFile() ? 'present' : 'invalid';
}

/** Follows `continues` links back from `path`: the link always, whole files only with `all`. */
async function checkOlder(path: string, name: string, prev: string, seq: number, result: AuditVerification, all: boolean, key: AuditKey | null): Promise<void> {
  const seen = new Set<string>([basename(path)]);
  for (let linkFrom = path, older = name, linkPrev = prev, linkSeq = seq; ; ) {
    const report = (problem: string) => result.problems.push({ file: basename(linkFrom), line: 1, problem });
    const state = olderFileState(path, older);
    if (state === 'invalid' || seen.has(older)) {
      report(`continues '${older}', which is not a regular file beside the log (the first line was edited)`);
      return;
    }
    seen.add(older);
    if (state === 'absent') {
      if (linkFrom !== path) (result.notChecked ??= []).push(older);
      return;
    }
    const olderPath = join(dirname(path), older);
    const lastLine = readLastLine(olderPath);
    let last: Partial<AuditRecord> = {};
    try {
      last = lastLine ? (JSON.parse(lastLine) as AuditRecord) : {};
    } catch {
      // reported below as a broken link
    }
    if (last.hash !== linkPrev || (typeof last.seq === 'number' && last.seq + 1 !== linkSeq)) {
      report(`does not chain to the last record of ${older} (that file's tail was cut, extended or edited)`);
    }
    if (!all) return;
    const checked = await verifyFile(olderPath, result, key);
    if (checked.continues === undefined) return;
    [linkFrom, older, linkPrev, linkSeq] = [olderPath, checked.continues, checked.firstPrev, checked.firstSeq];
  }
}

export interface FileCheck {
  count: number;
  head: string | null;
  /** Set when the first record is an `audit.rotate` record. */
  continues?: string;
  firstPrev: string;
  firstSeq: number;
}

/** Where a chain check stands after some lines: enough to go on with the next line. */
export interface ChainState extends FileCheck {
  prev: string;
  expectedSeq: number;
  /** Line number of the last line that was not JSON (0: none). */
  badJson: number;
  keyedSeen: boolean;
  missingKeyReported: boolean;
}

export function newChainState(): ChainState {
  return { count: 0, head: null, firstPrev: GENESIS, firstSeq: 1, prev: GENESIS, expectedSeq: 1, badJson: 0, keyedSeen: false, missingKeyReported: false };
}

/**
 * Checks one line against the chain so far (its JSON, `seq`, `prev`, keyed-ness and hash) and
 * moves the state on; problems are pushed to `problems`. Shared by the full check below and the
 * dashboard's incremental one (incremental-verify.ts), so both judge a line the same way.
 */
export function checkChainLine(check: ChainState, line: string, file: string, key: AuditKey | null, problems: AuditVerification['problems']): void {
  check.count++;
  let record: AuditRecord;
  try {
    record = JSON.parse(line) as AuditRecord;
  } catch {
    problems.push({ file, line: check.count, problem: 'not valid JSON' });
    check.badJson = check.count;
    return;
  }
  if (check.count === 1 && record.action === 'audit.rotate' && typeof record.continues === 'string') {
    // The chain goes on from an older file: start from where that file ended.
    check.continues = record.continues;
    check.firstPrev = check.prev = String(record.prev);
    check.firstSeq = check.expectedSeq = record.seq;
  }
  const { hash, ...body } = record;
  if (record.seq !== check.expectedSeq) problems.push({ file, line: check.count, problem: `sequence ${record.seq} where ${check.expectedSeq} was expected (a line was inserted or deleted)` });
  if (record.prev !== check.prev) problems.push({ file, line: check.count, problem: 'does not chain to the previous line (a line was inserted, deleted or edited)' });
  if (record.v !== undefined) check.keyedSeen = true;
  else if (check.keyedSeen || (key && typeof record.seq === 'number' && record.seq >= key.keyedFromSeq)) {
    // Security: an unkeyed record where the key was in use is a chain recomputed without it.
    problems.push({ file, line: check.count, problem: 'an unkeyed record where keyed records were written (the chain was recomputed without the audit key: records were deleted, inserted or edited)' });
  }
  const expected = hashRecord(body, key?.key);
  if (expected === null) {
    if (record.v !== KEYED_VERSION) problems.push({ file, line: check.count, problem: `unknown record version ${String(record.v)}` });
    else if (!check.missingKeyReported) {
      check.missingKeyReported = true;
      problems.push({ file, line: check.count, problem: 'keyed records, but no audit key to check them with (audit.key beside the data is missing or unreadable)' });
    }
  } else if (expected !== hash) problems.push({ file, line: check.count, problem: 'content does not match its hash (the line was edited, or the chain was recomputed without the audit key)' });
  check.prev = hash;
  check.head = hash;
  check.expectedSeq = (typeof record.seq === 'number' ? record.seq : check.expectedSeq) + 1;
}

/** The problem a cut-short last line gets (what a crash in the middle of a write leaves). */
export function tornLastLineProblem(path: string): string {
  return `the last line is incomplete (a write was cut short by a full disk or a crash). The next record written keeps it aside in ${basename(tornPathOf(path))} and goes on; nothing needs removing by hand`;
}

async function verifyFile(path: string, result: AuditVerification, key: AuditKey | null): Promise<FileCheck> {
  const file = basename(path);
  const check = newChainState();
  for await (const line of fileLines(path)) checkChainLine(check, line, file, key, result.problems);
  if (check.badJson === check.count && check.count > 0) {
    result.problems.at(-1)!.problem = tornLastLineProblem(path);
  }
  result.count += check.count;
  result.files.unshift(file);
  return check;
}
