import type { Command } from 'commander';
import { formatTtl } from '../../policy/index.js';
import { describeApproval, findApproval, humanStatus } from '../../server/approval-details.js';
import { decideApproval } from '../../server/human-decisions.js';
import { AssError } from '../../shared/errors.js';
import { approvalReport } from '../approval-report.js';
import { atTerminal, confirm } from '../confirm.js';
import { adminFor, print, settingsFor, withRuntime, type GlobalOptions } from '../context.js';
import { terminalLine } from '../terminal-text.js';

/**
 * The human side of approvals: list, show, approve, deny. A request is named by its id or any
 * unique prefix of 6+ characters. approve/deny first print everything a human needs to judge
 * the request and, at a terminal, ask; `--yes` skips the question; without a terminal they act
 * after printing the details to stderr (scripts).
 */
export function registerApprovals(program: Command): void {
  const approvals = program.command('approvals').description('Human side of the approval flow (needs the admin key: ASS_ADMIN_KEY or a prompt)');

  approvals
    .command('list')
    .description('List approval requests (pending ones unless --all); statuses: pending, approved, denied, expired, cancelled, revoked')
    .option('--all', 'include approved, denied, expired, cancelled and revoked requests')
    .option('--json', 'print JSON')
    .action(async (options: { all?: boolean; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      await adminFor(settings);
      await withRuntime(settings, async (runtime) => {
        const now = runtime.clock();
        const rows = (await runtime.approvals.list())
          .map((row) => ({ ...row, status: humanStatus(row.approval, now) }))
          // Expired and decided requests leave the pending view at once.
          .filter(({ status }) => options.all || status === 'pending');
        print(
          Boolean(options.json),
          rows.map(({ approval, view, status }) => ({ ...view, status, agent_id: approval.agent_id, scopes: approval.scopes, reason: approval.reason, agent_reason: approval.agent_reason ?? null, ttl: formatTtl(approval.ttl_ms), created_at: approval.created_at })),
          () =>
            rows.length === 0
              ? options.all ? 'No approval requests.' : 'No pending approval requests. (`approvals list --all` shows decided and expired ones.)'
              : rows
                  .map(({ approval, view, status }) =>
                    [
                      `${approval.id}  ${status}${view.approvals_required > 1 ? ` (${view.approvals_received}/${view.approvals_required} approvers)` : ''}`,
                      `  agent:   ${terminalLine(approval.agent_id)}`,
                      `  scopes:  ${approval.scopes.map(terminalLine).join(' ')}  for ${formatTtl(approval.ttl_ms)}`,
                      `  why:     ${terminalLine(approval.reason)}`,
                      ...(approval.agent_reason ? [`  agent says (unverified): ${terminalLine(approval.agent_reason.length > 120 ? `${approval.agent_reason.slice(0, 119)}…` : approval.agent_reason)}`] : []),
                      `  expires: ${view.expires_at}`,
                    ].join('\n'),
                  )
                  .join('\n\n'),
        );
      });
    });

  approvals
    .command('show <id>')
    .description('Everything about one request: agent, scopes, the secrets they reach, ttl, max uses, the agent\'s reason, quorum, delay (id or a unique prefix of 6+ characters)')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      await adminFor(settings);
      await withRuntime(settings, async (runtime) => {
        const approval = await findApproval(runtime, id);
        const details = await describeApproval(runtime, approval);
        const url = runtime.links.approval(approval.id);
        print(Boolean(options.json), { ...details, url }, () => approvalReport(details, runtime.clock(), url));
      });
    });

  for (const verb of ['approve', 'deny'] as const) {
    approvals
      .command(`${verb} <id>`)
      .description(
        (verb === 'approve' ? 'Approve a pending request (counts once per admin when several approvers are needed)' : 'Deny a pending request, or cancel an approval still in its delay') +
          '; shows the request and asks first at a terminal (id or a unique prefix of 6+ characters)',
      )
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--json', 'print JSON')
      .action(async (idOrPrefix: string, options: { json?: boolean; yes?: boolean }, command: Command) => {
        const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
        const adminId = await adminFor(settings);
        await withRuntime(settings, async (runtime) => {
          const approval = await findApproval(runtime, idOrPrefix);
          const id = approval.id;
          const details = await describeApproval(runtime, approval);
          // The details go to stderr: stdout stays the result (and --json) for scripts.
          process.stderr.write(`${approvalReport(details, runtime.clock(), runtime.links.approval(id))}\n\n`);
          if (!options.yes && atTerminal()) {
            const question = verb === 'approve' ? `Approve ${id} for agent ${terminalLine(approval.agent_id)}?` : details.delay_remaining_ms !== null ? `Cancel the approval ${id}?` : `Deny ${id}?`;
            if (!(await confirm(question))) throw new AssError('INVALID_ARGUMENT', `Not ${verb === 'approve' ? 'approved' : 'denied'}: nothing changed.`);
          }
          const result = await decideApproval(runtime, { verb, id, adminId, via: 'cli' });
          print(Boolean(options.json), { ...result.view, status: humanStatus(result.approval, runtime.clock()), agent_id: result.approval.agent_id }, () => {
            if (verb === 'deny') return result.approval.cancelled ? `Cancelled ${id}: it will not take effect.` : `Denied ${id}.`;
            if (result.view.status === 'approved') return `Approved ${id}: agent ${terminalLine(result.approval.agent_id)} may use ${result.approval.scopes.map(terminalLine).join(' ')} until ${result.view.expires_at}.`;
            if (result.view.effective_at) return `Approved ${id}; it takes effect at ${result.view.effective_at} unless someone runs \`approvals deny ${id}\` before then.`;
            return `Recorded your approval of ${id} (${result.view.approvals_received}/${result.view.approvals_required} approvers).`;
          });
        });
      });
  }
}
