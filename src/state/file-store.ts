/**
 * The embedded state store: one small file per record in a private directory, so that an
 * operation reads and writes only the records it names and the records of one agent — its cost
 * does not grow with the history kept (issue 9, finding 1). Layout under `dir`:
 *
 *   approvals/<id>.json   tokens/<id>.json    one record each
 *   agents/<sha256>.json  the ids of one agent's approvals and tokens (its index)
 *   pending.json          ids of approvals whose stored status is pending (capped per agent)
 *   revoked/<sha256>      one empty file per revoked agent key
 *   outbox.json           the webhook outbox (bounded by notifications.queue_size)
 *   journal.json          a transaction's writes while they are applied (see commit)
 *   version               changes on every commit (what open dashboards poll)
 *   secret-writes         changes on every secret write of any process (what read caches poll)
 *   store.lock            the cross-process lock of every transaction
 *
 * Transactions take one lock shared by every process on the machine (the durable-file helpers).
 * A transaction writing one file replaces it atomically; one writing several first writes them
 * all to the journal (fsynced), then applies them, then removes it: a process killed in between
 * leaves a journal the next transaction (of any process) applies again, so a transaction is
 * never half done. A `state.json` of earlier versions is migrated once, on first open.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { OutboxState } from '../shared/approval-events.js';
import { ensurePrivateDir, isErrno, readSmallFileSync, withFileLock, writeFileAtomic } from '../shared/durable-file.js';
import { AssError } from '../shared/errors.js';
import { MemoryRateBuckets, type RateLimits, type RateVerdict } from './rate-limit.js';
import type { ApprovalRecord, TokenRecord } from './records.js';
import type { RecordBackend, RecordTx } from './store.js';
import { StateStore } from './store.js';

export interface FileStateStoreOptions {
  /** The store's directory (made 0700). */
  dir: string;
  /** A `state.json` of earlier versions, migrated into `dir` on first open and then renamed `*.migrated`. */
  legacyFile?: string;
}

interface AgentIndex {
  approvals: string[];
  tokens: string[];
}

/** The one-file state of versions before this store, as it was read for the migration. */
interface LegacyState extends OutboxState {
  approvals?: Record<string, ApprovalRecord>;
  tokens?: Record<string, TokenRecord>;
  revoked_key_hashes?: string[];
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

const approvalFile = (id: string): string => `approvals/${id}.json`;
const tokenFile = (id: string): string => `tokens/${id}.json`;
const agentFile = (agentId: string): string => `agents/${sha256(agentId)}.json`;
/** A key hash is hex already; anything else is hashed again so a name never leaves the folder. */
const revokedFile = (keySha256: string): string => `revoked/${HEX64.test(keySha256) ? keySha256 : sha256(keySha256)}`;
const PENDING = 'pending.json';
const OUTBOX = 'outbox.json';
const JOURNAL = 'journal.json';
const VERSION = 'version';
const SECRET_WRITES = 'secret-writes';
const SUBDIRS = ['approvals', 'tokens', 'agents', 'revoked'];
const EMPTY_SHELLS = new Set(['{"approvals":[],"tokens":[]}', '[]', '{"outbox":[]}']);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function corrupt(file: string, cause: unknown): AssError {
  return new AssError('INTEGRITY_ERROR', `The state file ${file} is not valid JSON; it may have been edited by hand. Restore the state directory from a backup.`, {}, { cause });
}

/** Parsed, frozen records cached by file identity: a reader parses a record once per change. */
class RecordCache {
  private readonly entries = new Map<string, { mtimeMs: number; ino: number; size: number; value: unknown }>();

  read<T>(file: string): T | undefined {
    const info = statSync(file, { throwIfNoEntry: false });
    if (!info) {
      this.entries.delete(file);
      return undefined;
    }
    const hit = this.entries.get(file);
    if (hit && hit.mtimeMs === info.mtimeMs && hit.ino === info.ino && hit.size === info.size) return hit.value as T;
    const text = readSmallFileSync(file);
    if (text === null) return undefined;
    let value: T;
    try {
      value = deepFreeze(JSON.parse(text) as T);
    } catch (error) {
      throw corrupt(file, error);
    }
    // Bounded: a long listing must not keep every record of the history in memory.
    if (this.entries.size >= 20_000) this.entries.clear();
    this.entries.set(file, { mtimeMs: info.mtimeMs, ino: info.ino, size: info.size, value });
    return value;
  }

  /**
   * Drops a record this process deleted. Without it, every token and approval pruned stayed
   * cached until the 20,000-entry bound (about 14 MiB): a stdio soak's heap climbed with each
   * short-lived token it had asked for (test/reliability/soak-stdio.test.ts).
   */
  forget(file: string): void {
    this.entries.delete(file);
  }

