import type { Command } from 'commander';
import { formatTtl } from '../../policy/index.js';
import { decideApproval } from '../../server/human-decisions.js';
import { adminFor, print, settingsFor, withRuntime, type GlobalOptions } from '../context.js';

export function registerApprovals(program: Command): void {
  const approvals = program.command('approvals').description('Human side of the approval flow (needs the admin key: ASS_ADMIN_KEY or a prompt)');

  approvals
    .command('list')
    .description('List approval requests (pending ones unless --all)')
    .option('--all', 'include approved, denied and expired requests')
    .option('--json', 'print JSON')
    .action(async (options: { all?: boolean; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      await adminFor(settings);
      await withRuntime(settings, async (runtime) => {
        const rows = (await runtime.approvals.list()).filter(({ view }) => options.all || view.status === 'pending');
        print(
          Boolean(options.json),
          rows.map(({ approval, view }) => ({ ...view, agent_id: approval.agent_id, scopes: approval.scopes, reason: approval.reason, ttl: formatTtl(approval.ttl_ms), created_at: approval.created_at })),
          () =>
            rows.length === 0
              ? 'No approval requests.'
              : rows
                  .map(({ approval, view }) =>
                    [
                      `${approval.id}  ${view.status}${view.approvals_required > 1 ? ` (${view.approvals_received}/${view.approvals_required} approvers)` : ''}`,
                      `  agent:   ${approval.agent_id}`,
                      `  scopes:  ${approval.scopes.join(' ')}  for ${formatTtl(approval.ttl_ms)}`,
                      `  why:     ${approval.reason}`,
                      `  expires: ${view.expires_at}`,
                    ].join('\n'),
                  )
                  .join('\n\n'),
        );
      });
    });

  for (const verb of ['approve', 'deny'] as const) {
    approvals
      .command(`${verb} <id>`)
      .description(verb === 'approve' ? 'Approve a pending request (counts once per admin when several approvers are needed)' : 'Deny a pending request, or cancel an approval still in its delay')
      .option('--json', 'print JSON')
      .action(async (id: string, options: { json?: boolean }, command: Command) => {
        const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
        const adminId = await adminFor(settings);
        await withRuntime(settings, async (runtime) => {
          const result = await decideApproval(runtime, { verb, id, adminId, via: 'cli' });
          print(Boolean(options.json), { ...result.view, agent_id: result.approval.agent_id }, () => {
            if (verb === 'deny') return `Denied ${id}.`;
            if (result.view.status === 'approved') return `Approved ${id}: agent ${result.approval.agent_id} may use ${result.approval.scopes.join(' ')} until ${result.view.expires_at}.`;
            if (result.view.effective_at) return `Approved ${id}; it takes effect at ${result.view.effective_at} unless someone runs \`approvals deny ${id}\` before then.`;
            return `Recorded your approval of ${id} (${result.view.approvals_received}/${result.view.approvals_required} approvers).`;
          });
        });
      });
  }
}
