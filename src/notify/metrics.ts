import type { OutboxState } from '../shared/approval-events.js';

/**
 * Prometheus lines for webhook delivery, read from the state shared by every process (so a
 * CLI command's failed delivery is counted too). No label carries a URL, an agent or an id.
 */
export function renderOutboxMetrics(state: OutboxState): string {
  const s = state.outbox_stats ?? { delivered: 0, failed_attempts: 0, abandoned: 0, dropped: 0 };
  return [
    '# HELP ass_webhook_deliveries_total Webhook delivery attempts by result (every process of this setup).',
    '# TYPE ass_webhook_deliveries_total counter',
    `ass_webhook_deliveries_total{result="delivered"} ${s.delivered}`,
    `ass_webhook_deliveries_total{result="failed"} ${s.failed_attempts}`,
    '# HELP ass_webhook_events_lost_total Webhook events given up after the last attempt, or dropped from a full outbox.',
    '# TYPE ass_webhook_events_lost_total counter',
    `ass_webhook_events_lost_total{reason="abandoned"} ${s.abandoned}`,
    `ass_webhook_events_lost_total{reason="dropped"} ${s.dropped}`,
    '# HELP ass_webhook_outbox_pending Webhook events waiting for delivery.',
    '# TYPE ass_webhook_outbox_pending gauge',
    `ass_webhook_outbox_pending ${(state.outbox ?? []).length}`,
    '',
  ].join('\n');
}
