import type { State } from './state-store.js';

/**
 * Everything a revoked agent key leaves behind, ended in one transaction: the key itself (even
 * servers started earlier refuse it on their next call), every token the agent holds, and its
 * pending or approved approvals — so re-adding an agent under the same id inherits nothing.
 */
export function revokeAgent(state: State, input: { agentId: string; keySha256: string; adminId: string; now: Date }): { tokens: number; approvals: number } {
  const at = input.now.toISOString();
  if (!state.revoked_key_hashes.includes(input.keySha256)) state.revoked_key_hashes.push(input.keySha256);
  let tokens = 0;
  for (const token of Object.values(state.tokens)) {
    if (token.agent_id === input.agentId && !token.revoked_at) {
      token.revoked_at = at;
      tokens++;
    }
  }
  let approvals = 0;
  for (const approval of Object.values(state.approvals)) {
    if (approval.agent_id === input.agentId && approval.status !== 'denied') {
      approval.status = 'denied';
      approval.denied_by = `${input.adminId} (agent revoked)`;
      approval.revoked = true;
      approval.resolved_at = at;
      approvals++;
    }
  }
  return { tokens, approvals };
}
