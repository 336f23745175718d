import type { AccessTier, SecretMetadata, SecretType } from '../shared/types.js';

/** Response shapes of the eight tools, field for field as in the seed. */

export interface GetSecretResponse {
  value: string;
  secret_type: SecretType;
  access_tier: AccessTier;
  metadata: SecretMetadata;
  version: number;
}

/** The fields set_secret answers and every list_secrets item carries (never the value). */
interface SecretSummaryFields {
  namespace: string;
  key: string;
  version: number;
  secret_type: SecretType;
  access_tier: AccessTier;
  created_at: string;
}

export interface SetSecretResponse extends SecretSummaryFields {
  id: string;
}

export interface SecretListItem extends SecretSummaryFields {
  updated_at: string;
}

export interface ListSecretsResponse {
  namespace: string;
  items: SecretListItem[];
  total: number;
}

export interface ListNamespacesResponse {
  namespaces: string[];
  total: number;
}

export interface HumanAuthResponse {
  requires_human_auth: true;
  message: string;
}

export type RequestTokenResponse =
  | { token: string; token_id: string; expires_at: string; requires_approval: false; scopes: string[]; ttl: string }
  | { requires_approval: true; approval_id: string; message: string; approval_url?: string };

export interface ApprovalStatusResponse {
  status: 'pending' | 'approved' | 'denied' | 'expired';
  resolved_at: string | null;
  expires_at: string;
  effective_at?: string;
  approvals_received: number;
  approvals_required: number;
  /** Beside the seed's fields: the request's page while it is pending, when a dashboard is known. */
  approval_url?: string;
}

/**
 * What the service returns: the seed's fields plus facts of the record a REST client wants
 * (id, timestamps, labels). The MCP tools pass on exactly the seed's fields (the `to…` below);
 * REST returns all of it, with no second backend read.
 */
export interface GetSecretResult extends GetSecretResponse {
  id: string;
  created_at: string;
  updated_at: string;
}
export interface SetSecretResult extends SetSecretResponse {
  updated_at: string;
}
export interface SecretListItemResult extends SecretListItem {
  id: string;
  metadata: SecretMetadata;
}
export interface ListSecretsResult {
  namespace: string;
  items: SecretListItemResult[];
  total: number;
}

export const toGetSecretResponse = (r: GetSecretResult): GetSecretResponse => ({
  value: r.value, secret_type: r.secret_type, access_tier: r.access_tier, metadata: r.metadata, version: r.version,
});
export const toSetSecretResponse = (r: SetSecretResult): SetSecretResponse => ({
  id: r.id, namespace: r.namespace, key: r.key, version: r.version, secret_type: r.secret_type, access_tier: r.access_tier, created_at: r.created_at,
});
export const toListSecretsResponse = (r: ListSecretsResult): ListSecretsResponse => ({
  namespace: r.namespace,
  total: r.total,
  items: r.items.map((i) => ({ namespace: i.namespace, key: i.key, version: i.version, secret_type: i.secret_type, access_tier: i.access_tier, created_at: i.created_at, updated_at: i.updated_at })),
});

/** The seed's wording, pointing at our CLI (and the dashboard when one is configured). */
export function humanAuthMessage(operation: 'delete' | 'rotate', namespace: string, key: string, dashboardUrl?: string, command = 'agent-secret-store'): string {
  const noun = operation === 'delete' ? 'deletion' : 'rotation';
  const where = dashboardUrl ? ` or the dashboard at ${dashboardUrl}` : '';
  return (
    `Secret ${noun} requires human authorization. Use \`${command} secrets ${operation} ${namespace} ${key}\`` +
    `${where} to ${operation} ${namespace}/${key}.`
  );
}
