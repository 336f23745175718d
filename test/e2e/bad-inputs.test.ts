/**
 * A run of bad inputs over one real stdio session: each answer is an error with a clear
 * message, the server keeps serving after each, and nothing in the store changes.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgent, admin, call, connectAgent, initHome, ok, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';

let home: Home;
let agent: AgentConnection;
let otherApprovalId: string;

const SEEDED = [
  { namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'gemini-bad-inputs', access_tier: 'sensitive', secret_type: 'api_key' },
  { namespace: 'staging/app', key: 'DB_URL', value: 'postgres://bad-inputs', access_tier: 'standard', secret_type: 'db_credential' },
];

beforeAll(async () => {
  home = await initHome();
  // Another agent opens an approval of its own; the default agent must not be able to read it.
  const otherKey = await addAgent(home, 'other', ['secrets:read:dev/**']);
  const other = await connectAgent(home.configPath, otherKey);
  try {
    otherApprovalId = (await ok(other.client, 'request_token', { scopes: ['secrets:read:production/**'] })).approval_id;
  } finally {
    await other.close();
  }
  agent = await connectAgent(home.configPath, home.agentKey);
  for (const s of SEEDED) await ok(agent.client, 'set_secret', s);
});

afterAll(async () => {
  await agent?.close();
  removeHome(home);
});

/** Everything an agent can observe: namespaces, listings, and each seeded value and version. */
async function snapshot(client: Client): Promise<unknown> {
  const { namespaces } = await ok(client, 'list_namespaces');
  const listings = [];
  for (const ns of namespaces) listings.push(await ok(client, 'list_secrets', { namespace: ns }));
  const values = [];
  for (const s of SEEDED) values.push(await ok(client, 'get_secret', { namespace: s.namespace, key: s.key }));
  return { namespaces, listings, values };
}

const BIG_ASCII = 'a'.repeat(65_537);
// 1 + 32,768 × 2 bytes = 65,537 bytes in only 32,769 characters: the same byte limit, the same error.
const BIG_UTF8 = `a${'é'.repeat(32_768)}`;

interface Case {
  name: string;
  tool: string;
  args: () => Record<string, unknown>;
  error: RegExp;
  code?: string;
}

