import type { Command } from 'commander';
import { TOOL_NAMES } from '../../config/schema.js';
import { AssError } from '../../shared/errors.js';
import { generateAdminKey, hashKey } from '../../server/keys.js';
import { humanAddAgent, humanRevokeAgent } from '../../server/human-agents.js';
import { editConfig } from '../../server/config-edit.js';
import { checkAgentFlags } from '../agent-flags.js';
import { adminFor, print, settingsFor, withRuntime, type GlobalOptions } from '../context.js';
import { strictestApprovalRule } from '../../policy/index.js';
import { authenticateAdmin } from '../../server/authenticate.js';
import type { Settings } from '../../server/settings.js';
import { promptHidden } from '../prompt.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerAgents(program: Command): void {
  const agents = program.command('agents').description('Manage agent keys (needs the admin key)');

  agents
    .command('add <id>')
    .description('Add an agent and print its new key once')
    .option('--grant <scope>', 'a scope such as secrets:read:production/gemini/* (repeatable)', collect, [])
    .option('--deny <scope>', 'a scope to deny explicitly (repeatable)', collect, [])
    .option('--tool <name>', `limit the agent to these tools (repeatable): ${TOOL_NAMES.join(', ')}`, collect)
    .option('--max-token-ttl <ttl>', 'longest token this agent may hold', '24h')
    .option('--json', 'print {"agent_id", "agent_key"} as JSON')
    .action(async (id: string, options: { grant: string[]; deny: string[]; tool?: string[]; maxTokenTtl: string; json?: boolean }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      const settings = settingsFor(global);
      const adminId = await adminFor(settings);
      checkAgentFlags(options);
      if (settings.config.agents.some((a) => a.id === id)) throw new AssError('CONFLICT', `Agent '${id}' exists. Revoke it first, or choose another id.`);
      const added = await withRuntime(settings, (runtime) =>
        humanAddAgent(runtime, { adminId, via: 'cli' }, { id, grants: options.grant, deny: options.deny, ...(options.tool ? { tools: options.tool } : {}), maxTokenTtl: options.maxTokenTtl }),
      );
      const key = added.agentKey;
      print(Boolean(options.json), { agent_id: id, agent_key: key }, () => `Added agent '${id}'. Its key is shown once:\n  ${key}`);
      if (options.grant.length === 0) {
        process.stderr.write(`Note: '${id}' has no grants, so it can do nothing yet. Add scopes under its 'grants' in ${settings.loaded.file}, e.g. secrets:read:staging/**.\n`);
      }
    });

  agents
    .command('list')
    .description('List agents with their grants (never keys)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      await adminFor(settings);
      const rows = settings.config.agents.map((a) => ({ id: a.id, grants: a.grants, deny: a.deny, tools: a.tools ?? 'all', max_token_ttl: a.limits.max_token_ttl }));
      print(Boolean(options.json), rows, () => rows.map((r) => `${r.id}\n  grants: ${r.grants.join(' ') || '(none)'}${r.deny.length ? `\n  deny:   ${r.deny.join(' ')}` : ''}\n  tools:  ${Array.isArray(r.tools) ? r.tools.join(', ') : r.tools}`).join('\n') || 'No agents.');
    });

  agents
    .command('revoke <id>')
    .description('Remove an agent; its key, tokens and approvals stop working at once, also in servers already running')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const adminId = await adminFor(settings);
      await withRuntime(settings, (runtime) => humanRevokeAgent(runtime, { adminId, via: 'cli' }, id));
      print(Boolean(options.json), { revoked: id }, () => `Revoked agent '${id}'.`);
    });
}

export function registerAdmins(program: Command): void {
  program
    .command('admins')
    .description('Manage admin keys (needs an admin key)')
    .command('add <id>')
    .description('Add an admin (a second approver, say) and print the new admin key once')
    .option('--json', 'print {"admin_id", "admin_key"} as JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const adminId = await adminFor(settings);
      if (settings.config.admins.some((a) => a.id === id)) throw new AssError('CONFLICT', `Admin '${id}' exists.`);
      const coSigners = await coSignersFor(settings, adminId);
      const key = generateAdminKey();
      await editConfig(settings.loaded.file, (doc) => doc.addIn(['admins'], doc.createNode({ id, key_sha256: hashKey(key) })));
      await withRuntime(settings, (runtime) => runtime.audit.append({ actor: `admin:${adminId}`, action: 'admins.add', outcome: 'ok', reason: `admin ${id}${coSigners.length ? `, co-signed by ${coSigners.join(', ')}` : ''}` }).then(() => undefined));
      print(Boolean(options.json), { admin_id: id, admin_key: key }, () => `Added admin '${id}'. Its key is shown once:\n  ${key}`);
    });
}

/** The other admins' keys for `admins add`, comma-separated (a TTY is prompted instead). */
export const CO_ADMIN_KEYS_ENV = 'ASS_CO_ADMIN_KEYS';

/**
 * Security (R-16): a new admin is a new approver, so one admin alone must not mint one where the
 * policy asks for several approvers — it would meet a two-person rule alone. Adding an admin
 * needs as many distinct admins as the policy's largest `approvers`, capped by how many admins
 * exist (with fewer, the setup is still being built: the lone admin adds the second one, and the
 * audit record says who added whom).
 * @returns the ids of the co-signing admins (besides `adminId`).
 * @throws AssError POLICY_DENIED when too few distinct admins' keys were given.
 */
async function coSignersFor(settings: Settings, adminId: string): Promise<string[]> {
  const needed = Math.min(strictestApprovalRule(settings.policy).approvers, settings.config.admins.length) - 1;
  if (needed <= 0) return [];
  let keys = (process.env[CO_ADMIN_KEYS_ENV] ?? '').split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  if (keys.length === 0 && process.stdin.isTTY) {
    keys = [];
    for (let i = 1; i <= needed; i++) keys.push(await promptHidden(`Admin key of another admin (${i} of ${needed}): `));
  }
  const others = new Set<string>();
  for (const key of keys) {
    const other = authenticateAdmin(settings, key);
    if (other !== adminId) others.add(other);
  }
  if (others.size < needed) {
    throw new AssError(
      'POLICY_DENIED',
      `Adding an admin needs ${needed + 1} different admins: the policy asks for up to ${strictestApprovalRule(settings.policy).approvers} approvers, and one admin must not create a co-approver alone. ` +
        `Give ${needed} other admin${needed === 1 ? "'s key" : "s' keys"} in ${CO_ADMIN_KEYS_ENV} (comma-separated), or run it in a terminal to be prompted (${others.size} given). Nothing was changed.`,
    );
  }
  return [...others].sort();
}
