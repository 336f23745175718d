import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
// Subpath imports: the `jose` index loads all of its ~46 modules at start-up; these load ~15.
import { JWTExpired } from 'jose/errors';
import { SignJWT } from 'jose/jwt/sign';
import { jwtVerify } from 'jose/jwt/verify';
import { AssError } from '../shared/errors.js';
import { DEFAULT_MAX_ACTIVE_TOKENS } from './limits.js';
import { ensurePrivateDir } from '../shared/durable-file.js';
import type { Clock } from '../shared/types.js';
import type { StateStore } from '../state/store.js';
import type { TokenRecord } from './types.js';

/** The audience every token names; a token for another service is refused. */
export const TOKEN_AUDIENCE = 'agent-secret-store';

export interface IssuedToken {
  token: string;
  token_id: string;
  expires_at: string;
}

export interface VerifiedToken {
  token_id: string;
  agent_id: string;
  scopes: string[];
  expires_at: string;
  /** Set when a human approved the token: it may reach secrets whose tier needs approval, within its scopes. */
  approval_id?: string;
  /** The key that asked for it; callers check it is still the agent's key. */
  key_sha256?: string;
  max_uses?: number;
  uses: number;
  /** Client addresses (IPs or CIDR blocks) the token may be used from; absent: any. */
  ip_allowlist?: string[];
  /** The OAuth grant the token was asked for under; callers check the grant still holds. */
  grant_id?: string;
}

/** What a new token is made from. */
export interface TokenInput {
  agentId: string;
  keySha256?: string;
  scopes: string[];
  ttlMs: number;
  maxUses?: number;
  /** Client addresses (IPs or CIDR blocks) the REST API will accept it from. */
  ipAllowlist?: string[];
  /** The OAuth grant of the session that asks (the token dies with it). */
  grantId?: string;
}

/**
 * Reads the HS256 signing key, creating it (32 random bytes, 0600, exclusive) on first use.
 * Concurrent first starts agree: the loser of the exclusive create reads the winner's key.
 */
export async function loadOrCreateSigningKey(path: string): Promise<Uint8Array> {
  await ensurePrivateDir(dirname(path));
  try {
    await writeFile(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = await readFile(path);
  if (key.length !== 32) throw new AssError('CONFIG_INVALID', `The token signing key file must hold 32 bytes (found ${key.length}). Delete it to have a new one made (issued tokens stop working).`);
  return new Uint8Array(key);
}

/**
 * Scoped, short-lived JWTs (HS256, `jose`). The JWT carries identity, scopes and expiry; the
 * state store carries what a signature cannot: revocation and use counts. Verifiers (the
 * REST API) call `verify` and then `consumeUse` for each request made with the token.
 */
export class Tokens {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly key: Uint8Array,
    private readonly issuer: string,
    private readonly maxActivePerAgent: number = DEFAULT_MAX_ACTIVE_TOKENS,
  ) {}

  /** The largest number of live tokens one agent may hold (`tokens.max_active_per_agent`). */
  get maxActive(): number {
    return this.maxActivePerAgent;
  }

  /** A new token record, not stored yet: `issue` stores it, or the approval's redemption does. */
  newRecord(input: TokenInput & { approvalId?: string }): TokenRecord {
    const now = this.clock();
    return {
      id: randomUUID(),
      agent_id: input.agentId,
      scopes: input.scopes,
      issued_at: now.toISOString(),
      expires_at: new Date(now.getTime() + input.ttlMs).toISOString(),
      uses: 0,
      ...(input.maxUses !== undefined ? { max_uses: input.maxUses } : {}),
      ...(input.approvalId ? { approval_id: input.approvalId } : {}),
      ...(input.keySha256 ? { key_sha256: input.keySha256 } : {}),
      ...(input.ipAllowlist?.length ? { ip_allowlist: input.ipAllowlist } : {}),
      ...(input.grantId ? { grant_id: input.grantId } : {}),
    };
  }

  /**
   * Stores and signs a new token.
   * @throws AssError TOO_MANY_TOKENS when the agent holds `tokens.max_active_per_agent` live ones.
   */
  async issue(input: TokenInput): Promise<IssuedToken> {
    // Security: every token is state until it expires; bounded per agent, under the store's lock.
    const record = await this.store.issueToken(this.newRecord(input), this.clock(), this.maxActivePerAgent);
    return this.sign(record);
  }

  async sign(record: TokenRecord): Promise<IssuedToken> {
    const jwt = new SignJWT({
      scope: record.scopes.join(' '),
      ...(record.max_uses !== undefined ? { max_uses: record.max_uses } : {}),
      ...(record.approval_id ? { approval_id: record.approval_id } : {}),
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(record.agent_id)
      .setJti(record.id)
      .setIssuedAt(Math.floor(Date.parse(record.issued_at) / 1000))
      .setExpirationTime(Math.floor(Date.parse(record.expires_at) / 1000));
    return { token: await jwt.sign(this.key), token_id: record.id, expires_at: record.expires_at };
  }

  /** Checks signature, issuer, audience, expiry, revocation and remaining uses. */
  async verify(token: string): Promise<VerifiedToken> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        issuer: this.issuer,
        audience: TOKEN_AUDIENCE,
        algorithms: ['HS256'],
        currentDate: this.clock(),
      }));
    } catch (error) {
      const expired = error instanceof JWTExpired;
      throw new AssError('UNAUTHENTICATED', expired ? 'The token has expired. Call request_token for a new one.' : 'The token is not valid (bad signature, issuer or audience). Call request_token for a new one.');
    }
    const record = payload.jti ? await this.store.getToken(payload.jti) : undefined;
    if (!record || record.agent_id !== payload.sub) throw new AssError('UNAUTHENTICATED', 'The token is not known to this server. Call request_token for a new one.');
    if (record.revoked_at) throw new AssError('UNAUTHENTICATED', 'The token was revoked by a human.');
    if (record.max_uses !== undefined && record.uses >= record.max_uses) throw new AssError('UNAUTHENTICATED', `The token has been used its ${record.max_uses} allowed times. Call request_token for a new one.`);
    return {
      token_id: record.id,
      agent_id: record.agent_id,
      scopes: record.scopes,
      expires_at: record.expires_at,
      uses: record.uses,
      ...(record.approval_id ? { approval_id: record.approval_id } : {}),
      ...(record.key_sha256 ? { key_sha256: record.key_sha256 } : {}),
      ...(record.max_uses !== undefined ? { max_uses: record.max_uses } : {}),
      ...(record.ip_allowlist ? { ip_allowlist: record.ip_allowlist } : {}),
      ...(record.grant_id ? { grant_id: record.grant_id } : {}),
    };
  }

  /**
   * Counts one use of a token with `max_uses`; of concurrent callers at the last use exactly one
   * succeeds. A token without `max_uses` has nothing to count: it is checked against the current
   * record as committed (revoked or gone → refused) without a state transaction, so a REST call with it
   * writes nothing (`uses` stays 0 for such tokens; the audit log records every call).
   */
  async consumeUse(tokenId: string): Promise<void> {
    const current = await this.store.getToken(tokenId);
    if (current && !current.revoked_at && current.max_uses === undefined) return;
    await this.store.consumeUse(tokenId);
  }
}
