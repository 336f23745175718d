/**
 * /metrics text through prom-client (issue 14): our series keep their names and labels, the
 * read cache's hits, misses and evictions are shown when a backend has a cache, and the process
 * metrics come with them.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/server/http/metrics.js';

describe('Metrics', () => {
  it('renders our series, the cache figures and the default process metrics', async () => {
    const metrics = new Metrics();
    metrics.observeCall('stdio', 'get_secret', 'ok', 0.003);
    metrics.observeCall('stdio', 'get_secret', 'ok', 0.2);
    metrics.observeHttp('mcp', 200);
    metrics.observeRateLimited('rest');
    const text = await metrics.render({
      approvalsPending: 2,
      sessions: { streamable_http: 3, sse: 0 },
      connections: { open: 5, evicted: 7, refused: 1, shed: 4 },
      cache: { hits: 90, misses: 10, evictions: 3, entries: 6, bytes: 2048 },
    });
    expect(text).toMatch(/^ass_requests_total\{transport="stdio",tool="get_secret",outcome="ok"\} 2$/m);
    expect(text).toMatch(/^ass_request_duration_seconds_bucket\{tool="get_secret",outcome="ok",le="0\.005"\} 1$/m);
    expect(text).toMatch(/^ass_request_duration_seconds_count\{tool="get_secret",outcome="ok"\} 2$/m);
    expect(text).toMatch(/^ass_http_responses_total\{route="mcp",status="200"\} 1$/m);
    expect(text).toMatch(/^ass_rate_limited_total\{transport="rest"\} 1$/m);
    expect(text).toMatch(/^ass_approvals_pending 2$/m);
    expect(text).toMatch(/^ass_sessions_active\{transport="streamable_http"\} 3$/m);
    expect(text).toMatch(/^ass_connections_open 5$/m);
    expect(text).toMatch(/^ass_connections_closed_total\{reason="evicted"\} 7$/m);
    expect(text).toMatch(/^ass_requests_shed_total 4$/m);
    expect(text).toMatch(/^ass_cache_requests_total\{result="hit"\} 90$/m);
    expect(text).toMatch(/^ass_cache_requests_total\{result="miss"\} 10$/m);
    expect(text).toMatch(/^ass_cache_evictions_total 3$/m);
    expect(text).toMatch(/^ass_cache_entries 6$/m);
    expect(text).toMatch(/^ass_cache_bytes 2048$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  });

  it('counters read at scrape time follow the source, not an accumulation of scrapes', async () => {
    const metrics = new Metrics();
    const gauges = { approvalsPending: 0, sessions: {}, connections: { open: 0, evicted: 2, refused: 0, shed: 0 }, cache: { hits: 1, misses: 1, evictions: 0, entries: 1, bytes: 300 } };
    await metrics.render(gauges);
    const text = await metrics.render({ ...gauges, cache: { ...gauges.cache, hits: 5 } });
    expect(text).toMatch(/^ass_connections_closed_total\{reason="evicted"\} 2$/m);
    expect(text).toMatch(/^ass_cache_requests_total\{result="hit"\} 5$/m);
  });

  it('two servers in one process each count their own calls', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.observeCall('rest', 'get_secret', 'ok', 0.01);
    const text = await b.render({ approvalsPending: 0, sessions: {} });
    expect(text).not.toMatch(/^ass_requests_total\{/m);
    expect(await a.render({ approvalsPending: 0, sessions: {} })).toMatch(/^ass_requests_total\{transport="rest",tool="get_secret",outcome="ok"\} 1$/m);
  });
});
