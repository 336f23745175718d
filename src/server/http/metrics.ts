import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus exposition (format 0.0.4) through prom-client, with its default process metrics
 * (event-loop lag, GC, heap, handles, CPU, RSS) beside ours. Labels are tool names, outcomes
 * (`ok` or an error code), transports and route families: never a namespace, key, agent id or
 * value, so cardinality stays bounded and nothing leaks.
 */

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * prom-client writes `le` first in a bucket's labels; the exposition written by hand before it
 * put `le` last. Prometheus does not care, but scripts that grep the text do: kept as it was.
 */
class LeLastHistogram<T extends string> extends Histogram<T> {
  // The text exposition reads getForPromString (not in prom-client's types): `le` sits in each
  // value's labels and the series' labels in sharedLabels, written after it; merged in our order.
  async getForPromString(): Promise<{ values: Array<{ labels: Record<string, unknown>; sharedLabels?: Record<string, unknown> }> }> {
    const parent = Histogram.prototype as unknown as { getForPromString(this: unknown): Promise<{ values: Array<{ labels: Record<string, unknown>; sharedLabels?: Record<string, unknown> }> }> };
    const data = await parent.getForPromString.call(this);
    for (const v of data.values) {
      v.labels = { ...v.sharedLabels, ...v.labels };
      v.sharedLabels = {};
    }
    return data;
  }
}

/** The read cache's figures (src/adapters/cache), when a remote backend has one. */
export interface CacheFigures {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
}

export interface MetricsGauges {
  approvalsPending: number;
  sessions: Record<string, number>;
  connections?: { open: number; evicted: number; refused: number; shed: number };
  cache?: CacheFigures | null;
}

/**
 * Default process metrics are collected once per process into their own registry (their GC
 * observer and event-loop monitor are per process, not per server) and merged into each
 * server's exposition.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  private readonly registry = new Registry();
  private gauges: MetricsGauges = { approvalsPending: 0, sessions: {} };
  private readonly requests = new Counter({ name: 'ass_requests_total', help: 'Tool calls by transport, tool and outcome (ok or an error code).', labelNames: ['transport', 'tool', 'outcome'], registers: [this.registry] });
  private readonly durations = new LeLastHistogram({ name: 'ass_request_duration_seconds', help: 'Tool call latency by tool and outcome.', labelNames: ['tool', 'outcome'], buckets: BUCKETS, registers: [this.registry] });
  private readonly http = new Counter({ name: 'ass_http_responses_total', help: 'HTTP responses by route family and status.', labelNames: ['route', 'status'], registers: [this.registry] });
  private readonly rateLimited = new Counter({ name: 'ass_rate_limited_total', help: 'Requests refused by the per-agent rate limit.', labelNames: ['transport'], registers: [this.registry] });

  constructor() {
    // Values read at scrape time from `render`'s caller: gauges, and counters kept elsewhere.
    const read = (): MetricsGauges => this.gauges;
    new Gauge({ name: 'ass_approvals_pending', help: 'Approval requests waiting for a human.', registers: [this.registry], collect() { this.set(read().approvalsPending); } });
    new Gauge({
      name: 'ass_sessions_active', help: 'Open MCP sessions by transport.', labelNames: ['transport'], registers: [this.registry],
      collect() {
        for (const [transport, n] of Object.entries(read().sessions)) this.set({ transport }, n);
      },
    });
    new Gauge({ name: 'ass_connections_open', help: 'Open HTTP connections.', registers: [this.registry], collect() { this.set(read().connections?.open ?? 0); } });
    new Counter({
      name: 'ass_connections_closed_total', help: 'Connections closed by http.connections: evicted to make room, or refused.', labelNames: ['reason'], registers: [this.registry],
      collect() {
        this.reset();
        this.inc({ reason: 'evicted' }, read().connections?.evicted ?? 0);
        this.inc({ reason: 'refused' }, read().connections?.refused ?? 0);
      },
    });
    new Counter({ name: 'ass_requests_shed_total', help: 'Requests without a credential answered 503 near the connection limit.', registers: [this.registry], collect() { this.reset(); this.inc(read().connections?.shed ?? 0); } });
    new Counter({
      name: 'ass_cache_requests_total', help: 'Reads of the remote backend read cache by result (hit, or miss: read from the backend).', labelNames: ['result'], registers: [this.registry],
      collect() {
        this.reset();
        const cache = read().cache;
        if (!cache) return;
        this.inc({ result: 'hit' }, cache.hits);
        this.inc({ result: 'miss' }, cache.misses);
      },
    });
    new Counter({ name: 'ass_cache_evictions_total', help: 'Entries the read cache evicted to stay within max_entries and max_bytes.', registers: [this.registry], collect() { this.reset(); this.inc(read().cache?.evictions ?? 0); } });
    new Gauge({ name: 'ass_cache_entries', help: 'Secrets held in the read cache now.', registers: [this.registry], collect() { this.set(read().cache?.entries ?? 0); } });
    new Gauge({ name: 'ass_cache_bytes', help: 'Approximate bytes held in the read cache now.', registers: [this.registry], collect() { this.set(read().cache?.bytes ?? 0); } });
  }

  /** One tool call (MCP or REST) finished with `outcome` after `seconds`. */
  observeCall(transport: string, tool: string, outcome: string, seconds: number): void {
    this.requests.inc({ transport, tool, outcome });
    this.durations.observe({ tool, outcome }, seconds);
  }

  /** One HTTP response, by route family (`mcp`, `sse`, `rest`, …) and status. */
  observeHttp(route: string, status: number): void {
    this.http.inc({ route, status: String(status) });
  }

  observeRateLimited(transport: string): void {
    this.rateLimited.inc({ transport });
  }

  /** The exposition text: ours (gauges read now from the caller), then the process's. */
  async render(gauges: MetricsGauges): Promise<string> {
    this.gauges = gauges;
    return Registry.merge([this.registry, processMetrics()]).metrics();
  }
}
