import { AssError } from '../shared/errors.js';
import { SharedJsonFile } from '../shared/shared-json-file.js';

/**
 * Where dashboard sign-in sessions are kept so that every process of a deployment sees the same
 * ones: `sessions.json` beside state.json (one host, any number of processes on one data_dir) or
 * PostgreSQL (`state: { type: postgres }`, table `ass_dashboard_sessions`, pg-session-rows.ts).
 * A row is stored under the sha256 of the browser's cookie id; what the session is (admin,
 * person, CSRF token) is sealed in `sealed` by the dashboard (src/dashboard/session-seal.ts) under
 * a key only the cookie and the deployment's signing key make. This layer only keeps rows,
 * bounds them, and knows the clear columns it selects by: the admin and the two instants.
 */

export interface SessionRow {
  /** sha256 (hex) of the cookie's id: the key; the id itself is never stored. */
  idSha256: string;
  /** Who the session belongs to: `endAll(adminId)` and the per-admin cap select by it. */
  adminId: string;
  createdAt: number;
  /** The last request that moved the idle clock (written at most every few seconds, see SessionLimits). */
  lastSeenAt: number;
  sealed: string;
}

/** What `add` sweeps and caps by. */
export interface SessionBounds {
  now: number;
  idleMs: number;
  absoluteMs: number;
  /** Live sessions one admin (or person) may hold; the one seen least recently makes room. */
  perAdmin: number;
  /** Live sessions in all; the one seen least recently makes room. */
  total: number;
}

export interface SessionRowStore {
  /** Drops ended sessions, makes room under both caps, then stores `row`, in one step. */
  add(row: SessionRow, bounds: SessionBounds): Promise<void>;
  get(idSha256: string): Promise<SessionRow | undefined>;
  /** Moves the idle clock forward to `at` (never back). */
  seen(idSha256: string, at: number): Promise<void>;
  /** Ends one session; whether it existed. */
  remove(idSha256: string): Promise<boolean>;
  /** Ends every session of one admin (or person); how many. */
  removeAdmin(adminId: string): Promise<number>;
  /** Drops sessions past either limit at `now`; how many. */
  sweep(bounds: Pick<SessionBounds, 'now' | 'idleMs' | 'absoluteMs'>): Promise<number>;
  close(): Promise<void>;
}

/** Whether a row is past its idle or absolute limit at `now`. */
export function sessionEnded(row: Pick<SessionRow, 'createdAt' | 'lastSeenAt'>, b: Pick<SessionBounds, 'now' | 'idleMs' | 'absoluteMs'>): boolean {
  return b.now - row.lastSeenAt >= b.idleMs || b.now - row.createdAt >= b.absoluteMs;
}

/** The keys to drop so that one more fits under `max`: the least recently seen first. */
export function overCap(rows: SessionRow[], max: number): string[] {
  const over = rows.length - max + 1;
  if (over <= 0) return [];
  return [...rows].sort((x, y) => x.lastSeenAt - y.lastSeenAt).slice(0, over).map((r) => r.idSha256);
}

interface FileData {
  sessions: Record<string, SessionRow>;
}

/**
 * `sessions.json` in data_dir, written atomically under a file lock (durable-file.ts), so every
 * process on the data_dir (serve --http, the dashboard command) shares it. Reads reuse the last
 * parse while the file's stamp (one stat) is unchanged.
 */
export class FileSessionRows implements SessionRowStore {
  private readonly doc: SharedJsonFile<FileData>;

  constructor(path: string) {
    this.doc = new SharedJsonFile(path, (text) => this.parse(text));
  }

  private parse(text: string | null): FileData {
    if (text === null) return { sessions: {} };
    try {
      const parsed = JSON.parse(text) as Partial<FileData>;
      return { sessions: parsed.sessions && typeof parsed.sessions === 'object' ? parsed.sessions : {} };
    } catch {
      throw new AssError('INTEGRITY_ERROR', 'The dashboard session file (sessions.json) is not valid JSON; delete it (everyone signs in again).');
    }
  }

  async add(row: SessionRow, bounds: SessionBounds): Promise<void> {
    await this.doc.change((data) => {
      for (const [key, r] of Object.entries(data.sessions)) if (sessionEnded(r, bounds)) delete data.sessions[key];
      for (const key of overCap(Object.values(data.sessions).filter((r) => r.adminId === row.adminId), bounds.perAdmin)) delete data.sessions[key];
      for (const key of overCap(Object.values(data.sessions), bounds.total)) delete data.sessions[key];
      data.sessions[row.idSha256] = row;
    });
  }

  async get(idSha256: string): Promise<SessionRow | undefined> {
    const { sessions } = this.doc.read();
    return Object.hasOwn(sessions, idSha256) ? { ...sessions[idSha256]! } : undefined;
  }

  async seen(idSha256: string, at: number): Promise<void> {
    await this.doc.change((data) => {
      const row = Object.hasOwn(data.sessions, idSha256) ? data.sessions[idSha256] : undefined;
      if (row && row.lastSeenAt < at) row.lastSeenAt = at;
    });
  }

  remove(idSha256: string): Promise<boolean> {
    return this.doc.change((data) => {
      if (!Object.hasOwn(data.sessions, idSha256)) return false;
      delete data.sessions[idSha256];
      return true;
    });
  }

  removeAdmin(adminId: string): Promise<number> {
    return this.doc.change((data) => {
      let n = 0;
      for (const [key, r] of Object.entries(data.sessions)) if (r.adminId === adminId) (delete data.sessions[key], n++);
      return n;
    });
  }

  sweep(bounds: Pick<SessionBounds, 'now' | 'idleMs' | 'absoluteMs'>): Promise<number> {
    return this.doc.change((data) => {
      let n = 0;
      for (const [key, r] of Object.entries(data.sessions)) if (sessionEnded(r, bounds)) (delete data.sessions[key], n++);
      return n;
    });
  }

  async close(): Promise<void> {}
}
