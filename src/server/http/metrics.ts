/**
 * Prometheus text exposition (format 0.0.4), written by hand: a handful of series do not need a
 * client library. Labels are tool names, outcomes (`ok` or an error code) and transports:
 * never a namespace, key, agent id or value, so cardinality stays bounded and nothing leaks.
 */

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

const labelText = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');

export class Metrics {
  private readonly requests = new Map<string, { labels: Record<string, string>; value: number }>();
  private readonly durations = new Map<string, { labels: Record<string, string>; h: Histogram }>();
  private readonly http = new Map<string, { labels: Record<string, string>; value: number }>();
  private readonly rateLimited = new Map<string, number>();

  /** One tool call (MCP or REST) finished with `outcome` after `seconds`. */
  observeCall(transport: string, tool: string, outcome: string, seconds: number): void {
    const labels = { transport, tool, outcome };
    const key = labelText(labels);
    const counter = this.requests.get(key) ?? { labels, value: 0 };
    counter.value += 1;
    this.requests.set(key, counter);
    const hKey = labelText({ tool, outcome });
    const entry = this.durations.get(hKey) ?? { labels: { tool, outcome }, h: { counts: BUCKETS.map(() => 0), sum: 0, count: 0 } };
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) entry.h.counts[i]! += 1;
    });
    entry.h.sum += seconds;
    entry.h.count += 1;
    this.durations.set(hKey, entry);
  }

  /** One HTTP response, by route family (`mcp`, `sse`, `rest`, …) and status. */
  observeHttp(route: string, status: number): void {
    const labels = { route, status: String(status) };
    const key = labelText(labels);
    const counter = this.http.get(key) ?? { labels, value: 0 };
    counter.value += 1;
    this.http.set(key, counter);
  }

  observeRateLimited(transport: string): void {
    this.rateLimited.set(transport, (this.rateLimited.get(transport) ?? 0) + 1);
  }

  /** The exposition text; gauges are read now from the caller. */
  render(gauges: { approvalsPending: number; sessions: Record<string, number>; connections?: { open: number; evicted: number; refused: number; shed: number } }): string {
    const out: string[] = [];
    out.push('# HELP ass_requests_total Tool calls by transport, tool and outcome (ok or an error code).', '# TYPE ass_requests_total counter');
    for (const { labels, value } of this.requests.values()) out.push(`ass_requests_total{${labelText(labels)}} ${value}`);
    out.push('# HELP ass_request_duration_seconds Tool call latency by tool and outcome.', '# TYPE ass_request_duration_seconds histogram');
    for (const { labels, h } of this.durations.values()) {
      BUCKETS.forEach((b, i) => out.push(`ass_request_duration_seconds_bucket{${labelText({ ...labels, le: String(b) })}} ${h.counts[i]}`));
      out.push(`ass_request_duration_seconds_bucket{${labelText({ ...labels, le: '+Inf' })}} ${h.count}`);
      out.push(`ass_request_duration_seconds_sum{${labelText(labels)}} ${h.sum}`);
      out.push(`ass_request_duration_seconds_count{${labelText(labels)}} ${h.count}`);
    }
    out.push('# HELP ass_http_responses_total HTTP responses by route family and status.', '# TYPE ass_http_responses_total counter');
    for (const { labels, value } of this.http.values()) out.push(`ass_http_responses_total{${labelText(labels)}} ${value}`);
    out.push('# HELP ass_rate_limited_total Requests refused by the per-agent rate limit.', '# TYPE ass_rate_limited_total counter');
    for (const [transport, value] of this.rateLimited) out.push(`ass_rate_limited_total{${labelText({ transport })}} ${value}`);
    out.push('# HELP ass_approvals_pending Approval requests waiting for a human.', '# TYPE ass_approvals_pending gauge');
    out.push(`ass_approvals_pending ${gauges.approvalsPending}`);
    out.push('# HELP ass_sessions_active Open MCP sessions by transport.', '# TYPE ass_sessions_active gauge');
    for (const [transport, n] of Object.entries(gauges.sessions)) out.push(`ass_sessions_active{${labelText({ transport })}} ${n}`);
    if (gauges.connections) {
      const c = gauges.connections;
      out.push('# HELP ass_connections_open Open HTTP connections.', '# TYPE ass_connections_open gauge', `ass_connections_open ${c.open}`);
      out.push('# HELP ass_connections_closed_total Connections closed by http.connections: evicted to make room, or refused.', '# TYPE ass_connections_closed_total counter');
      out.push(`ass_connections_closed_total{reason="evicted"} ${c.evicted}`, `ass_connections_closed_total{reason="refused"} ${c.refused}`);
      out.push('# HELP ass_requests_shed_total Requests without a credential answered 503 near the connection limit.', '# TYPE ass_requests_shed_total counter', `ass_requests_shed_total ${c.shed}`);
    }
    return `${out.join('\n')}\n`;
  }
}