  /** How many records are cached (test/unit/state-file-store.test.ts). */
  get size(): number {
    return this.entries.size;
  }
}

export class FileRecordBackend implements RecordBackend {
  private readonly cache = new RecordCache();
  /** Rate-limit buckets stay in this process's memory, as they always have with the embedded store. */
  private readonly rates = new MemoryRateBuckets();
  private ready: Promise<void> | null = null;

  constructor(private readonly options: FileStateStoreOptions) {}

  private abs(rel: string): string {
    return path.join(this.options.dir, rel);
  }

  /** How many parsed records this process keeps (bounded; deleted ones are dropped at once). */
  get cachedRecords(): number {
    return this.cache.size;
  }

  /** The record at `rel` as committed (frozen; shared with other readers). */
  readCommitted<T>(rel: string): T | undefined {
    return this.cache.read<T>(this.abs(rel));
  }

  private dirsReady: Promise<void> | null = null;

  /** Makes the folders (0700), once per process. */
  private dirs(): Promise<void> {
    return (this.dirsReady ??= (async () => {
      await ensurePrivateDir(this.options.dir);
      for (const sub of SUBDIRS) mkdirSync(this.abs(sub), { recursive: true, mode: 0o700 });
    })().catch((error: unknown) => {
      this.dirsReady = null;
      throw error;
    }));
  }

  /** Before the first lock-free read: the folders, and a legacy state.json migrated (by an empty transaction). */
  private ensureReady(): Promise<void> {
    return (this.ready ??= (async () => {
      await this.dirs();
      if (this.options.legacyFile && existsSync(this.options.legacyFile)) await this.transact(async () => undefined);
    })().catch((error: unknown) => {
      this.ready = null;
      throw error;
    }));
  }

  async transact<T>(fn: (tx: RecordTx) => Promise<T>): Promise<T> {
    await this.dirs();
    return withFileLock(this.abs('store'), async (stillHeld) => {
      await this.recover();
      const tx = new FileTx(this);
      const result = await fn(tx);
      const writes = tx.writes();
      // Security: a compare-and-set. A process that stalled past the lock's stale limit
      // (stopped, swapping, event loop blocked) lost the lock to another, which may have decided
      // differently meanwhile (a deny): nothing this transaction read may have changed, and the
      // lock must still be ours, or its stale copy is not written over that decision.
      if (writes.length > 0 && (!stillHeld() || !tx.unchangedSinceRead())) {
        throw new AssError('BACKEND_UNAVAILABLE', 'The state changed while this operation was stalled (another process took over the lock); nothing was written. Check the current state, then retry.');
      }
      await this.commit(writes);
      return result;
    });
  }

  /**
   * Under the lock: applies a journal a killed process left, then migrates a legacy state.json
   * (one journaled transaction, then the old file is renamed so it is never migrated twice).
   */
  private async recover(): Promise<void> {
    const journal = readSmallFileSync(this.abs(JOURNAL));
    if (journal !== null) {
      let writes: [string, string | null][];
      try {
        writes = JSON.parse(journal) as [string, string | null][];
      } catch (error) {
        // writeFileAtomic never leaves a torn journal: this one was edited by hand.
        throw corrupt(this.abs(JOURNAL), error);
      }
      await this.apply(writes);
      unlinkSync(this.abs(JOURNAL));
      // The killed process never told pollers of its change.
      writeFileSync(this.abs(VERSION), randomBytes(8).toString('hex'), { mode: 0o600 });
    }
    const legacy = this.options.legacyFile;
    if (!legacy) return;
    const text = readSmallFileSync(legacy);
    if (text === null) return;
    let old: LegacyState;
    try {
      old = JSON.parse(text) as LegacyState;
    } catch (error) {
      throw new AssError('INTEGRITY_ERROR', `The approvals state file ${legacy} is not valid JSON, so it cannot be migrated; restore it from a backup.`, {}, { cause: error });
    }
    const tx = new FileTx(this);
    for (const a of Object.values(old.approvals ?? {})) tx.putApproval(a);
    for (const t of Object.values(old.tokens ?? {})) tx.putToken(t);
    for (const h of old.revoked_key_hashes ?? []) tx.addRevokedKey(h);
    if (old.outbox?.length || old.outbox_stats) Object.assign(await tx.outbox(), { outbox: old.outbox ?? [], ...(old.outbox_stats ? { outbox_stats: old.outbox_stats } : {}) });
    await this.commit(tx.writes());
    renameSync(legacy, `${legacy}.migrated`);
  }

