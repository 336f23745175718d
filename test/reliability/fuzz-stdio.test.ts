/**
 * Fuzzing over stdio: fast-check sends ASS_FUZZ_RUNS (default 5,000; the HTTP suite sends as
 * many again) malformed or hostile cases (helpers/hostile.ts: wrong types, huge strings, deep
 * nesting, invalid UTF-8, stray newlines, unknown methods, batches) into ONE built stdio server,
 * each followed by a ping. For every case: the server is still running, every well-formed
 * request in it is answered within a bounded wait, every error carries a standard JSON-RPC code,
 * the ping is answered (no hang), and stdout carries nothing but JSON-RPC. Afterwards a good
 * get_secret is still answered with the right value. The seed is printed for replay
 * (ASS_FUZZ_SEED).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { connectAgent, initHome, ok, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { hostileCase, isStandardJsonRpcCode } from './helpers/hostile.js';
import { figure } from './helpers/process-probe.js';
import { spawnRawStdio, toolCallMessage, type RawStdioServer } from './helpers/raw-stdio.js';

const RUNS = Number(process.env.ASS_FUZZ_RUNS ?? 5_000);
const SEED = Number(process.env.ASS_FUZZ_SEED ?? Date.now() % 2 ** 31);
const ANSWER_MS = 20_000;

let home: Home;
let server: RawStdioServer | undefined;

beforeAll(async () => {
  home = await initHome();
  // 5,000 hostile messages from one agent: the stdio rate limit (tested in its own suite) is raised.
  await setConfig(home.configPath, { 'server.rate_limit': { per_minute: 10_000_000, burst: 1_000_000 } });
  const seedClient = await connectAgent(home.configPath, home.agentKey);
  try {
    await ok(seedClient.client, 'set_secret', { namespace: 'fuzz', key: 'GOOD', value: 'still-here' });
  } finally {
    await seedClient.close();
  }
});

afterAll(async () => {
  await server?.kill('SIGKILL');
  removeHome(home);
});

test(`stdio fuzz: ${RUNS} hostile cases, no crash, no hang, standard error codes, still serving`, { timeout: 900_000 }, async () => {
  server = spawnRawStdio(home.configPath, home.agentKey, { ASS_LOG_LEVEL: 'warn' });
  await server.initialize();
  const kinds: Record<string, number> = {};
  let pings = 0;
  let answered = 0;
  const s = server;
  const started = performance.now();

  await fc.assert(
    fc.asyncProperty(hostileCase(true), async (c) => {
      kinds[c.kind] = (kinds[c.kind] ?? 0) + 1;
      const from = s.messages.length;
      s.write(c.bytes);
      const pingId = `ping-${++pings}`;
      s.send({ jsonrpc: '2.0', id: pingId, method: 'ping' });
      for (const id of c.answerIds) {
        const answer = await s.answer(id, ANSWER_MS);
        answered++;
        if (answer.error) expect(isStandardJsonRpcCode(answer.error.code), `error code for a ${c.kind} case: ${JSON.stringify(answer.error).slice(0, 300)}`).toBe(true);
      }
      const pong = await s.answer(pingId, ANSWER_MS);
      expect(pong.result, `ping after a ${c.kind} case`).toEqual({});
      for (const m of s.messages.slice(from)) {
        if (m && typeof m === 'object' && 'error' in m) expect(isStandardJsonRpcCode(m.error?.code), `error code: ${JSON.stringify(m).slice(0, 300)}`).toBe(true);
      }
      expect(s.exited(), `server exited after a ${c.kind} case; stderr:\n${s.stderr().slice(-2000)}`).toBe(false);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );

  expect(s.junk, 'non-JSON lines on stdout').toEqual([]);
  s.send(toolCallMessage('good', 'get_secret', { namespace: 'fuzz', key: 'GOOD' }));
  const good = await s.answer('good', ANSWER_MS);
  expect(good.result?.structuredContent?.value).toBe('still-here');
  expect(s.stderr()).not.toMatch(/MaxListenersExceeded|FATAL|RangeError|Maximum call stack/);
  figure('fuzz-stdio', `${RUNS} hostile cases (seed ${SEED}) ${JSON.stringify(kinds)}; ${answered} requests answered, ${pings} pings answered, 0 crashes; ${((performance.now() - started) / 1000).toFixed(0)} s`);
});
