import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../shared/types.js';

/**
 * Dashboard sign-in sessions, held in this process's memory. A session is created only after
 * an admin key was checked; the browser holds a random 256-bit id in an HttpOnly cookie and
 * only its sha256 is kept here, so a memory dump does not yield usable cookies. A session ends
 * after `idleMs` without a request, `absoluteMs` after sign-in, or at sign-out (removed here, so
 * a copied cookie stops working at once).
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
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };

const digest = (id: string): string => createHash('sha256').update(id).digest('hex');

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {}

  /** Starts a session; returns the cookie value (never stored) and the session. */
  create(adminId: string, keySha256 = '', person?: OidcPerson): { id: string; session: Session } {
    this.sweep();
    const id = randomBytes(32).toString('base64url');
    const now = this.clock().getTime();
    const session: Session = { adminId, keySha256, ...(person ? { person } : {}), csrf: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session for a cookie value (its idle clock restarts), or null. */
  touch(id: string | undefined): Session | null {
    if (!id || id.length > 100) return null;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (!session) return null;
    const now = this.clock().getTime();
    if (now - session.lastSeenAt >= this.limits.idleMs || now - session.createdAt >= this.limits.absoluteMs) {
      this.sessions.delete(key);
      return null;
    }
    session.lastSeenAt = now;
    return session;
  }

  /** Whether a session is alive, without restarting its idle clock (for long-lived streams). */
  isAlive(id: string | undefined): boolean {
    if (!id || id.length > 100) return false;
    const session = this.sessions.get(digest(id));
    if (!session) return false;
    const now = this.clock().getTime();
    return now - session.lastSeenAt < this.limits.idleMs && now - session.createdAt < this.limits.absoluteMs;
  }

  /** Ends a session server-side (sign-out). */
  end(id: string | undefined): boolean {
    return id ? this.sessions.delete(digest(id)) : false;
  }

  /** Ends every session of an admin (e.g. when that admin is removed). */
  endAllFor(adminId: string): void {
    for (const [key, s] of this.sessions) if (s.adminId === adminId) this.sessions.delete(key);
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const now = this.clock().getTime();
    for (const [key, s] of this.sessions) {
      if (now - s.lastSeenAt >= this.limits.idleMs || now - s.createdAt >= this.limits.absoluteMs) this.sessions.delete(key);
    }
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
