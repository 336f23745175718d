import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { isLoopbackHost } from '../../server/http/options.js';
import { createLogger } from '../../server/logger.js';
import { openRuntime } from '../../server/runtime.js';
import { AssError } from '../../shared/errors.js';
import { settingsFor, type GlobalOptions } from '../context.js';
import { runUntilSignal } from '../http-lifecycle.js';

/** Default port of `agent-secret-store dashboard` (serve --http uses 8787). */
export const DASHBOARD_PORT = 8788;

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('Serve the approval dashboard alone, on loopback, beside the stdio servers your agents run (same config, state and audit)')
    .option('--host <host>', 'loopback address to bind', '127.0.0.1')
    .option('--port <port>', `port to bind, 0 for any free port (default ${DASHBOARD_PORT})`)
    .option('--open', 'open the dashboard in the default browser')
    .action(async (options: { host: string; port?: string; open?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      // Security: this command is for one person on this machine; a shared dashboard is `serve --http` with allowed_origins.
      if (!isLoopbackHost(options.host)) throw new AssError('CONFIG_INVALID', `The dashboard command binds loopback only ('${options.host}' is not). For a shared dashboard use \`serve --http\` with http.allowed_origins.`);
      const { resolveHttpOptions, trustPublicUrl } = await import('../../server/http/options.js');
      const { startStandaloneDashboard } = await import('../../dashboard/standalone.js');
      const httpOptions = trustPublicUrl(resolveHttpOptions(settings.config.http, { host: options.host, port: options.port !== undefined ? Number(options.port) : DASHBOARD_PORT }), settings.config.dashboard?.public_url);
      const runtime = await openRuntime(settings, createLogger(process.env.ASS_LOG_LEVEL ?? settings.config.server.log_level));
      const handle = await startStandaloneDashboard(runtime, httpOptions).catch(async (error: unknown) => {
        await runtime.close();
        throw error;
      });
      process.stderr.write(`agent-secret-store dashboard on ${handle.url}\n`);
      runUntilSignal(runtime, handle, handle.url);
      if (options.open) openInBrowser(handle.url);
    });
}

function openInBrowser(url: string): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`Could not open a browser; open ${url} yourself.\n`));
  child.unref();
}
