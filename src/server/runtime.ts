import type { Logger } from 'pino';
import { createBackend } from '../adapters/registry.js';
import { DeferredBackend } from '../adapters/deferred-backend.js';
import { shareReadCache } from '../adapters/cache/read-cache.js';
import { effectiveTier } from '../policy/index.js';
import type { SecretBackend } from '../adapters/backend.js';
import { Approvals } from '../approvals/approvals.js';
import { openStateStore } from './state-open.js';
import type { StateStore } from '../state/store.js';
import { loadOrCreateSigningKey, Tokens } from '../approvals/tokens.js';
import { createAuditLog, type AuditLog } from '../audit/audit-log.js';
import { systemClock, type Clock } from '../shared/types.js';
import { SecretService } from './secret-service.js';
import { createLinks, type Links } from './links.js';
import { createNotifier } from './notifications.js';
import type { Notifier } from '../notify/notifier.js';
import { testClockFromEnv } from './test-clock.js';
import { openPgAudit, openStateDatabase } from './postgres-setup.js';
import { loadSettings, type Settings } from './settings.js';
import { LiveSettings } from './live-settings.js';
import { openTracing, tracingOptions, type PipelineTracer } from './tracing/tracing.js';

/** How often a long-running process sweeps the state for records retention drops. */
const PRUNE_INTERVAL_MS = 60_000;

/** Everything a server process or a human CLI command works with, built from Settings. */
export interface Runtime {
  /** The settings in force: agents, admins and policy follow the config file (live-settings.ts). */
  readonly settings: Settings;
  /** Reloads the config when its file changes; `watch()` is started by the serving commands. */
  live: LiveSettings;
  backend: SecretBackend;
  state: StateStore;
  approvals: Approvals;
  tokens: Tokens;
  audit: AuditLog;
  service: SecretService;
  clock: Clock;
  logger: Logger;
  /** Deep links and CLI hints for humans. */
  links: Links;
  /** Webhook delivery, when `notifications.webhooks` is set. */
  notifier: Notifier | null;
  /** OpenTelemetry spans of the pipeline, when configured (tracing/); null when off. */
  tracer?: PipelineTracer | null;
  close(): Promise<void>;
}

/** Connects the backend and opens the local state; the caller must `close()` it. */
/**
 * `deferRemoteBackend` (the stdio server): a Vault, AWS or remote agent-secret-store backend is
 * opened on first use, after `initialize` is answered, not before (adapters/deferred-backend.ts).
 * The file and PostgreSQL backends open here as before: they are local or share the state's
 * database, and a wrong key or schema should stop the server with its exit code at once.
 */
export async function openRuntime(settings: Settings, logger: Logger, options: { clock?: Clock; env?: Record<string, string | undefined>; deferRemoteBackend?: boolean } = {}): Promise<Runtime> {
  // A test clock only when a test set one up (see test-clock.ts); production gets the system's.
  const clock = options.clock ?? testClockFromEnv(options.env ?? process.env) ?? systemClock;
  const env = options.env ?? process.env;
  const live = new LiveSettings(settings, logger, (file) => loadSettings(file, env));
  // The read cache asks the policy in force (live: a config edit applies without a restart).
  const openBackend = (): Promise<SecretBackend> => createBackend(settings.backend, env, { now: () => clock().getTime(), tierOf: (namespace, stored) => effectiveTier(live.current.policy, namespace, stored) });
  const remote = settings.backend.type === 'vault' || settings.backend.type === 'aws' || settings.backend.type === 'ass';
  const backend = options.deferRemoteBackend && remote ? new DeferredBackend(settings.backend.type, openBackend) : await openBackend();
  try {
    // With `state.type: postgres` the audit chain is shared by every replica, in PostgreSQL.
    const auditDb = settings.config.state.type === 'postgres' ? openStateDatabase(settings) : null;
    const audit = auditDb
      ? await openPgAudit(settings, auditDb, clock).catch(async (error: unknown) => {
          await auditDb.close();
          throw error;
        })
      : createAuditLog(settings.auditPath, clock, { fsync: settings.config.audit.fsync, keyPath: settings.auditKeyPath });
    const state = await openStateStore(settings).catch(async (error: unknown) => {
      await audit.close();
      await auditDb?.close();
      throw error;
    });
    // A secret written by any process on this state store drops this process's read cache.
    shareReadCache(backend, { marker: () => state.secretWriteMarker(), publish: () => state.publishSecretWrite() });
    const links = createLinks(settings);
    const { max_pending_per_agent: maxPerAgent, max_pending_bytes_per_agent: maxBytesPerAgent } = settings.config.approvals;
    let approvals: Approvals | undefined;
    const notifier = createNotifier(settings, { state, clock, logger, links, env: options.env ?? process.env, announceLapsed: () => approvals!.announceLapsed() });
    state.afterEvents = notifier ? () => notifier.kick() : null;
    approvals = new Approvals(state, clock, settings.pendingTtlMs, {
      denyCooldownMs: settings.denyCooldownMs,
      pendingLimits: { maxPerAgent, maxBytesPerAgent },
      ...(notifier ? { onEvent: notifier.sink } : {}),
    });
    const tokens = new Tokens(state, clock, await loadOrCreateSigningKey(settings.signingKeyPath), settings.config.tokens.issuer, settings.config.tokens.max_active_per_agent);
    const tracer = await openTracing(tracingOptions(settings.config.observability?.tracing, env), logger);
    const service = new SecretService({ get settings() { return live.current; }, refreshSettings: () => live.refresh(), backend, approvals, tokens, audit, state, clock, logger, links, tracer });
    // Retention: agent operations prune that agent's records; this sweeps the rest (a scan, so on a timer, not per request).
    const pruner = setInterval(() => void state.prune(clock()).catch((error: unknown) => logger.warn({ errorName: (error as Error)?.name }, 'state prune failed; retried at the next sweep')), PRUNE_INTERVAL_MS);
    pruner.unref();
    return { get settings() { return live.current; }, live, backend, state, approvals, tokens, audit, service, clock, logger, links, notifier, tracer, close: async () => {
        clearInterval(pruner);
        live.stop();
        // A command that just decided something delivers its events before exiting (bounded).
        await notifier?.close();
        links.withdraw();
        await audit.close();
        await auditDb?.close();
        await backend.close();
        await state.close();
        await tracer?.shutdown();
      } };
  } catch (error) {
    await backend.close();
    throw error;
  }
}
