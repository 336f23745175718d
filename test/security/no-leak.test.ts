/**
 * No secret value leaks. Random canary values go through a whole session (writes, reads, an
 * approval, tokens, lists, errors, human rotation from stdin) with the server spawned behind a
 * pass-through that records every stdout byte. Afterwards the canaries appear in no stderr
 * byte, no audit line, no file under the home (plain, base64, base64url or hex), no CLI
 * output, no list result, and on stdout only inside get_secret results. Credentials likewise:
 * the JWT that request_token issued, the agent key and the admin key appear in no audit line, no
 * stderr byte, no CLI output and no file under the home (the token's id may, and is audited).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import {
  admin, approvalIdOf, call, connectRecording, fails, filesUnder, initHome, ok, removeHome,
  type CliResult, type Home, type RecordingStdioTransport,
} from '../helpers/cli.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { encodings } from '../reliability/helpers/leaks.js';

const canary = (name: string): string => `canary-${name}-${randomBytes(18).toString('base64url')}`;
const CANARIES = {
  standard: canary('std'),
  critical: canary('crit'),
  rejected: canary('rejected'),
  rotated: canary('rotated'),
  metadataFree: canary('meta'),
};

function leaks(haystack: Buffer | string, values: string[]): string[] {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  const found: string[] = [];
  for (const value of values) for (const form of encodings(value)) if (text.includes(form)) found.push(`${value.slice(0, 14)}… as ${form.slice(0, 16)}…`);
  return found;
}

let home: Home;
let client: Client;
/** JWTs issued during the session: credentials, so like values they may appear only where handed out. */
const issuedTokens: string[] = [];
let transport: RecordingStdioTransport;
const cliOutputs: CliResult[] = [];

async function human(args: string[], input?: string): Promise<CliResult> {
  const result = await admin(home, args, { input });
  cliOutputs.push(result);
  return result;
}

beforeAll(async () => {
  home = await initHome();
  ({ client, transport } = await connectRecording(home.configPath, home.agentKey));
});

afterAll(async () => {
  await client?.close();
  removeHome(home);
});

