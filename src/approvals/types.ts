/** The approval and token records live with the state store, which keeps them; re-exported for the domain. */
export type { ApprovalKind, ApprovalRecord, ApprovalStatus, StoredApprovalStatus, TokenRecord } from '../state/records.js';
