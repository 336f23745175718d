import { randomUUID } from 'node:crypto';
import type { ApprovalEvent, OutboxState } from '../shared/approval-events.js';
import { anythingDue, backoffMs, claim, enqueue, settle, webhookId, type OutboxWebhook } from './outbox.js';
import { genericPayload, slackPayload, type PayloadLinks } from './payload.js';
import { signPayload, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './sign.js';

/**
 * Webhook delivery for approval events. Contract:
 * - `sink` runs inside the state transaction that makes a change and only queues the event in
 *   the durable outbox (no I/O), so the agent's call never waits on a receiver;
 * - delivery is asynchronous, from whichever process of the setup runs: the one that queued it
 *   (kicked at once), a server's timer (`start`), or a CLI command's bounded `close` flush;
 * - each attempt is bounded by `timeoutMs`; a failure is retried with exponential backoff up to
 *   `maxAttempts`, then given up; failures are logged (webhook id and host only: a URL may
 *   hold a token) and counted in the state's outbox stats, which `/metrics` shows;
 * - each entry is leased by one process at a time, so a healthy receiver gets each event once;
 *   after a crash mid-delivery it may get it twice, with the same `X-ASS-Delivery` id.
 */

export interface WebhookSettings {
  url: string;
  format: 'generic' | 'slack';
  secretEnv?: string;
  events?: readonly string[];
}

export interface NotifierStore {
  read(): Promise<OutboxState>;
  transact<T>(fn: (state: OutboxState) => T): Promise<T>;
}

export interface NotifierLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface NotifierDeps {
  store: NotifierStore;
  clock: () => Date;
  logger: NotifierLogger;
  webhooks: readonly WebhookSettings[];
  env: Record<string, string | undefined>;
  maxAttempts: number;
  timeoutMs: number;
  queueSize: number;
  /** Links as this process knows them at delivery time. */
  links: (approvalId: string) => PayloadLinks;
  /** Runs before each round (the runtime announces lapsed requests here). */
  beforeRound?: () => Promise<unknown>;
  fetch?: typeof fetch;
}

interface Hook extends OutboxWebhook {
  url: string;
  host: string;
  format: 'generic' | 'slack';
  secret: string | undefined;
}

const BATCH = 20;

export class Notifier {
  /** Delivery outcomes in this process (the state's stats count every process). */
  readonly counts = { delivered: 0, failed_attempts: 0, abandoned: 0 };
  private readonly owner = randomUUID();
  private readonly hooks: Hook[];
  /** Webhooks this process can deliver to (a generic one needs its secret in this environment). */
  private readonly mine: Set<string>;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Aborts attempts still running when `close` gives up waiting (a CLI must not hang on a receiver). */
  private readonly stopping = new AbortController();

  constructor(private readonly deps: NotifierDeps) {
    this.hooks = deps.webhooks.map((w) => ({
      id: webhookId(w.url, w.format),
      events: w.events,
      url: w.url,
      host: new URL(w.url).host,
      format: w.format,
      secret: w.secretEnv ? deps.env[w.secretEnv] || undefined : undefined,
    }));
    this.mine = new Set(this.hooks.filter((h) => h.format === 'slack' || h.secret).map((h) => h.id));
    for (const h of this.hooks) {
      if (!this.mine.has(h.id)) deps.logger.warn({ webhook: h.id, host: h.host }, 'webhook secret variable is not set in this process; it leaves this webhook\'s events to a process that has it');
    }
  }

  /** Queues `event` in the outbox, inside the caller's transaction; delivery starts right after it commits. */
  readonly sink = (state: OutboxState, event: ApprovalEvent): void => {
    const dropped = enqueue(state, event, this.hooks, this.deps.clock(), this.deps.queueSize);
    if (dropped > 0) this.deps.logger.error({ dropped }, 'webhook outbox full: oldest undelivered events dropped');
    // The state lock orders this after the transaction that queued the event.
    if (!this.closed) void this.drain(true);
  };

  /** Starts a delivery round now (called once queued events are committed). */
  kick(): void {
    if (!this.closed) void this.drain(true);
  }

  /** Polls for due retries and lapsed requests every `intervalMs` (a server process). */
  start(intervalMs = 2000): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.drain(), intervalMs);
    this.timer.unref();
  }

  /** One or more delivery rounds, until nothing more is due now; concurrent calls share one run. */
  drain(skipIdleCheck = false): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      let force = skipIdleCheck;
      do {
        this.again = false;
        await this.round(force).catch((error: unknown) => this.deps.logger.error({ errorName: (error as Error)?.name }, 'webhook delivery round failed'));
        force = true;
      } while (this.again && !this.closed);
    })();
    this.running = run.finally(() => (this.running = null));
    return this.running;
  }

  /** Stops the timer and delivers what is due for at most `flushMs` (a CLI command exiting). */
  async close(flushMs = 3000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const flush = this.drain().then(() => this.running ?? undefined);
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([flush, new Promise<void>((resolve) => (timeout = setTimeout(resolve, flushMs)))]);
    clearTimeout(timeout);
    this.closed = true;
    // What is still in flight fails now and is retried later by a process that runs.
    this.stopping.abort();
    await this.running?.catch(() => undefined);
  }

  private async round(force: boolean): Promise<void> {
    await this.deps.beforeRound?.();
    if (this.mine.size === 0) return;
    const now = this.deps.clock();
    if (!force && !anythingDue(await this.deps.store.read(), this.mine, now)) return;
    const leaseUntil = new Date(now.getTime() + this.deps.timeoutMs + 30_000);
    const claimed = await this.deps.store.transact((state) => claim(state, this.owner, this.mine, now, leaseUntil, BATCH));
    await Promise.all(claimed.map((entry) => this.attempt(entry.webhook, entry.event, entry.attempts)));
    if (claimed.length === BATCH) this.again = true;
  }

  private async attempt(hookId: string, event: ApprovalEvent, attemptsBefore: number): Promise<void> {
    const hook = this.hooks.find((h) => h.id === hookId)!;
    const links = this.deps.links(event.approval.id);
    const body = JSON.stringify(hook.format === 'slack' ? slackPayload(event, links) : genericPayload(event, links));
    const timestamp = Math.floor(this.deps.clock().getTime() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'agent-secret-store-webhook/1',
      'x-ass-event': event.type,
      'x-ass-delivery': event.id,
      [TIMESTAMP_HEADER]: String(timestamp),
      ...(hook.secret ? { [SIGNATURE_HEADER]: signPayload(hook.secret, timestamp, body) } : {}),
    };
    let why: string;
    let ok = false;
    try {
      // Security: no redirects (a receiver cannot bounce the body elsewhere); bounded in time.
      const response = await (this.deps.fetch ?? fetch)(hook.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.any([AbortSignal.timeout(this.deps.timeoutMs), this.stopping.signal]) });
      ok = response.status >= 200 && response.status < 300;
      why = `HTTP ${response.status}`;
      await response.body?.cancel().catch(() => undefined);
    } catch (error) {
      why = this.stopping.signal.aborted ? 'process exiting' : (error as Error)?.name === 'TimeoutError' ? 'timeout' : ((error as Error)?.name ?? 'error');
    }
    const last = attemptsBefore + 1 >= this.deps.maxAttempts;
    const next = ok || last ? null : new Date(this.deps.clock().getTime() + backoffMs(attemptsBefore + 1));
    const outcome = await this.deps.store.transact((state) => settle(state, this.owner, { webhook: hookId, eventId: event.id }, ok ? { ok: true } : { ok: false, nextAttemptAt: next }));
    if (ok) {
      this.counts.delivered++;
      return;
    }
    this.counts.failed_attempts++;
    const fields = { webhook: hook.id, host: hook.host, event: event.type, approval_id: event.approval.id, attempt: attemptsBefore + 1, why };
    if (outcome === 'abandoned') {
      this.counts.abandoned++;
      this.deps.logger.error(fields, 'webhook delivery given up after the last attempt');
    } else {
      this.deps.logger.warn({ ...fields, retry_at: next?.toISOString() }, 'webhook delivery failed; will retry');
    }
  }
}
