import type { Command } from 'commander';
import { authenticateAgent } from '../../server/authenticate.js';
import { createLogger } from '../../server/logger.js';
import { openRuntime } from '../../server/runtime.js';
import { serveStdio } from '../../server/stdio.js';
import { watchBackend } from '../../server/backend-watch.js';
import { settingsFor, type GlobalOptions } from '../context.js';
import { runUntilSignal } from '../http-lifecycle.js';
import { AssError } from '../../shared/errors.js';

export function registerServe(program: Command): void {
  program
    .command('serve', { isDefault: true })
    .description('Serve MCP over stdio for the agent whose key is in ASS_AGENT_KEY (the default command); --http serves SSE, streamable HTTP and REST on one port')
    .option('--http', 'serve over HTTP instead of stdio: SSE (/sse), streamable HTTP (/mcp), REST (/v1), the dashboard (/dashboard), /healthz, /metrics')
    .option('--host <host>', 'with --http: address to bind (default: $ASS_HTTP_HOST, else http.host in the config, else 127.0.0.1)')
    .option('--port <port>', 'with --http: port to bind, 0 for any free port (default: $ASS_HTTP_PORT, else http.port in the config, else 8787)')
    .action(async (options: { http?: boolean; host?: string; port?: string }, command: Command) => {
      // `serve --port 8787` reads like an HTTP server; without --http it would quietly speak stdio.
      if (!options.http && (options.host !== undefined || options.port !== undefined)) {
        const flags = [options.host !== undefined ? `--host ${options.host}` : '', options.port !== undefined ? `--port ${options.port}` : ''].filter(Boolean).join(' ');
        throw new AssError('CONFIG_INVALID', `${flags} applies only with --http; without it the server speaks MCP over stdio. Run \`agent-secret-store serve --http ${flags}\`.`);
      }
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      if (options.http) {
        // Loaded only here: a stdio server, spawned per MCP session, starts without the HTTP stack.
        const { requireTransportSecurity, resolveHttpOptions, trustPublicUrl } = await import('../../server/http/options.js');
        const { startHttpServer } = await import('../../server/http/server.js');
        // Validate everything (non-loopback bind, TLS files) before opening the backend.
        // ASS_HTTP_HOST / ASS_HTTP_PORT stand in for --host / --port (the container image sets them).
        const host = options.host ?? (process.env.ASS_HTTP_HOST || undefined);
        const port = options.port ?? (process.env.ASS_HTTP_PORT || undefined);
        const httpOptions = trustPublicUrl(
          resolveHttpOptions(settings.config.http, { ...(host ? { host } : {}), ...(port !== undefined ? { port: Number(port) } : {}) }, process.env),
          settings.config.dashboard?.public_url,
        );
        requireTransportSecurity(httpOptions, settings.config.http, settings.config.dashboard?.public_url, process.env, (line) => process.stderr.write(line));
        const logger = createLogger(process.env.ASS_LOG_LEVEL ?? settings.config.server.log_level);
        const runtime = await openRuntime(settings, logger);
        const { createDashboard } = await import('../../dashboard/app.js');
        const dashboard = createDashboard(runtime, { scheme: httpOptions.tls ? 'https' : 'http' });
        const handle = await startHttpServer(runtime, httpOptions, [dashboard]).catch(async (error: unknown) => {
          await runtime.close();
          throw error;
        });
        // Always on stderr, whatever the log level: scripts and tests read the bound URL from it.
        process.stderr.write(`agent-secret-store listening on ${handle.url}\n`);
        runUntilSignal(runtime, handle, `${handle.url}/dashboard`);
        watchBackend(runtime.backend, { write: (line) => process.stderr.write(line), intervalMs: settings.backendRecheckMs });
        return;
      }
      // Refuse to start without a valid key: a client should see the reason on stderr at once.
      const agent = authenticateAgent(settings, process.env.ASS_AGENT_KEY);
      const logger = createLogger(process.env.ASS_LOG_LEVEL ?? settings.config.server.log_level);
      // A remote backend opens after `initialize` (its first health check below is its first use).
      const runtime = await openRuntime(settings, logger, { deferRemoteBackend: true });
      // MCP clients stop a stdio server with a signal. Exiting through process.exit releases the
      // store locks this process holds (see durable-file.ts), so no other process waits them out.
      process.once('SIGINT', () => process.exit(0));
      process.once('SIGTERM', () => process.exit(0));
      // Retries and expiry announcements for webhooks, while this server runs.
      runtime.notifier?.start();
      // A grant edited in the config applies to this session's next call (live-settings.ts).
      runtime.live.watch();
      // After `initialize` is answered, so the client never waits for the backend: the first check
      // is a remote backend's first use, which opens it (adapters/deferred-backend.ts).
      await serveStdio(runtime, agent, { afterInitialize: () => watchBackend(runtime.backend, { write: (line) => process.stderr.write(line), intervalMs: settings.backendRecheckMs }) });
    });
}
