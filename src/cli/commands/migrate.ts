/**
 * `agent-secret-store migrate [--dry-run] [--json]`: applies the pending PostgreSQL schema
 * migrations of every database the config uses (the `postgres` backend's, the `state` one's),
 * each in one transaction under an advisory lock, so two replicas or two `migrate` at once are
 * safe (the second finds nothing to do). Prints what it applied.
 */
import type { Command } from 'commander';
import { AssError } from '../../shared/errors.js';
import { migrateAll } from '../../server/postgres-setup.js';
import { print, settingsFor, type GlobalOptions } from '../context.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('Apply pending PostgreSQL schema migrations (backend: postgres, state: postgres); safe to run from several replicas at once')
    .option('--dry-run', 'only list what is pending')
    .option('--json', 'print JSON')
    .action(async (options: { dryRun?: boolean; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const reports = await migrateAll(settings, { dryRun: options.dryRun });
      if (reports.length === 0) {
        throw new AssError('INVALID_ARGUMENT', 'Nothing to migrate: this config uses no PostgreSQL (neither backend.type nor state.type is postgres).');
      }
      print(Boolean(options.json), { dry_run: Boolean(options.dryRun), databases: reports }, () =>
        reports
          .map((r) => {
            const list = options.dryRun ? r.pending : r.applied;
            const head = `${r.label} (${r.target}): `;
            if (list.length === 0) return `${head}schema up to date, nothing ${options.dryRun ? 'pending' : 'applied'}.`;
            return `${head}${options.dryRun ? 'pending' : 'applied'} ${list.length} migration(s):\n${list.map((m) => `  ${m.component} ${m.version}: ${m.name}`).join('\n')}`;
          })
          .join('\n'),
      );
    });
}
