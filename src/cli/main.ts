#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { isAssError } from '../shared/errors.js';
import { SERVER_VERSION } from '../server/mcp-server.js';
import { registerAgents, registerAdmins } from './commands/agents.js';
import { registerApprovals } from './commands/approvals.js';
import { registerAudit } from './commands/audit.js';
import { registerDoctor } from './commands/doctor.js';
import { unknownCommandError } from './unknown-command.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerInit } from './commands/init.js';
import { registerMigrate } from './commands/migrate.js';
import { registerSecrets } from './commands/secrets.js';
import { registerServe } from './commands/serve.js';
import { registerUse } from './commands/use.js';

const program = new Command('agent-secret-store')
  .description('Governed access to secrets for AI agents, over MCP. Without a command: serve MCP over stdio.')
  .version(SERVER_VERSION)
  .option('--config <path>', 'config file (default: $ASS_CONFIG, else $ASS_HOME/config.yaml, else ~/.agent-secret-store/config.yaml)')
  .showHelpAfterError()
  // Usage errors (unknown option or subcommand, missing argument) exit 2, "fix your input", as
  // every other input error does; commander's own default is 1. Inherited by every subcommand.
  .exitOverride()
  .addHelpText('after', '\nEnvironment: ASS_AGENT_KEY (serve), ASS_ADMIN_KEY (human commands), ASS_CONFIG, ASS_HOME, ASS_LOG_LEVEL.');

registerServe(program);
registerInit(program);
registerApprovals(program);
registerSecrets(program);
registerAgents(program);
registerAdmins(program);
registerAudit(program);
registerDoctor(program);
registerMigrate(program);
registerDashboard(program);
registerUse(program);

try {
  const unknown = unknownCommandError(program, process.argv.slice(2));
  if (unknown) {
    process.stderr.write(`agent-secret-store: ${unknown}\n`);
    process.exitCode = 2;
  } else await program.parseAsync(process.argv);
} catch (error) {
  // Clear, one-paragraph errors on stderr; stdout stays clean for the protocol and for --json.
  if (error instanceof CommanderError) {
    // commander has printed its message (or the help / version asked for) already.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof ConfigError) {
    process.stderr.write(`agent-secret-store: ${error.message}\n`);
    process.exitCode = 2;
  } else if (isAssError(error)) {
    process.stderr.write(`agent-secret-store: ${error.message} [${error.code}]\n`);
    process.exitCode = error.fault === 'caller' ? 2 : 1;
  } else {
    process.stderr.write(`agent-secret-store: unexpected error: ${(error as Error)?.name ?? 'Error'}: ${String((error as Error)?.message ?? error).slice(0, 300)}\n`);
    process.exitCode = 1;
  }
}