  /** Writes a transaction's files: one atomically, several through the journal. */
  private async commit(writes: [string, string | null][]): Promise<void> {
    if (writes.length === 0) return;
    if (writes.length > 1) await writeFileAtomic(this.abs(JOURNAL), JSON.stringify(writes));
    await this.apply(writes);
    if (writes.length > 1) unlinkSync(this.abs(JOURNAL));
    // Not durable on purpose: it only tells pollers that something changed.
    writeFileSync(this.abs(VERSION), randomBytes(8).toString('hex'), { mode: 0o600 });
  }

  private async apply(writes: [string, string | null][]): Promise<void> {
    await Promise.all(
      writes.map(async ([rel, content]) => {
        const file = this.abs(rel);
        if (content !== null) return writeFileAtomic(file, content);
        try {
          unlinkSync(file);
        } catch (error) {
          if (!isErrno(error, 'ENOENT')) throw error;
        }
        this.cache.forget(file);
      }),
    );
  }

  async approval(id: string): Promise<ApprovalRecord | undefined> {
    await this.ensureReady();
    return SAFE_ID.test(id) ? this.readCommitted<ApprovalRecord>(approvalFile(id)) : undefined;
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    await this.ensureReady();
    return SAFE_ID.test(id) ? this.readCommitted<TokenRecord>(tokenFile(id)) : undefined;
  }

  async agentApprovals(agentId: string): Promise<ApprovalRecord[]> {
    await this.ensureReady();
    const index = this.readCommitted<AgentIndex>(agentFile(agentId));
    return (index?.approvals ?? []).map((id) => this.readCommitted<ApprovalRecord>(approvalFile(id))).filter((a): a is ApprovalRecord => a !== undefined);
  }

  async pendingApprovals(): Promise<ApprovalRecord[]> {
    await this.ensureReady();
    const ids = this.readCommitted<string[]>(PENDING) ?? [];
    return ids.map((id) => this.readCommitted<ApprovalRecord>(approvalFile(id))).filter((a): a is ApprovalRecord => a !== undefined);
  }

  async listApprovals(): Promise<ApprovalRecord[]> {
    await this.ensureReady();
    return this.listDir<ApprovalRecord>('approvals');
  }

  async listTokens(): Promise<TokenRecord[]> {
    await this.ensureReady();
    return this.listDir<TokenRecord>('tokens');
  }

  private listDir<T>(sub: string): T[] {
    const out: T[] = [];
    for (const name of readdirSync(this.abs(sub))) {
      if (name.startsWith('.') || !name.endsWith('.json')) continue; // a temp file of a write in progress
      const record = this.readCommitted<T>(`${sub}/${name}`);
      if (record) out.push(record);
    }
    return out;
  }

  async isRevoked(keySha256: string): Promise<boolean> {
    await this.ensureReady();
    return existsSync(this.abs(revokedFile(keySha256)));
  }

  async revocationCount(): Promise<number> {
    await this.ensureReady();
    return readdirSync(this.abs('revoked')).filter((name) => !name.startsWith('.')).length;
  }

  async outbox(): Promise<OutboxState> {
    await this.ensureReady();
    return this.readCommitted<OutboxState>(OUTBOX) ?? { outbox: [] };
  }

  async changeMarker(): Promise<string> {
    await this.ensureReady();
    return readSmallFileSync(this.abs(VERSION)) ?? '';
  }

  async takeRate(key: string, count: number, limits: RateLimits): Promise<RateVerdict> {
    return this.rates.take(key, count, limits);
  }

  async pruneRates(): Promise<number> {
    return this.rates.prune();
  }

  async secretWriteMarker(): Promise<string> {
    await this.ensureReady();
    return readSmallFileSync(this.abs(SECRET_WRITES)) ?? '';
  }

  /** A fresh random marker, replaced atomically: no lock needed, any change is the signal. */
  async publishSecretWrite(): Promise<void> {
    await this.ensureReady();
    await writeFileAtomic(this.abs(SECRET_WRITES), randomBytes(16).toString('hex'));
  }

  async close(): Promise<void> {}
}

/**
 * One transaction's view: records read under the lock (private copies), changed in place by the
 * domain, and written at commit when their text changed.
 */
class FileTx implements RecordTx {
  /** rel path → the record as this transaction sees it (null: deleted) and the text it was read from. */
  private readonly seen = new Map<string, { value: unknown; text: string | null }>();

  constructor(private readonly backend: FileRecordBackend) {}

  private load<T>(rel: string): T | undefined {
    const hit = this.seen.get(rel);
    if (hit) return (hit.value ?? undefined) as T | undefined;
    const committed = this.backend.readCommitted<T>(rel);
    const value = committed === undefined ? null : structuredClone(committed);
    this.seen.set(rel, { value, text: committed === undefined ? null : JSON.stringify(committed) });
    return (value ?? undefined) as T | undefined;
  }

