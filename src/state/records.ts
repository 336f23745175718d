/** Stored status. `expired` is derived from time and never stored, so it is never confused with `denied`. */
export type StoredApprovalStatus = 'pending' | 'approved' | 'denied';
/** What an agent sees (the seed's four states). */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

/** `secret_access`: a get_secret/set_secret needing a human; `token`: a request_token beyond what is automatic. */
export type ApprovalKind = 'secret_access' | 'token';

export interface ApprovalRecord {
  id: string;
  kind: ApprovalKind;
  agent_id: string;
  /** Canonical scopes (parsed, deduplicated, sorted) the approval is bound to. */
  scopes: string[];
  /** How long the grant lasts once it takes effect. */
  ttl_ms: number;
  max_uses?: number;
  /** Words for the human: which tool, which secret, which rule asked. Never a value. */
  reason: string;
  /**
   * What the agent itself said it needs this for (`reason` of request_token / get_secret, at most
   * 500 characters). Untrusted text: every surface renders it inert, never as markup.
   */
  agent_reason?: string;
  /** Set when the agent is an OAuth connector: the person it acts for (`admin:alice`). */
  on_behalf_of?: string;
  rule: string;
  created_at: string;
  /** A pending request expires then. */
  expires_at: string;
  approvers_required: number;
  delay_ms: number;
  approvals: { admin_id: string; at: string }[];
  status: StoredApprovalStatus;
  denied_by?: string;
  /** Set with status `denied` when a human cancelled an approval still in its delay. */
  cancelled?: boolean;
  /** Set with status `denied` when the agent's key was revoked while this was open or in force. */
  revoked?: boolean;
  /** When the last needed approval or the denial came. */
  resolved_at?: string;
  /** Set once `approval.expired` was emitted for this lapsed request (by whichever process swept first). */
  expiry_announced?: boolean;
  /** When a token was issued from this approval (a token approval is redeemed once). */
  redeemed_at?: string;
}

export interface TokenRecord {
  id: string;
  agent_id: string;
  scopes: string[];
  issued_at: string;
  expires_at: string;
  max_uses?: number;
  uses: number;
  /** The approval the token came from, if a human approved it. */
  approval_id?: string;
  /** sha256 of the agent key that asked for it: a token dies with its key, even under a reused agent id. */
  key_sha256?: string;
  /** Client addresses (IPs or CIDR blocks) the REST API accepts the token from; absent: any. */
  ip_allowlist?: string[];
  /** The OAuth grant the token was asked for under: it dies with that grant. */
  grant_id?: string;
  revoked_at?: string;
}
