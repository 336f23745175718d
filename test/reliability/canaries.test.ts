/**
 * Canaries: 100 random values, each sent through every path that carries a value, with the
 * stdio server and `serve --http` both at `debug` log level:
 *  - MCP over stdio and over streamable HTTP: set_secret, get_secret, list_secrets,
 *    list_namespaces, and the error paths — too large, denied namespace, invalid namespace,
 *    invalid type, a critical write waiting for approval, a backend failure (the secret's file
 *    position taken by a directory), the audit log unwritable (fail closed);
 *  - REST: token, PUT, GET, check-and-set conflict, unparsable JSON, too large, unknown field;
 *  - the human CLI: `secrets set` and `secrets rotate` from stdin, and a refused `secrets set`;
 *  - use without reveal: http_request to a loopback receiver that echoes the value back (and a
 *    refused destination), run_with_secrets printing it in every encoding, REST POST /v1/use/http.
 * Afterwards no canary appears (plain, escaped, hex, base64 at any offset) in stdout except
 * inside get_secret answers (stdio, by request id), in any HTTP answer except GET of a secret
 * and get_secret results, in either server's stderr (debug logs and any stack trace), in any
 * CLI output, or in any file under the home (audit log and its rotations, state, config,
 * the encrypted store).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { secretFileName } from '../../src/adapters/file/secret-file.js';
import { admin, filesUnder, initHome, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { INITIALIZE, MCP_HEADERS, raw, type RawResponse } from '../helpers/remote-http.js';
import { messagesOf, startBuiltHttpServer, type BuiltHttpServer } from './helpers/http-server.js';
import { canary, LeakDetector } from './helpers/leaks.js';
import { figure } from './helpers/process-probe.js';
import { spawnRawStdio, toolCallMessage, type RawStdioServer } from './helpers/raw-stdio.js';
import { startReceiver, writePrinter, type Receiver } from '../use/helpers.js';

const COUNT = 100;
const CANARIES = Array.from({ length: COUNT }, (_, i) => canary(i));
const detector = new LeakDetector(CANARIES);

let home: Home;
let stdio: RawStdioServer | undefined;
let http: BuiltHttpServer | undefined;
let receiver: Receiver | undefined;
let printer = '';
/** Everything a client or human saw that must be free of canaries, with where it came from. */
const seen: { where: string; text: string }[] = [];
/** stdio request ids of get_secret calls: their answers are the one place a value belongs. */
const getSecretIds = new Set<string>();
let callId = 0;

beforeAll(async () => {
  home = await initHome();
  receiver = await startReceiver();
  printer = await writePrinter(home.dir);
  await setConfig(home.configPath, {
    use: {
      commands: { allow: [{ executable: process.execPath, args: [printer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'print', '0'], env: { S: '**' } }] },
      http: { rules: [{ namespaces: 'canary/**', allowed_hosts: [`127.0.0.1:${receiver.port}`], schemes: ['http'] }] },
    },
    'server.log_level': 'debug',
    'agents.0.deny': ['secrets:*:canary/denied/**'],
    'http.rate_limit': { per_minute: 1_000_000, burst: 100_000 },
    'server.rate_limit': { per_minute: 1_000_000, burst: 100_000 },
  });
  stdio = spawnRawStdio(home.configPath, home.agentKey, { ASS_LOG_LEVEL: 'debug' });
  await stdio.initialize();
  http = await startBuiltHttpServer(home.configPath, { env: { ASS_LOG_LEVEL: 'debug' } });
});

afterAll(async () => {
  await stdio?.kill('SIGTERM');
  await http?.stop();
  await receiver?.close();
  removeHome(home);
});

/** One tool call over stdio; returns the answer. get_secret answers are set aside. */
async function viaStdio(tool: string, args: Record<string, unknown>): Promise<any> {
  const id = `c${++callId}`;
  if (tool === 'get_secret') getSecretIds.add(id);
  stdio!.send(toolCallMessage(id, tool, args));
  return stdio!.answer(id, 30_000);
}