  private set(rel: string, value: unknown): void {
    this.load(rel);
    this.seen.get(rel)!.value = value;
  }

  private index(agentId: string): AgentIndex {
    const rel = agentFile(agentId);
    let index = this.load<AgentIndex>(rel);
    if (!index) {
      index = { approvals: [], tokens: [] };
      this.set(rel, index);
    }
    return index;
  }

  private pendingIds(): string[] {
    let ids = this.load<string[]>(PENDING);
    if (!ids) {
      ids = [];
      this.set(PENDING, ids);
    }
    return ids;
  }

  async approval(id: string): Promise<ApprovalRecord | undefined> {
    return SAFE_ID.test(id) ? this.load<ApprovalRecord>(approvalFile(id)) : undefined;
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    return SAFE_ID.test(id) ? this.load<TokenRecord>(tokenFile(id)) : undefined;
  }

  async agentApprovals(agentId: string): Promise<ApprovalRecord[]> {
    const index = this.index(agentId);
    const found = index.approvals.map((id) => this.load<ApprovalRecord>(approvalFile(id)));
    // An id whose file is gone (pruned by a global sweep) leaves the index.
    index.approvals = index.approvals.filter((_, i) => found[i] !== undefined);
    return found.filter((a): a is ApprovalRecord => a !== undefined);
  }

  async agentTokens(agentId: string): Promise<TokenRecord[]> {
    const index = this.index(agentId);
    const found = index.tokens.map((id) => this.load<TokenRecord>(tokenFile(id)));
    index.tokens = index.tokens.filter((_, i) => found[i] !== undefined);
    return found.filter((t): t is TokenRecord => t !== undefined);
  }

  putApproval(record: ApprovalRecord): void {
    if (!SAFE_ID.test(record.id)) throw new AssError('INTEGRITY_ERROR', 'An approval id is not a plain identifier; refusing to store it.');
    this.set(approvalFile(record.id), record);
    const index = this.index(record.agent_id);
    if (!index.approvals.includes(record.id)) index.approvals.push(record.id);
    const pending = this.pendingIds();
    const at = pending.indexOf(record.id);
    if (record.status === 'pending' && at < 0) pending.push(record.id);
    if (record.status !== 'pending' && at >= 0) pending.splice(at, 1);
  }

  deleteApproval(record: ApprovalRecord): void {
    this.set(approvalFile(record.id), null);
    const index = this.index(record.agent_id);
    index.approvals = index.approvals.filter((id) => id !== record.id);
    const pending = this.pendingIds();
    const at = pending.indexOf(record.id);
    if (at >= 0) pending.splice(at, 1);
  }

  putToken(record: TokenRecord): void {
    if (!SAFE_ID.test(record.id)) throw new AssError('INTEGRITY_ERROR', 'A token id is not a plain identifier; refusing to store it.');
    this.set(tokenFile(record.id), record);
    const index = this.index(record.agent_id);
    if (!index.tokens.includes(record.id)) index.tokens.push(record.id);
  }

  deleteToken(record: TokenRecord): void {
    this.set(tokenFile(record.id), null);
    const index = this.index(record.agent_id);
    index.tokens = index.tokens.filter((id) => id !== record.id);
  }

  addRevokedKey(keySha256: string): void {
    this.seen.set(revokedFile(keySha256), { value: '', text: null });
  }

  async outbox(): Promise<OutboxState> {
    let outbox = this.load<OutboxState>(OUTBOX);
    if (!outbox) {
      outbox = { outbox: [] };
      this.set(OUTBOX, outbox);
    }
    return outbox;
  }

  /** What changed: [rel path, new text or null to delete]. */
  /** True when every record this transaction read is still as it read it (re-read from disk now). */
  unchangedSinceRead(): boolean {
    for (const [rel, { text }] of this.seen) {
      if (rel.startsWith('revoked/')) continue; // written blind, never read
      const now = this.backend.readCommitted<unknown>(rel);
      if ((now === undefined ? null : JSON.stringify(now)) !== text) return false;
    }
    return true;
  }

  writes(): [string, string | null][] {
    const out: [string, string | null][] = [];
    for (const [rel, { value, text }] of this.seen) {
      if (rel.startsWith('revoked/')) {
        out.push([rel, '']);
        continue;
      }
      const next = value === null ? null : JSON.stringify(value);
      // An index or outbox looked at but never filled is not worth a file.
      if (text === null && next !== null && EMPTY_SHELLS.has(next)) continue;
      if (next !== text) out.push([rel, next]);
    }
    return out;
  }
}

/** The embedded state store over `dir` (see the file's comment for the layout). */
export function createFileStateStore(options: FileStateStoreOptions): StateStore {
  return new StateStore(new FileRecordBackend(options));
}