describe('no secret value leaks', () => {
  it('the detector finds a canary plain, base64 (any offset), base64url and hex', () => {
    const c = CANARIES.standard;
    for (const prefix of ['', 'x', 'xy', 'xyz']) {
      const wrapped = Buffer.from(`${prefix}{"value":"${c}"}`);
      expect(leaks(wrapped.toString('base64'), [c]).length, prefix).toBeGreaterThan(0);
      expect(leaks(wrapped.toString('base64url'), [c]).length, prefix).toBeGreaterThan(0);
      expect(leaks(wrapped.toString('hex'), [c]).length, prefix).toBeGreaterThan(0);
    }
    expect(leaks('nothing here', [c])).toEqual([]);
  });

  it('plays a full session including errors', async () => {
    await ok(client, 'set_secret', { namespace: 'production/app', key: 'STD', value: CANARIES.standard, secret_type: 'api_key', metadata: { team: 'ml' } });
    expect((await ok(client, 'get_secret', { namespace: 'production/app', key: 'STD' })).value).toBe(CANARIES.standard);

    // A critical secret: the write and the read each go through a human.
    const write = await fails(client, 'set_secret', { namespace: 'production/stripe', key: 'CRIT', value: CANARIES.critical, access_tier: 'critical' });
    expect((await human(['approvals', 'approve', approvalIdOf(write.error)])).code).toBe(0);
    await ok(client, 'set_secret', { namespace: 'production/stripe', key: 'CRIT', value: CANARIES.critical, access_tier: 'critical' });
    const read = await fails(client, 'get_secret', { namespace: 'production/stripe', key: 'CRIT' });
    const readId = approvalIdOf(read.error);
    expect((await ok(client, 'get_approval_status', { approval_id: readId })).status).toBe('pending');
    expect((await human(['approvals', 'list'])).code).toBe(0);
    expect((await human(['approvals', 'list', '--json', '--all'])).code).toBe(0);
    expect((await human(['approvals', 'approve', readId])).code).toBe(0);
    expect((await ok(client, 'get_secret', { namespace: 'production/stripe', key: 'CRIT' })).value).toBe(CANARIES.critical);

    // Errors that carry a value: none may echo it.
    const errors = [
      await call(client, 'set_secret', { namespace: 'production/app', key: 'STD', value: CANARIES.rejected, access_tier: 'critical', secret_type: 'nope' }),
      await call(client, 'set_secret', { namespace: '../app', key: 'STD', value: CANARIES.rejected }),
      await call(client, 'set_secret', { namespace: 'production/app', key: 'S\u0000TD', value: CANARIES.rejected }),
      await call(client, 'set_secret', { namespace: 'production/stripe', key: 'CRIT', value: CANARIES.rejected, access_tier: 'standard' }),
      await call(client, 'set_secret', { namespace: 'production/app', key: 'STD', value: CANARIES.rejected, extra: CANARIES.rejected }),
      await call(client, 'set_secret', { namespace: 'production/app', key: 5, value: CANARIES.rejected }),
      await call(client, 'set_secret', { namespace: 'production/app', key: 'BIG', value: `${CANARIES.rejected}${'é'.repeat(33_000)}` }),
      await call(client, 'get_secret', { namespace: 'production/app', key: 'MISSING' }),
    ];
    expect(errors.every((e) => !e.ok)).toBe(true);
    // The lowering attempt changed nothing.
    expect((await ok(client, 'get_secret', { namespace: 'production/stripe', key: 'CRIT' })).value).toBe(CANARIES.critical);

    // Lists, tokens and the human-only tools.
    const list = await ok(client, 'list_secrets', { namespace: 'production/app' });
    const list2 = await ok(client, 'list_secrets', { namespace: 'production/stripe' });
    expect(leaks(JSON.stringify([list, list2]), Object.values(CANARIES))).toEqual([]);
    await ok(client, 'list_namespaces');
    const issued = await ok(client, 'request_token', { scopes: ['secrets:read:production/app/*'], ttl: '15m' });
    expect(issued.token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(issued.token_id).toBeTruthy();
    issuedTokens.push(issued.token);
    await ok(client, 'delete_secret', { namespace: 'production/app', key: 'STD' });
    await ok(client, 'rotate_secret', { namespace: 'production/app', key: 'STD' });

    // A human rotates with the new value on stdin; the agent reads it.
    expect((await human(['secrets', 'rotate', 'production/app', 'STD'], `${CANARIES.rotated}\n`)).code).toBe(0);
    expect((await ok(client, 'get_secret', { namespace: 'production/app', key: 'STD' })).value).toBe(CANARIES.rotated);
    expect((await human(['audit', 'verify'])).code).toBe(0);
  });

  it('no canary on stdout except inside get_secret results', () => {
    const toolOf = new Map<string | number, string>();
    for (const message of transport.sent as (JSONRPCMessage & { id?: string | number; method?: string; params?: { name?: string } })[]) {
      if (message.id !== undefined && message.method) toolOf.set(message.id, message.method === 'tools/call' ? `tool:${message.params?.name}` : message.method);
    }
    const all = Object.values(CANARIES);
    let getSecretResults = 0;
    const offending: string[] = [];
    for (const { message } of transport.received) {
      const id = (message as { id?: string | number }).id;
      const what = id !== undefined ? toolOf.get(id) : 'notification';
      const text = JSON.stringify(message);
      if (what === 'tool:get_secret') {
        getSecretResults++;
        continue;
      }
      for (const leak of leaks(text, all)) offending.push(`${what}: ${leak}`);
    }
    expect(offending).toEqual([]);
    expect(getSecretResults).toBeGreaterThan(3);
    // Sanity: the recorder really saw the values where they belong.
    const raw = transport.stdout().toString('utf8');
    expect(raw).toContain(CANARIES.standard);
    expect(raw).toContain(CANARIES.critical);
    expect(raw).not.toContain(CANARIES.rejected);
    // Every stdout byte is part of a JSON-RPC message.
    const lines = raw.split('\n').filter((l) => l.length > 0);
    expect(lines.length).toBe(transport.received.length);
    for (const line of lines) expect(JSON.parse(line).jsonrpc).toBe('2.0');
  });

  it('no canary in any stderr byte or CLI output', () => {
    const all = Object.values(CANARIES);
    expect(leaks(transport.stderr(), all)).toEqual([]);
    for (const result of cliOutputs) expect(leaks(result.stdout + result.stderr, all)).toEqual([]);
  });

  it('no issued token, agent key or admin key in the audit log, stderr, CLI output or any file under the home', () => {
    expect(issuedTokens).toHaveLength(1);
    const credentials = [...issuedTokens, home.agentKey, home.adminKey];
    // The token's id is fine to log, and is logged: it is how a human finds the issue on record.
    const audit = readFileSync(`${home.dir}/audit.log`, 'utf8');
    const tokenIds = audit.split('\n').filter((l) => l.includes('"token_issued"')).map((l) => (JSON.parse(l) as { token_id?: string }).token_id);
    expect(tokenIds.length).toBeGreaterThan(0);
    expect(tokenIds.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    for (const line of audit.split('\n')) expect(leaks(line, credentials)).toEqual([]);
    expect(leaks(transport.stderr(), credentials)).toEqual([]);
    for (const result of cliOutputs) expect(leaks(result.stdout + result.stderr, credentials)).toEqual([]);
    for (const file of filesUnder(home.dir)) expect(leaks(readFileSync(file), credentials), file).toEqual([]);
    // Sanity: the detector would see the token where it was handed out, on stdout.
    expect(leaks(transport.stdout(), issuedTokens).length).toBeGreaterThan(0);
  });

  it('no canary in the audit log or in any file under the home (plain, base64, hex)', () => {
    const all = Object.values(CANARIES);
    const audit = readFileSync(`${home.dir}/audit.log`, 'utf8');
    expect(audit.split('\n').length).toBeGreaterThan(20);
    for (const line of audit.split('\n')) expect(leaks(line, all)).toEqual([]);
    const files = filesUnder(home.dir);
    expect(files.some((f) => f.includes('/secrets/'))).toBe(true);
    for (const file of files) expect(leaks(readFileSync(file), all), file).toEqual([]);
    // The agent key and admin key are not on disk either (only their hashes).
    for (const file of files) expect(leaks(readFileSync(file), [home.agentKey, home.adminKey]), file).toEqual([]);
  });
});