const CASES: Case[] = [
  { name: 'get_secret without key', tool: 'get_secret', args: () => ({ namespace: 'production/gemini' }), error: /Invalid arguments for tool get_secret.*key/s },
  { name: 'get_secret with no fields', tool: 'get_secret', args: () => ({}), error: /Invalid arguments for tool get_secret/ },
  { name: 'set_secret without value', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'GEMINI_API_KEY' }), error: /Invalid arguments for tool set_secret.*value/s },
  { name: 'namespace is a number', tool: 'get_secret', args: () => ({ namespace: 42, key: 'GEMINI_API_KEY' }), error: /expected string/ },
  { name: 'value is a number', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 123 }), error: /expected string/ },
  { name: 'scopes is a string', tool: 'request_token', args: () => ({ scopes: 'secrets:read:production/gemini/*' }), error: /expected array/ },
  { name: 'metadata value is a number', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'x', metadata: { team: 5 } }), error: /metadata/ },
  { name: 'an extra field', tool: 'get_secret', args: () => ({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', version: 1 }), error: /Unrecognized key.*version/s },
  { name: 'an extra field on set_secret', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'x', admin: true }), error: /Unrecognized key.*admin/s },
  { name: 'namespace ../x', tool: 'get_secret', args: () => ({ namespace: '../x', key: 'K' }), error: /Invalid namespace "\.\.\/x"/, code: 'INVALID_ARGUMENT' },
  { name: 'namespace production/gemini/../stripe', tool: 'list_secrets', args: () => ({ namespace: 'production/gemini/../stripe' }), error: /Invalid namespace/, code: 'INVALID_ARGUMENT' },
  { name: 'percent-encoded dots', tool: 'get_secret', args: () => ({ namespace: '%2e%2e/production', key: 'K' }), error: /Invalid namespace "%2e%2e\/production"/, code: 'INVALID_ARGUMENT' },
  { name: 'NUL in a key', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'GEMINI\u0000API_KEY', value: 'x' }), error: /Invalid key "GEMINI\\u0000API_KEY"/, code: 'INVALID_ARGUMENT' },
  { name: 'look-alike unicode (Cyrillic і)', tool: 'get_secret', args: () => ({ namespace: 'productіon/gemini', key: 'GEMINI_API_KEY' }), error: /Invalid namespace.*not allowed/, code: 'INVALID_ARGUMENT' },
  { name: 'key with a slash', tool: 'set_secret', args: () => ({ namespace: 'production', key: 'gemini/GEMINI_API_KEY', value: 'x' }), error: /Invalid key.*contains "\/"/, code: 'INVALID_ARGUMENT' },
  { name: 'trailing slash', tool: 'list_secrets', args: () => ({ namespace: 'production/' }), error: /Invalid namespace "production\/"/, code: 'INVALID_ARGUMENT' },
  { name: 'double slash', tool: 'get_secret', args: () => ({ namespace: 'production//gemini', key: 'GEMINI_API_KEY' }), error: /double slash/, code: 'INVALID_ARGUMENT' },
  { name: 'empty namespace', tool: 'list_secrets', args: () => ({ namespace: '' }), error: /Invalid arguments for tool list_secrets.*namespace/s },
  { name: '9-deep namespace', tool: 'set_secret', args: () => ({ namespace: 'a/b/c/d/e/f/g/h/i', key: 'K', value: 'x' }), error: /Invalid namespace.*(8|segments)/s, code: 'INVALID_ARGUMENT' },
  { name: 'over-long key (129)', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'K'.repeat(129), value: 'x' }), error: /<=128 characters at key/ },
  { name: '65,537-byte ASCII value', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'BIG', value: BIG_ASCII }), error: /65537 bytes; the limit is 65536 bytes/, code: 'VALUE_TOO_LARGE' },
  { name: '65,537-byte UTF-8 value', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'BIG', value: BIG_UTF8 }), error: /65537 bytes; the limit is 65536 bytes/, code: 'VALUE_TOO_LARGE' },
  { name: 'bad tier', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'NEW', value: 'x', access_tier: 'ultra' }), error: /access_tier/ },
  { name: 'bad secret_type', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'NEW', value: 'x', secret_type: 'password' }), error: /secret_type/ },
  { name: 'lowering a tier', tool: 'set_secret', args: () => ({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'lowered', access_tier: 'standard' }), error: /is sensitive; an agent cannot lower its access tier to standard/, code: 'INVALID_ARGUMENT' },
  { name: 'bad scope (no path)', tool: 'request_token', args: () => ({ scopes: ['secrets:read'] }), error: /Invalid scope "secrets:read"/, code: 'INVALID_ARGUMENT' },
  { name: 'bad scope (unknown action)', tool: 'request_token', args: () => ({ scopes: ['secrets:steal:production/**'] }), error: /Invalid scope|Unknown action/, code: 'INVALID_ARGUMENT' },
  { name: 'bad scope (prefix glob)', tool: 'request_token', args: () => ({ scopes: ['secrets:read:production/gem*'] }), error: /Invalid scope/, code: 'INVALID_ARGUMENT' },
  { name: 'ttl 48h over the cap', tool: 'request_token', args: () => ({ scopes: ['secrets:read:production/gemini/*'], ttl: '48h' }), error: /ttl 48h is longer than this agent may hold \((24h|1d)\)/, code: 'INVALID_ARGUMENT' },
  { name: 'ttl abc', tool: 'request_token', args: () => ({ scopes: ['secrets:read:production/gemini/*'], ttl: 'abc' }), error: /Invalid TTL "abc"/, code: 'INVALID_ARGUMENT' },
  { name: 'scopes with delete', tool: 'request_token', args: () => ({ scopes: ['secrets:delete:production/gemini/GEMINI_API_KEY'] }), error: /delete and rotate are human-only/, code: 'INVALID_ARGUMENT' },
  { name: 'scopes with rotate', tool: 'request_token', args: () => ({ scopes: ['secrets:read:staging/**', 'secrets:rotate:staging/**'] }), error: /human-only/, code: 'INVALID_ARGUMENT' },
  { name: 'empty scopes', tool: 'request_token', args: () => ({ scopes: [] }), error: /Invalid arguments for tool request_token.*scopes/s },
  { name: 'max_uses 0', tool: 'request_token', args: () => ({ scopes: ['secrets:read:staging/**'], max_uses: 0 }), error: /max_uses/ },
  { name: 'non-uuid approval id', tool: 'get_approval_status', args: () => ({ approval_id: 'not-a-uuid' }), error: /Invalid UUID at approval_id/ },
  { name: "someone else's approval id", tool: 'get_approval_status', args: () => ({ approval_id: otherApprovalId }), error: /No approval request '[0-9a-f-]{36}' for this agent/, code: 'APPROVAL_NOT_FOUND' },
  { name: 'an unknown approval id', tool: 'get_approval_status', args: () => ({ approval_id: '00000000-0000-4000-8000-000000000000' }), error: /No approval request/, code: 'APPROVAL_NOT_FOUND' },
  { name: 'a secret that does not exist', tool: 'get_secret', args: () => ({ namespace: 'production/gemini', key: 'NOPE' }), error: /No secret 'NOPE' in 'production\/gemini'\. Use list_secrets/, code: 'SECRET_NOT_FOUND' },
  { name: 'delete_secret with ../', tool: 'delete_secret', args: () => ({ namespace: 'production/../gemini', key: 'GEMINI_API_KEY' }), error: /Invalid namespace/, code: 'INVALID_ARGUMENT' },
  { name: 'an unknown tool', tool: 'drop_database', args: () => ({}), error: /Tool drop_database not found/ },
];

describe('bad inputs over one stdio session', () => {
  it(`answers each of ${CASES.length} bad inputs with a clear error, keeps serving, and changes nothing`, async () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
    const before = await snapshot(agent.client);
    const failures: string[] = [];
    for (const c of CASES) {
      const outcome = await call(agent.client, c.tool, c.args());
      if (outcome.ok) failures.push(`${c.name}: succeeded (${outcome.text.slice(0, 200)})`);
      else {
        if (!c.error.test(outcome.error)) failures.push(`${c.name}: message ${JSON.stringify(outcome.error.slice(0, 300))} does not match ${c.error}`);
        if (c.code && outcome.code !== c.code) failures.push(`${c.name}: code ${outcome.code} instead of ${c.code}`);
        // Security: a message never echoes a value the agent sent.
        if (outcome.error.includes('lowered') || outcome.error.includes(BIG_ASCII.slice(0, 1000))) failures.push(`${c.name}: the message echoes the value`);
      }
      // The server keeps serving.
      const good = await call(agent.client, 'list_namespaces');
      if (!good.ok) failures.push(`${c.name}: the next good call failed: ${good.error}`);
    }
    expect(failures).toEqual([]);
    expect(await snapshot(agent.client)).toEqual(before);
    // The chain is intact after all those refusals.
    const verified = await admin(home, ['audit', 'verify']);
    expect(verified.code, verified.stdout).toBe(0);
  });
});
