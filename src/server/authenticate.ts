import { AssError } from '../shared/errors.js';
import { ADMIN_KEY_PREFIX, matchKey } from './keys.js';
import type { AgentSettings, Settings } from './settings.js';

export const AGENT_KEYS_OFF = 'Agent keys are turned off on this server (auth.agent_keys: false); connect with an OAuth sign-in.';

/** False when `auth.agent_keys: false`: no transport (stdio, MCP over HTTP, REST) accepts an agent key or a token asked for with one. */
export function agentKeysAccepted(settings: Settings): boolean {
  // Partial settings (unit fixtures, older callers) without an auth section mean the default: on.
  return settings.config.auth?.agent_keys !== false;
}

/**
 * Resolves an agent key to its agent (constant-time per entry), or throws UNAUTHENTICATED.
 * The one place every transport checks an agent key, so `auth.agent_keys: false` holds for all.
 */
export function authenticateAgent(settings: Settings, key: string | undefined): AgentSettings {
  if (!agentKeysAccepted(settings)) throw new AssError('UNAUTHENTICATED', AGENT_KEYS_OFF);
  if (!key) throw new AssError('UNAUTHENTICATED', 'No agent key given. Set ASS_AGENT_KEY (stdio) or send the x-agent-key header (HTTP).');
  const match = matchKey(key, settings.agents.map((a) => ({ key_sha256: a.config.key_sha256, agent: a })));
  if (match) return match.agent;
  // Security: say that an admin key is the wrong kind, but never which admin it belongs to.
  if (key.startsWith(ADMIN_KEY_PREFIX)) throw new AssError('UNAUTHENTICATED', 'This is an admin key. Agents use an agent key; admin keys are for the human CLI only.');
  throw new AssError('UNAUTHENTICATED', `Unknown agent key.${aroundKey(key)} Check ASS_AGENT_KEY, or create a key with \`agent-secret-store agents add <id>\`.`);
}

/** Resolves an admin key to its admin id; agent keys are refused with a clear message. */
export function authenticateAdmin(settings: Settings, key: string | undefined): string {
  if (!key) throw new AssError('UNAUTHENTICATED', 'This is a human operation: set ASS_ADMIN_KEY to an admin key (or run it in a terminal to be prompted).');
  const admin = matchKey(key, settings.config.admins);
  if (admin) return admin.id;
  if (matchKey(key, settings.config.agents)) {
    throw new AssError('UNAUTHENTICATED', 'That is an agent key. Agents can never approve, delete, rotate or manage agents; use an admin key.');
  }
  throw new AssError('UNAUTHENTICATED', `Unknown admin key.${aroundKey(key)} Use the admin key printed by \`agent-secret-store init\` (or \`admins add\`).`);
}

/**
 * A key pasted with a space or line break around it (an env block in a JSON config, a copied
 * terminal line) is refused like any wrong key, never trimmed into a match; the message says why.
 */
function aroundKey(key: string): string {
  return key !== key.trim() ? ' It starts or ends with a space or line break: set the key alone, without them.' : '';
}
