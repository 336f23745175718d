import type { Command } from 'commander';
import { authenticateAgent } from '../../server/authenticate.js';
import { createLogger } from '../../server/logger.js';
import { openRuntime } from '../../server/runtime.js';
import { serveStdio } from '../../server/stdio.js';
import { settingsFor, type GlobalOptions } from '../context.js';

export function registerServe(program: Command): void {
  program
    .command('serve', { isDefault: true })
    .description('Serve MCP over stdio for the agent whose key is in ASS_AGENT_KEY (the default command)')
    .action(async (_options: object, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      // Refuse to start without a valid key: a client should see the reason on stderr at once.
      const agent = authenticateAgent(settings, process.env.ASS_AGENT_KEY);
      const logger = createLogger(process.env.ASS_LOG_LEVEL ?? settings.config.server.log_level);
      const runtime = await openRuntime(settings, logger);
      await serveStdio(runtime, agent);
    });
}
