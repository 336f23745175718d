import type { Logger } from 'pino';
import { createBackend } from '../adapters/registry.js';
import type { SecretBackend } from '../adapters/backend.js';
import { Approvals } from '../approvals/approvals.js';
import { createFileStateStore, type StateStore } from '../approvals/state-store.js';
import { loadOrCreateSigningKey, Tokens } from '../approvals/tokens.js';
import { createAuditLog, type AuditLog } from '../audit/audit-log.js';
import { systemClock, type Clock } from '../shared/types.js';
import { SecretService } from './secret-service.js';
import { createLinks, type Links } from './links.js';
import { createNotifier } from './notifications.js';
import type { Notifier } from '../notify/notifier.js';
import { testClockFromEnv } from './test-clock.js';
import { loadSettings, type Settings } from './settings.js';
import { LiveSettings } from './live-settings.js';

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
  close(): Promise<void>;
}

/** Connects the backend and opens the local state; the caller must `close()` it. */
export async function openRuntime(settings: Settings, logger: Logger, options: { clock?: Clock; env?: Record<string, string | undefined> } = {}): Promise<Runtime> {
  // A test clock only when a test set one up (see test-clock.ts); production gets the system's.
  const clock = options.clock ?? testClockFromEnv(options.env ?? process.env) ?? systemClock;
  const env = options.env ?? process.env;
  const backend = await createBackend(settings.backend, env);
  const live = new LiveSettings(settings, logger, (file) => loadSettings(file, env));
  try {
    const state = createFileStateStore(settings.statePath, clock);
    const links = createLinks(settings);
    const { max_pending_per_agent: maxPerAgent, max_pending_bytes_per_agent: maxBytesPerAgent } = settings.config.approvals;
    let approvals: Approvals | undefined;
    const notifier = createNotifier(settings, { state, clock, logger, links, env: options.env ?? process.env, announceLapsed: () => approvals!.announceLapsed() });
    approvals = new Approvals(state, clock, settings.pendingTtlMs, {
      denyCooldownMs: settings.denyCooldownMs,
      pendingLimits: { maxPerAgent, maxBytesPerAgent },
      ...(notifier ? { onEvent: notifier.sink } : {}),
    });
    const tokens = new Tokens(state, clock, await loadOrCreateSigningKey(settings.signingKeyPath), settings.config.tokens.issuer, settings.config.tokens.max_active_per_agent);
    const audit = createAuditLog(settings.auditPath, clock, { fsync: settings.config.audit.fsync, keyPath: settings.auditKeyPath });
    const service = new SecretService({ get settings() { return live.current; }, refreshSettings: () => live.refresh(), backend, approvals, tokens, audit, state, clock, logger, links });
    return { get settings() { return live.current; }, live, backend, state, approvals, tokens, audit, service, clock, logger, links, notifier, close: async () => {
        live.stop();
        // A command that just decided something delivers its events before exiting (bounded).
        await notifier?.close();
        links.withdraw();
        await audit.close();
        await backend.close();
      } };
  } catch (error) {
    await backend.close();
    throw error;
  }
}
