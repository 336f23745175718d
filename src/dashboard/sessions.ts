import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sessionEnded, type SessionBounds, type SessionRowsOpened } from '../server/session-rows-open.js';
import type { Clock } from '../shared/types.js';
import { openSession, sealSession, sessionKey } from './session-seal.js';

/**
 * Dashboard sign-in sessions, kept where the rest of the deployment's shared state is
 * (`sessions.json` in data_dir, or PostgreSQL with `state: { type: postgres }`), so a session
 * opened on any replica works on every replica, a sign-out on one ends it on all, and a restart
 * signs nobody out. A session is created only after an admin key (or the identity provider) was
 * checked; the browser holds a random 256-bit id in an HttpOnly cookie and only its sha256 is
 * stored, beside the session sealed under that id and the deployment's signing key
 * (session-seal.ts): nothing stored lets anyone use a session without the cookie.
 * A session ends after `idleMs` without a request, `absoluteMs` after sign-in, or at sign-out.
 */

/**
 * A person signed in through the OpenID Connect provider (auth.oidc): a limited session that may
 * only consent to OAuth clients and see or revoke its own sign-ins (security.ts allows nothing else),
 * unless their groups held `auth.oidc.admins_group` (then `adminsGroup` is set: an admin's session).
 */
export interface OidcPerson {
  sub: string;
  /** `oidc:<sub> (<email or name>)`: how grants and audit records name them. */
  human: string;
  /** The email or name the provider gave (untrusted text), named beside `oidc:<sub>` in admin actions' audit records. */
  label?: string;
  /**
   * The `auth.oidc.admins_group` they were in at sign-in (from the signature-checked ID token or
   * UserInfo): an admin's session while the config in force names this same group (security.ts).
   */
  adminsGroup?: string;
  /** The templates their groups gave them at sign-in. */
  templates: string[];
  /** oidcIssuerHash of the issuer they signed in at: the session ends when auth.oidc changes provider. */
  issuerHash: string;
}

export interface Session {
  /**
   * The admin's id; for an OIDC admin `oidc:<sub>` (who approves, for the distinct-approvers
   * rule); for a limited OIDC person, their `human` text (never an admin id: see `person`).
   */
  adminId: string;
  person?: OidcPerson;
  /** sha256 of the admin key signed in with: a session ends when that key is replaced in the config. */
  keySha256: string;
  /** Sent back in every form and checked on every state-changing request. */
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
  /**
   * The idle clock is written to the store at most this often per session (not on every
   * request): a session may end up to this much before its idle limit, never after it.
   * Capped at a tenth of `idleMs`.
   */
  touchEveryMs?: number;
  /** Live sessions per admin (or person): a further sign-in ends their least recently used one. */
  perAdmin?: number;
  /** Live sessions in all: a further sign-in ends the least recently used one. */
  total?: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000, touchEveryMs: 60_000, perAdmin: 20, total: 10_000 };

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Cookie values longer than this are not ours (ours are 43 characters). */
const MAX_ID = 100;

export class SessionStore {
  private opened: Promise<SessionRowsOpened> | undefined;
  private readonly limits: Required<SessionLimits>;

  constructor(
    private readonly clock: Clock,
    private readonly open: () => Promise<SessionRowsOpened>,
    limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    const full = { ...DEFAULT_SESSION_LIMITS, ...limits } as Required<SessionLimits>;
    this.limits = { ...full, touchEveryMs: Math.max(1, Math.min(full.touchEveryMs, Math.floor(full.idleMs / 10))) };
  }

  /** The store, opened once; a failure (PostgreSQL unreachable) is retried at the next request. */
  private store(): Promise<SessionRowsOpened> {
    if (!this.opened) {
      const opening = this.open();
      this.opened = opening;
      opening.catch(() => {
        if (this.opened === opening) this.opened = undefined;
      });
    }
    return this.opened;
  }

  private bounds(now: number): SessionBounds {
    return { now, idleMs: this.limits.idleMs, absoluteMs: this.limits.absoluteMs, perAdmin: this.limits.perAdmin, total: this.limits.total };
  }

  /** Starts a session (sweeping ended ones, making room under the caps); returns the cookie value (never stored) and the session. */
  async create(adminId: string, keySha256 = '', person?: OidcPerson): Promise<{ id: string; session: Session }> {
    const { rows, deploymentKey } = await this.store();
    const id = randomBytes(32).toString('base64url');
    const now = this.clock().getTime();
    const session: Session = { adminId, keySha256, ...(person ? { person } : {}), csrf: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now };
    const sealed = sealSession(id, deploymentKey, { adminId, keySha256, ...(person ? { person } : {}), csrf: session.csrf, createdAt: now });
    await rows.add({ idSha256: sessionKey(id), adminId, createdAt: now, lastSeenAt: now, sealed }, this.bounds(now));
    return { id, session };
  }

  /** The live session for a cookie value, its idle clock moved (in the store at most every `touchEveryMs`), or null. */
  touch(id: string | undefined): Promise<Session | null> {
    return this.find(id, true);
  }

  /** The live session without moving its idle clock (for long-lived streams), or null. */
  peek(id: string | undefined): Promise<Session | null> {
    return this.find(id, false);
  }

  private async find(id: string | undefined, move: boolean): Promise<Session | null> {
    if (!id || id.length > MAX_ID) return null;
    const { rows, deploymentKey } = await this.store();
    const key = sessionKey(id);
    const row = await rows.get(key);
    if (!row) return null;
    const now = this.clock().getTime();
    if (sessionEnded(row, this.bounds(now))) {
      await rows.remove(key);
      return null;
    }
    const opened = openSession(id, deploymentKey, row.sealed);
    // Security: a row that does not open with this cookie and this deployment's key, or whose
    // clear columns differ from what was sealed, was forged or edited in the store: no session.
    if (!opened || opened.adminId !== row.adminId || opened.createdAt !== row.createdAt) return null;
    if (move && now - row.lastSeenAt >= this.limits.touchEveryMs) await rows.seen(key, now);
    const { person, ...rest } = opened;
    return { ...rest, ...(person ? { person } : {}), lastSeenAt: move ? now : row.lastSeenAt };
  }

  /** Ends a session on every replica (sign-out); whether there was one. */
  async end(id: string | undefined): Promise<boolean> {
    if (!id || id.length > MAX_ID) return false;
    return (await this.store()).rows.remove(sessionKey(id));
  }

  /** Ends every session of an admin on every replica (that admin removed or re-keyed, their group no longer the admins group). */
  async endAllFor(adminId: string): Promise<void> {
    await (await this.store()).rows.removeAdmin(adminId);
  }
}

/** Whether the session is a person's limited one (consent and own sign-ins only), not an admin's. */
export function isLimited(session: Session): boolean {
  return Boolean(session.person && session.person.adminsGroup === undefined);
}

/** The admin acting in this session, as the human actions take it (human-decisions.ts `HumanAdmin`). */
export function actingAdmin(session: Session): { adminId: string; label?: string } {
  return session.person?.label !== undefined && session.person.adminsGroup !== undefined ? { adminId: session.adminId, label: session.person.label } : { adminId: session.adminId };
}

/** Constant-time comparison of a presented CSRF token with the expected one. */
export function tokensMatch(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(digest(presented), 'hex');
  const b = Buffer.from(digest(expected), 'hex');
  // Security: compare digests so the comparison time says nothing about the length or prefix.
  return timingSafeEqual(a, b);
}
