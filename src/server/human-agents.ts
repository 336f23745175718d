import { z } from 'zod';
import { isMap, isSeq, type Document, type YAMLMap } from 'yaml';
import { dropReadCache } from '../adapters/cache/read-cache.js';
import { TOOL_NAMES } from '../config/schema.js';
import { parseScope, parseTtl } from '../policy/index.js';
import { AssError } from '../shared/errors.js';
import { backendEnvPlaceholders } from './client-env.js';
import { editConfig } from './config-edit.js';
import { adminActor, type HumanAdmin, type HumanSurface } from './human-decisions.js';
import { generateAgentKey, hashKey } from './keys.js';
import type { Runtime } from './runtime.js';
import type { Settings } from './settings.js';

/**
 * Adding and revoking agents, written once for the CLI and the dashboard. Both edit the config
 * file in place (comments kept, validated as a whole before it replaces the file) and are
 * audited with the admin's id. A new key is returned once and only its sha256 is stored.
 */

export const AgentIdSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.@+=-]{0,63}$/, 'an agent id is 1-64 characters from A-Z a-z 0-9 _ . @ + = - (not starting with . @ + = -)');

export interface AddAgentInput {
  id: string;
  grants: string[];
  deny: string[];
  tools?: string[];
  maxTokenTtl: string;
}

export function agentEntries(doc: Document, section: 'agents' | 'admins'): YAMLMap[] {
  const seq = doc.get(section, true);
  if (seq === undefined) return [];
  if (!isSeq(seq)) throw new AssError('CONFIG_INVALID', `'${section}' in the config is not a list.`);
  return seq.items.filter(isMap) as YAMLMap[];
}

/** The `mcpServers` entry a person pastes into their client for this agent (key inlined: shown once). */
export function mcpServersSnippet(settings: Settings, agentKey: string, command: { node: string; cli: string }): string {
  const env = { ASS_AGENT_KEY: agentKey, ...backendEnvPlaceholders(settings.backend) };
  return JSON.stringify({ mcpServers: { 'agent-secret-store': { command: command.node, args: [command.cli, '--config', settings.loaded.file], env } } }, null, 2);
}

/**
 * Adds an agent to the config file. Scopes and ttl are checked with the one parser before
 * anything is written; the audit record comes first (fail closed).
 * @returns the new key (shown once) and the settings as now on disk.
 */
export async function humanAddAgent(runtime: Runtime, who: HumanAdmin & { via: HumanSurface }, input: AddAgentInput): Promise<{ agentId: string; agentKey: string; settings: Settings }> {
  const id = AgentIdSchema.safeParse(input.id);
  if (!id.success) throw new AssError('INVALID_ARGUMENT', `Invalid agent id: ${id.error.issues[0]?.message ?? 'bad id'}.`);
  for (const scope of [...input.grants, ...input.deny]) parseScope(scope);
  parseTtl(input.maxTokenTtl);
  for (const tool of input.tools ?? []) {
    if (!(TOOL_NAMES as readonly string[]).includes(tool)) throw new AssError('INVALID_ARGUMENT', `Unknown tool '${tool.slice(0, 40)}'; tools are ${TOOL_NAMES.join(', ')}.`);
  }
  const key = generateAgentKey();
  await runtime.audit.append({ actor: adminActor(who), action: 'agents.add', outcome: 'ok', reason: `agent ${input.id}; grants ${input.grants.join(' ') || '(none)'} (${who.via})` });
  const settings = await editConfig(runtime.settings.loaded.file, (doc) => {
    if (agentEntries(doc, 'agents').some((m) => m.get('id') === input.id)) throw new AssError('CONFLICT', `Agent '${input.id}' exists. Revoke it first, or choose another id.`);
    const entry: Record<string, unknown> = { id: input.id, key_sha256: hashKey(key), grants: input.grants, deny: input.deny, limits: { max_token_ttl: input.maxTokenTtl } };
    if (input.tools) entry.tools = input.tools;
    if (!doc.has('agents')) doc.set('agents', doc.createNode([]));
    doc.addIn(['agents'], doc.createNode(entry));
  });
  return { agentId: input.id, agentKey: key, settings };
}

/**
 * Revokes an agent: its key, tokens and approvals end at once in the shared state (running
 * servers consult it on every call), then its entry leaves the config file.
 */
export async function humanRevokeAgent(
  runtime: Runtime,
  who: HumanAdmin & { via: HumanSurface },
  agentId: string,
  /** The config as now on disk (a long-running dashboard passes what it reloaded). */
  settings: Settings = runtime.settings,
): Promise<{ revoked: string; tokens: number; approvals: number }> {
  const agent = settings.config.agents.find((a) => a.id === agentId);
  if (!agent) throw new AssError('CONFLICT', `No agent '${agentId.slice(0, 64)}'. \`agents list\` shows them.`);
  await runtime.audit.append({ actor: adminActor(who), action: 'agents.revoke', outcome: 'ok', reason: `agent ${agentId} (${who.via})` });
  // Revocation first: running servers consult it on every call.
  const ended = await runtime.state.revokeAgent({ agentId, keySha256: agent.key_sha256, adminId: who.adminId, now: runtime.clock() });
  dropReadCache(runtime.backend);
  await editConfig(runtime.settings.loaded.file, (doc) => {
    const index = agentEntries(doc, 'agents').findIndex((m) => m.get('id') === agentId);
    if (index >= 0) doc.deleteIn(['agents', index]);
  });
  return { revoked: agentId, ...ended };
}
