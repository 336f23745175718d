import { createHash } from 'node:crypto';
import type { ApprovalEvent, OutboxEntry, OutboxState, OutboxStats } from '../shared/approval-events.js';

/**
 * The durable outbox: pure operations on the part of the state file the notifier owns. Every
 * call runs inside the state store's transaction (its lock is shared by every process), so
 * an event is enqueued atomically with the change it reports, and of several processes
 * draining at once exactly one holds each entry (a lease, taken over once it runs out).
 */

export interface OutboxWebhook {
  id: string;
  events: readonly string[] | undefined;
}

/** A webhook's stable id: a hash of its url and format (the url itself may hold a token). */
export function webhookId(url: string, format: string): string {
  return createHash('sha256').update(`${format} ${url}`).digest('hex').slice(0, 16);
}

const stats = (state: OutboxState): OutboxStats => (state.outbox_stats ??= { delivered: 0, failed_attempts: 0, abandoned: 0, dropped: 0 });
const sameEntry = (a: OutboxEntry, b: { webhook: string; eventId: string }): boolean => a.webhook === b.webhook && a.event.id === b.eventId;

/** Queues `event` for each webhook that wants it; beyond `queueSize` the oldest entries go. Returns how many were dropped. */
export function enqueue(state: OutboxState, event: ApprovalEvent, webhooks: readonly OutboxWebhook[], now: Date, queueSize: number): number {
  const outbox = (state.outbox ??= []);
  for (const hook of webhooks) {
    if (hook.events && !hook.events.includes(event.type)) continue;
    outbox.push({ webhook: hook.id, event, attempts: 0, next_attempt_at: now.toISOString() });
  }
  const excess = Math.max(0, outbox.length - queueSize);
  if (excess > 0) {
    outbox.splice(0, excess);
    stats(state).dropped += excess;
  }
  return excess;
}

/** Whether anything is due now for one of `webhooks` (read without the lock, to skip idle transactions). */
export function anythingDue(state: OutboxState, webhooks: ReadonlySet<string>, now: Date): boolean {
  const t = now.toISOString();
  return (state.outbox ?? []).some((e) => webhooks.has(e.webhook) && e.next_attempt_at <= t && (!e.lease_until || e.lease_until <= t));
}

/** Takes up to `limit` due entries for this process, until `leaseUntil`. Returns copies. */
export function claim(state: OutboxState, owner: string, webhooks: ReadonlySet<string>, now: Date, leaseUntil: Date, limit: number): OutboxEntry[] {
  const t = now.toISOString();
  const taken: OutboxEntry[] = [];
  for (const entry of state.outbox ?? []) {
    if (taken.length >= limit) break;
    if (!webhooks.has(entry.webhook) || entry.next_attempt_at > t || (entry.lease_until && entry.lease_until > t)) continue;
    entry.lease_owner = owner;
    entry.lease_until = leaseUntil.toISOString();
    taken.push(structuredClone(entry));
  }
  return taken;
}

export type AttemptResult = { ok: true } | { ok: false; nextAttemptAt: Date | null };

/**
 * Records one attempt of an entry this process claimed: delivered → removed; failed → retried
 * at `nextAttemptAt`, or given up (removed, counted) when that is null. An entry another
 * process took over meanwhile is left alone.
 */
export function settle(state: OutboxState, owner: string, key: { webhook: string; eventId: string }, result: AttemptResult): 'delivered' | 'retry' | 'abandoned' | 'lost' {
  const outbox = state.outbox ?? [];
  const index = outbox.findIndex((e) => sameEntry(e, key) && e.lease_owner === owner);
  if (index < 0) return 'lost';
  const entry = outbox[index]!;
  if (result.ok) {
    outbox.splice(index, 1);
    stats(state).delivered++;
    return 'delivered';
  }
  stats(state).failed_attempts++;
  if (!result.nextAttemptAt) {
    outbox.splice(index, 1);
    stats(state).abandoned++;
    return 'abandoned';
  }
  entry.attempts++;
  entry.next_attempt_at = result.nextAttemptAt.toISOString();
  delete entry.lease_owner;
  delete entry.lease_until;
  return 'retry';
}

/** Exponential backoff with jitter: about 1s, 2s, 4s … capped at 5 minutes. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}
