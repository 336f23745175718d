import type { Logger } from 'pino';
import type { StateStore } from '../state/store.js';
import { Notifier } from '../notify/notifier.js';
import { parseTtl } from '../policy/index.js';
import type { Clock } from '../shared/types.js';
import type { Links } from './links.js';
import type { Settings } from './settings.js';

/**
 * Builds this process's webhook notifier from `notifications:` (null when no webhook is set).
 * Links are resolved at delivery time, so an event queued by a stdio server or a CLI command
 * carries the dashboard address known to whichever process delivers it.
 */
export function createNotifier(
  settings: Settings,
  deps: { state: StateStore; clock: Clock; logger: Logger; links: Links; env: Record<string, string | undefined>; announceLapsed: () => Promise<unknown> },
): Notifier | null {
  const config = settings.config.notifications;
  if (config.webhooks.length === 0) return null;
  return new Notifier({
    store: { read: () => deps.state.readOutbox(), transact: (fn) => deps.state.transactOutbox(fn) },
    clock: deps.clock,
    logger: deps.logger,
    env: deps.env,
    webhooks: config.webhooks.map((w) => ({ url: w.url, format: w.format, ...(w.secret_env ? { secretEnv: w.secret_env } : {}), ...(w.events ? { events: w.events } : {}) })),
    maxAttempts: config.max_attempts,
    timeoutMs: parseTtl(config.timeout),
    queueSize: config.queue_size,
    links: (id) => ({ approvalUrl: deps.links.approval(id), showCommand: deps.links.command(`approvals show ${id}`) }),
    beforeRound: deps.announceLapsed,
  });
}
