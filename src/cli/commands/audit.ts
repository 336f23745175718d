import type { Command } from 'commander';
import { verifyAuditLog } from '../../audit/verify.js';
import { print, settingsFor, type GlobalOptions } from '../context.js';

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('The audit log')
    .command('verify')
    .description('Check the hash chain: finds an edited, inserted or deleted line (exit 1 if any)')
    .option('--head <hash>', 'the head hash you recorded earlier, to detect a cut-off tail')
    .option('--json', 'print JSON')
    .action(async (options: { head?: string; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const result = await verifyAuditLog(settings.auditPath, options.head);
      print(Boolean(options.json), { path: settings.auditPath, ...result }, () =>
        result.ok
          ? `OK: ${result.count} records, chain intact. Head: ${result.head ?? '(empty)'}`
          : `BROKEN: ${result.problems.length} problem(s) in ${result.count} records:\n${result.problems.map((p) => `  line ${p.line}: ${p.problem}`).join('\n')}`,
      );
      if (!result.ok) process.exitCode = 1;
    });
}
