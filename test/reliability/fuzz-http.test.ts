/**
 * Fuzzing over streamable HTTP: fast-check POSTs ASS_FUZZ_RUNS (default 5,000) hostile bodies
 * (helpers/hostile.ts) to `/mcp` of the built `serve --http`, inside one initialized session,
 * in order. For every case: no 5xx, the server still runs,
 * every JSON-RPC error in a response carries a standard code, a refusal of an unparsable body
 * is a JSON-RPC parse error (-32700) as the MCP SDK's own transport answers, every well-formed
 * request is answered (by id, or refused as a whole with a JSON-RPC error), every request is
 * answered within a bounded wait (no hang), and every 10th case is followed by a ping on the
 * same session that must be answered. Afterwards a good get_secret over a new SDK session is
 * still answered with the right value. Seed printed for replay (ASS_FUZZ_SEED).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initHome, ok, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { INITIALIZE, MCP_HEADERS, raw, type RawResponse } from '../helpers/remote-http.js';
import { hostileCase, isStandardJsonRpcCode } from './helpers/hostile.js';
import { connectHttpAgent, messagesOf, startBuiltHttpServer, type BuiltHttpServer } from './helpers/http-server.js';
import { figure } from './helpers/process-probe.js';

const RUNS = Number(process.env.ASS_FUZZ_RUNS ?? 5_000);
const SEED = Number(process.env.ASS_FUZZ_SEED ?? Date.now() % 2 ** 31);

const ANSWER_MS = 20_000;

/** `raw` with a bounded wait: a request the server never answers fails the case (a hang). */
function bounded(req: Parameters<typeof raw>[0]): Promise<RawResponse> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no HTTP answer within ${ANSWER_MS} ms`)), ANSWER_MS);
  });
  return Promise.race([raw(req), timeout]).finally(() => clearTimeout(timer));
}

let home: Home;
let server: BuiltHttpServer | undefined;

beforeAll(async () => {
  home = await initHome();
  // Body limit above the largest generated string so huge values reach the parser and tools.
  await setConfig(home.configPath, { 'http.rate_limit': { per_minute: 10_000_000, burst: 1_000_000 }, 'http.body_limit': 4 * 1024 * 1024, 'server.log_level': 'warn' });
  server = await startBuiltHttpServer(home.configPath);
  const agent = await connectHttpAgent(server.url, home.agentKey);
  await ok(agent.client, 'set_secret', { namespace: 'fuzz', key: 'GOOD', value: 'still-here' });
  await agent.close();
});

afterAll(async () => {
  await server?.stop();
  removeHome(home);
});

test(`HTTP fuzz: ${RUNS} hostile bodies on /mcp, no crash, no hang, standard error codes, still serving`, { timeout: 900_000 }, async () => {
  const s = server!;
  const headers = { ...MCP_HEADERS, 'x-agent-key': home.agentKey };
  const init = await raw({ url: s.url, method: 'POST', path: '/mcp', headers, body: INITIALIZE });
  expect(init.status).toBe(200);
  const session = String(init.headers['mcp-session-id']);
  const sessionHeaders = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
  await raw({ url: s.url, method: 'POST', path: '/mcp', headers: sessionHeaders, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });

  const kinds: Record<string, number> = {};
  const statuses: Record<number, number> = {};
  let pings = 0;
  let cases = 0;
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(hostileCase(false), async (c) => {
      kinds[c.kind] = (kinds[c.kind] ?? 0) + 1;
      const response = await bounded({ url: s.url, method: 'POST', path: '/mcp', headers: sessionHeaders, body: c.bytes });
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      const what = `${c.kind} case → ${response.status} ${response.body.slice(0, 300)}`;
      expect(response.status, what).toBeLessThan(500);
      const messages = response.headers['content-type']?.toString().includes('json') || response.headers['content-type']?.toString().includes('event-stream') ? messagesOf(response) : [];
      for (const m of messages) if (m && typeof m === 'object' && 'error' in m && m.jsonrpc) expect(isStandardJsonRpcCode(m.error?.code), what).toBe(true);
      if (response.status === 400) {
        // A refused body is answered in JSON-RPC terms, with a standard code (as the SDK's transport does).
        expect(messages.length, what).toBe(1);
        expect(messages[0]?.jsonrpc, what).toBe('2.0');
        expect(isStandardJsonRpcCode(messages[0]?.error?.code), what).toBe(true);
      }
      if (c.kind === 'not-json' && response.status === 400) expect(messages[0]?.error?.code, what).toBe(-32700);
      const refusedWhole = response.status >= 400;
      for (const id of c.answerIds) {
        if (refusedWhole) continue;
        expect(messages.some((m) => m && m.id === id && ('result' in m || 'error' in m)), `no answer to ${JSON.stringify(id)} in ${what}`).toBe(true);
      }
      // Every case's own answer shows the server alive; a ping every 10th shows the session still serves.
      if (++cases % 10 !== 0) {
        expect(s.child.exitCode, `server exited after a ${what}`).toBeNull();
        return;
      }
      pings++;
      const pong = await bounded({ url: s.url, method: 'POST', path: '/mcp', headers: sessionHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: `ping-${pings}`, method: 'ping' }) });
      expect(pong.status, `ping after a ${what}`).toBe(200);
      expect(messagesOf(pong).find((m) => m.id === `ping-${pings}`)?.result, `ping after a ${what}`).toEqual({});
      expect(s.child.exitCode, `server exited after a ${what}`).toBeNull();
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );

  const agent = await connectHttpAgent(s.url, home.agentKey);
  try {
    expect((await ok(agent.client, 'get_secret', { namespace: 'fuzz', key: 'GOOD' })).value).toBe('still-here');
  } finally {
    await agent.close();
  }
  expect(s.stderr()).not.toMatch(/MaxListenersExceeded|FATAL|RangeError|Maximum call stack/);
  figure('fuzz-http', `${RUNS} hostile bodies (seed ${SEED}) ${JSON.stringify(kinds)}; statuses ${JSON.stringify(statuses)}; ${pings} pings answered, 0 crashes, 0 5xx; ${((performance.now() - started) / 1000).toFixed(0)} s`);
});
