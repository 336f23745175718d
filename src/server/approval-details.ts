import { viewApproval } from '../approvals/approvals.js';
import type { ApprovalRecord } from '../approvals/types.js';
import { effectiveTier, formatTtl, parseScope, scopeCouldMatchIn, scopeMatches, type Scope } from '../policy/index.js';
import { AssError } from '../shared/errors.js';
import type { AccessTier, Action } from '../shared/types.js';
import type { Runtime } from './runtime.js';

/**
 * What a human needs to judge an approval request, computed once for every human surface (the
 * CLI's `approvals show|approve|deny`, the dashboard, webhooks), so they cannot drift apart.
 * Never a value: the secrets a request reaches are named with their tiers only.
 *
 * Security: `agent_reason`, `agent_id`, scopes and secret names come from an agent or a backend
 * and are untrusted text; each surface renders them inert (escaped HTML, plain terminal text).
 */

/** The states a human sees. `cancelled` and `revoked` are denials with a known cause. */
export type HumanApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled' | 'revoked';

/** Status for humans at `now`: pending includes an approval still in its delay (see `delay_remaining_ms`). */
export function humanStatus(a: ApprovalRecord, now: Date): HumanApprovalStatus {
  if (a.status === 'denied') return a.revoked ? 'revoked' : a.cancelled ? 'cancelled' : 'denied';
  return viewApproval(a, now).status;
}

export interface ReachedSecret {
  namespace: string;
  key: string;
  access_tier: AccessTier;
}

export interface ApprovalDetails {
  id: string;
  kind: ApprovalRecord['kind'];
  status: HumanApprovalStatus;
  agent_id: string;
  /** The scopes exactly as bound to the request (canonical form). */
  scopes: string[];
  ttl: string;
  max_uses: number | null;
  /** The agent's own words (untrusted), or null when it gave none. */
  agent_reason: string | null;
  /** The person an OAuth connector acts for, or null. */
  on_behalf_of: string | null;
  /** The server's description: which tool, which secret, which rule asked. */
  server_reason: string;
  rule: string;
  requested_at: string;
  /** Pending: when the request lapses. Approved: when the grant ends. */
  expires_at: string;
  approvals: { admin_id: string; at: string }[];
  approvals_required: number;
  /** Set while an approval waits out its delay (any admin may still cancel it). */
  delay_remaining_ms: number | null;
  effective_at: string | null;
  resolved_at: string | null;
  decided_by: string | null;
  /** Secrets the scopes reach right now (names and tiers), at most `limit` of them. */
  reaches: { secrets: ReachedSecret[]; total: number; truncated: boolean; error?: string };
}

export interface DescribeOptions {
  /** Most secrets listed by name (the total is still counted up to `countLimit`). */
  limit?: number;
  /** Stop counting beyond this many (a broad scope over a large store). */
  countLimit?: number;
}

/** The actions whose reach a human is shown (delete and rotate never appear in agent scopes). */
const REACH_ACTIONS: readonly Action[] = ['read', 'write', 'list', 'use'];

/**
 * The full picture of one request. The backend is listed only within the scopes' reach; a
 * backend that fails is reported in `reaches.error` rather than hiding the request.
 */
export async function describeApproval(runtime: Runtime, approval: ApprovalRecord, options: DescribeOptions = {}): Promise<ApprovalDetails> {
  const now = runtime.clock();
  const view = viewApproval(approval, now);
  const status = humanStatus(approval, now);
  const effective = approval.status === 'approved' && approval.resolved_at ? Date.parse(approval.resolved_at) + approval.delay_ms : null;
  const inDelay = effective !== null && now.getTime() < effective && status === 'pending';
  return {
    id: approval.id,
    kind: approval.kind,
    status,
    agent_id: approval.agent_id,
    scopes: [...approval.scopes],
    ttl: formatTtl(approval.ttl_ms),
    max_uses: approval.max_uses ?? null,
    agent_reason: approval.agent_reason ?? null,
    on_behalf_of: approval.on_behalf_of ?? null,
    server_reason: approval.reason,
    rule: approval.rule,
    requested_at: approval.created_at,
    expires_at: view.expires_at,
    approvals: approval.approvals.map((a) => ({ ...a })),
    approvals_required: approval.approvers_required,
    delay_remaining_ms: inDelay ? effective! - now.getTime() : null,
    effective_at: view.effective_at ?? null,
    resolved_at: approval.resolved_at ?? null,
    decided_by: approval.status === 'denied' ? (approval.denied_by ?? null) : approval.status === 'approved' ? approval.approvals.map((a) => a.admin_id).join(', ') : null,
    reaches: await reachedSecrets(runtime, approval.scopes.map(parseScope), options),
  };
}

async function reachedSecrets(runtime: Runtime, scopes: Scope[], options: DescribeOptions): Promise<ApprovalDetails['reaches']> {
  const limit = options.limit ?? 50;
  const countLimit = options.countLimit ?? 1000;
  const secrets: ReachedSecret[] = [];
  let total = 0;
  try {
    const namespaces = await runtime.backend.listNamespaces();
    outer: for (const namespace of namespaces) {
      const reaching = scopes.filter((s) => REACH_ACTIONS.some((a) => scopeCouldMatchIn(s, a, namespace)));
      if (reaching.length === 0) continue;
      for (const item of await runtime.backend.list(namespace)) {
        if (!reaching.some((s) => REACH_ACTIONS.some((a) => scopeMatches(s, a, namespace, item.key)))) continue;
        total++;
        if (secrets.length < limit) secrets.push({ namespace, key: item.key, access_tier: effectiveTier(runtime.settings.policy, namespace, item.access_tier) });
        if (total >= countLimit) break outer;
      }
    }
    return { secrets, total, truncated: total > secrets.length };
  } catch {
    // Security: the backend's own text stays out of what a human surface shows.
    return { secrets, total, truncated: true, error: 'The backend could not be listed, so the secrets these scopes reach are not shown.' };
  }
}

/** Shortest id prefix a human may type. */
export const MIN_ID_PREFIX = 6;

/**
 * The approval a human means by `idOrPrefix`: the exact id, or the one id starting with a
 * prefix of at least 6 characters. An ambiguous prefix lists the candidates; nothing matches →
 * APPROVAL_NOT_FOUND.
 */
export async function findApproval(runtime: Runtime, idOrPrefix: string): Promise<ApprovalRecord> {
  const all = (await runtime.approvals.list()).map(({ approval }) => approval);
  const exact = all.find((a) => a.id === idOrPrefix);
  if (exact) return exact;
  const wanted = idOrPrefix.trim().toLowerCase();
  if (wanted.length < MIN_ID_PREFIX) {
    throw new AssError('INVALID_ARGUMENT', `'${idOrPrefix.slice(0, 40)}' is too short: give the whole approval id or at least ${MIN_ID_PREFIX} of its first characters.`);
  }
  const candidates = all.filter((a) => a.id.startsWith(wanted));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length > 1) {
    const list = candidates.slice(0, 10).map((a) => `${a.id} (agent ${a.agent_id}, ${humanStatus(a, runtime.clock())})`).join('; ');
    throw new AssError('INVALID_ARGUMENT', `'${wanted}' matches ${candidates.length} approval requests: ${list}. Give more of the id.`);
  }
  throw new AssError('APPROVAL_NOT_FOUND', `No approval request '${idOrPrefix.slice(0, 80)}'. Run \`agent-secret-store approvals list\` to see the requests.`);
}
