/**
 * 50 agents at once, 200 get_secret calls each, every agent on its own canary secret, half over
 * streamable HTTP and half over SSE: zero answers may carry another agent's canary.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

const AGENTS = 50;
const CALLS = 200;
let server: InProcessServer;
const canaries: string[] = [];

beforeAll(async () => {
  const agents = Array.from({ length: AGENTS }, (_, i) => ({ id: `agent-${i}`, grants: [`secrets:*:canary/agent-${i}/**`] }));
  server = await startInProcess({ agents, http: { rate_limit: { per_minute: 1_000_000, burst: 10_000 } } });
  for (let i = 0; i < AGENTS; i++) {
    canaries.push(`canary-${i}-${randomBytes(8).toString('hex')}`);
    await server.runtime.backend.put({ namespace: `canary/agent-${i}`, key: 'CANARY', value: canaries[i]!, secret_type: 'api_key', access_tier: 'standard', metadata: {} });
  }
});
afterAll(async () => server?.close());

it(`${AGENTS} agents × ${CALLS} calls: no cross-agent answer`, async () => {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: AGENTS }, async (_, i) => {
      const headers = { 'x-agent-key': server.keys[`agent-${i}`]! };
      const transport =
        i % 2 === 0
          ? new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } })
          : new SSEClientTransport(new URL(`${server.url}/sse`), { requestInit: { headers }, eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } });
      const client = new Client({ name: `agent-${i}`, version: '1.0.0' });
      await client.connect(transport);
      let own = 0;
      const foreign: string[] = [];
      const other: string[] = [];
      for (let c = 0; c < CALLS; c++) {
        // Every fourth call asks for a neighbour's canary: it must be denied, never served.
        const target = c % 4 === 3 ? (i + 1) % AGENTS : i;
        const res = (await client.callTool({ name: 'get_secret', arguments: { namespace: `canary/agent-${target}`, key: 'CANARY' } })) as { isError?: boolean; structuredContent?: { value?: string } };
        const text = JSON.stringify(res);
        for (let j = 0; j < AGENTS; j++) if (j !== i && text.includes(canaries[j]!)) foreign.push(`agent-${j}`);
        if (target === i && res.structuredContent?.value === canaries[i]) own += 1;
        else if (target !== i && !res.isError) other.push('served a neighbour');
      }
      await client.close();
      return { own, foreign, other };
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const calls = AGENTS * CALLS;
  console.log(`[concurrency] ${AGENTS} agents × ${CALLS} calls = ${calls} calls in ${seconds.toFixed(1)} s (${Math.round(calls / seconds)} calls/s)`);
  expect(results.flatMap((r) => r.foreign)).toEqual([]);
  expect(results.flatMap((r) => r.other)).toEqual([]);
  expect(results.map((r) => r.own)).toEqual(Array.from({ length: AGENTS }, () => CALLS - CALLS / 4));
}, 300_000);