let session = '';
const agentHeaders = (): Record<string, string> => ({ ...MCP_HEADERS, 'x-agent-key': home.agentKey, ...(session ? { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' } : {}) });

/** One tool call over streamable HTTP (raw, so every byte of the answer is seen). */
async function viaHttp(tool: string, args: Record<string, unknown>): Promise<any> {
  const id = ++callId;
  const res = await raw({ url: http!.url, method: 'POST', path: '/mcp', headers: agentHeaders(), body: JSON.stringify(toolCallMessage(id, tool, args)) });
  const answer = messagesOf(res).find((m) => m.id === id);
  // A get_secret result carries the value by design; everything else is checked.
  if (!(tool === 'get_secret' && answer?.result && !answer.result.isError)) seen.push({ where: `HTTP MCP ${tool}`, text: res.body });
  return answer;
}

async function rest(method: string, p: string, bearer: string, body?: string): Promise<RawResponse> {
  const res = await raw({ url: http!.url, method, path: p, headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body });
  if (!(method === 'GET' && p.startsWith('/v1/secrets/') && res.status === 200)) seen.push({ where: `REST ${method} ${p} → ${res.status}`, text: res.body });
  return res;
}

const isError = (answer: any): boolean => Boolean(answer?.error || answer?.result?.isError);

test(`canaries: ${COUNT} values through every path leave no trace outside get_secret answers`, { timeout: 600_000 }, async () => {
  // The detector itself: a planted canary is found plain, base64 at an offset, and hex.
  for (const planted of [CANARIES[7]!, Buffer.from(`xy${CANARIES[7]}`).toString('base64'), Buffer.from(CANARIES[7]!).toString('hex')]) {
    expect(detector.find(`..${planted}..`, 'self-check').length, planted).toBeGreaterThan(0);
  }
  expect(detector.find('nothing to see', 'self-check')).toEqual([]);

  const init = await raw({ url: http!.url, method: 'POST', path: '/mcp', headers: agentHeaders(), body: INITIALIZE });
  session = String(init.headers['mcp-session-id']);
  await raw({ url: http!.url, method: 'POST', path: '/mcp', headers: agentHeaders(), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  const token = JSON.parse((await rest('POST', '/v1/tokens', home.agentKey, JSON.stringify({ scopes: ['secrets:*:canary/**'], ttl: '1h' }))).body).token as string;
  expect(token).toBeTruthy();
  // The file backend keeps one file per secret under <backend.path>/secrets.
  const secretsDir = path.join(home.dir, 'secrets', 'secrets');
  let paths = 0;

  for (let i = 0; i < COUNT; i++) {
    const value = CANARIES[i]!;
    const mcp = i % 2 === 0 ? viaStdio : viaHttp;
    const namespace = `canary/n${i % 5}`;
    const key = `K${i}`;
    const expectOk = async (p: Promise<any>, what: string): Promise<any> => {
      const answer = await p;
      paths++;
      expect(isError(answer), `${what} for canary ${i}: ${JSON.stringify(answer).slice(0, 300)}`).toBe(false);
      return answer;
    };
    const expectError = async (p: Promise<any>, what: string): Promise<void> => {
      const answer = await p;
      paths++;
      expect(isError(answer), `${what} for canary ${i} should fail`).toBe(true);
    };

    await expectOk(mcp('set_secret', { namespace, key, value, secret_type: 'api_key' }), 'set_secret');
    const got = await expectOk(mcp('get_secret', { namespace, key }), 'get_secret');
    expect(got.result.structuredContent.value).toBe(value);
    await expectOk(mcp('list_secrets', { namespace }), 'list_secrets');
    await expectOk(mcp('list_namespaces', {}), 'list_namespaces');
    await expectError(mcp('set_secret', { namespace, key: 'BIG', value: `${value}${'x'.repeat(70_000)}` }), 'too large');
    await expectError(mcp('set_secret', { namespace: 'canary/denied', key, value }), 'denied namespace');
    await expectError(mcp('set_secret', { namespace: '../canary', key, value }), 'invalid namespace');
    await expectError(mcp('set_secret', { namespace, key, value, secret_type: 'nope', access_tier: 'ultra' }), 'invalid type and tier');
    await expectError(mcp('set_secret', { namespace: 'canary/crit', key, value, access_tier: 'critical' }), 'critical write (approval)');

    // Use without reveal: sent to a receiver that echoes it back (the answer must be masked),
    // refused for another host, and printed by a command in every encoding.
    const ref = `{{ass://${namespace}/${key}}}`;
    const delivered = receiver!.requests.length;
    await expectOk(mcp('http_request', { method: 'POST', url: `${receiver!.origin}/echo`, headers: { Authorization: `Bearer ${ref}` }, body: `v=${ref}` }), 'http_request');
    expect(receiver!.requests[delivered]?.headers.authorization).toBe(`Bearer ${value}`);
    await expectError(mcp('http_request', { method: 'GET', url: `http://localhost:1/?k=${ref}` }), 'http_request to a host not allowed');
    if (i % 5 === 0) await expectOk(mcp('run_with_secrets', { command: [process.execPath, printer, 'print', '0'], env: { S: `ass://${namespace}/${key}` } }), 'run_with_secrets');

    // A backend failure with the value in flight: a directory where the secret's file goes.
    const blocked = path.join(secretsDir, secretFileName('canary/broken', key));
    mkdirSync(path.join(blocked, 'x'), { recursive: true });
    await expectError(mcp('set_secret', { namespace: 'canary/broken', key, value }), 'backend failure (write)');
    await expectError(mcp('get_secret', { namespace: 'canary/broken', key }), 'backend failure (read)');
    rmSync(blocked, { recursive: true, force: true });

    // REST: the same value through PUT, GET, and its error paths.
    const restPath = `/v1/secrets/canary/r${i % 5}/${key}`;
    expect((await rest('PUT', restPath, token, JSON.stringify({ value }))).status).toBe(200);
    expect(JSON.parse((await rest('GET', restPath, token)).body).value).toBe(value);
    expect((await rest('PUT', restPath, token, JSON.stringify({ value, expected_version: 999 }))).status).toBe(409);
    expect((await rest('PUT', restPath, token, `{"value":"${value}"`)).status).toBe(400);
    expect((await rest('PUT', restPath, token, JSON.stringify({ value: `${value}${'x'.repeat(70_000)}` }))).status).toBeGreaterThanOrEqual(400);
    expect((await rest('PUT', restPath, token, JSON.stringify({ value, note: value }))).status).toBe(400);
    expect((await rest('POST', '/v1/use/http', token, JSON.stringify({ method: 'GET', url: `${receiver!.origin}/echo`, headers: { Authorization: `{{ass://canary/r${i % 5}/${key}}}` } }))).status).toBe(200);
    paths += 7;
  }

  // The audit log unwritable (a directory in its place, a failure even as root): fail closed.
  const log = path.join(home.dir, 'audit.log');
  await rename(log, `${log}.saved`);
  mkdirSync(log);
  try {
    for (let i = 0; i < 10; i++) {
      const answer = await (i % 2 === 0 ? viaStdio : viaHttp)('set_secret', { namespace: 'canary/n0', key: `AUDITLESS${i}`, value: CANARIES[i]! });
      expect(isError(answer), 'a write with the audit log unwritable').toBe(true);
      paths++;
    }
  } finally {
    rmSync(log, { recursive: true, force: true });
    await rename(`${log}.saved`, log);
  }

  // The human CLI: values on stdin, and a refused command that read one.
  for (let i = 0; i < COUNT; i += 10) {
    for (const run of [
      await admin(home, ['secrets', 'set', 'canary/cli', `H${i}`], { input: CANARIES[i]! }),
      await admin(home, ['secrets', 'rotate', 'canary/cli', `H${i}`], { input: CANARIES[i + 1]! }),
      await admin(home, ['secrets', 'set', 'canary/cli', `H${i}`, '--tier', 'ultra'], { input: CANARIES[i + 2]! }),
      await admin(home, ['approvals', 'list', '--all']),
    ]) {
      seen.push({ where: 'CLI', text: run.stdout + run.stderr });
      paths++;
    }
  }
  expect((await admin(home, ['audit', 'verify', '--all'])).code).toBe(0);

  // Stop both servers so every log line is out, then look everywhere.
  await stdio!.kill('SIGTERM');
  await http!.stop();
  const found: string[] = [];
  for (const m of stdio!.messages) {
    if (m && getSecretIds.has(m.id) && m.result && !m.result.isError) continue;
    found.push(...detector.find(JSON.stringify(m), 'stdio stdout'));
  }
  for (const line of stdio!.junk) found.push(...detector.find(line, 'stdio stdout (not JSON)'));
  found.push(...detector.find(stdio!.stderr(), 'stdio stderr (debug)'));
  found.push(...detector.find(http!.stderr(), 'HTTP server stderr (debug)'));
  for (const { where, text } of seen) found.push(...detector.find(text, where));
  const files = filesUnder(home.dir);
  for (const file of files) found.push(...detector.find(readFileSync(file), `file ${path.relative(home.dir, file)}`));
  const debugLines = (stdio!.stderr().match(/"level":20/g) ?? []).length + (http!.stderr().match(/"level":20/g) ?? []).length;
  figure('canaries', `${COUNT} canaries, ${paths} value-carrying calls (stdio, HTTP MCP, REST, CLI; ${debugLines} debug log lines), ${files.length} files scanned: ${found.length} leaks`);
  expect(found).toEqual([]);
});
