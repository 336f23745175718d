/**
 * One approved token request yields exactly one token, however many redemptions race for it:
 * 20 concurrent request_token calls for the same approved beyond-grant scopes, spread over
 * four server processes (one SDK client each) on one home.
 */
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgent, admin, call, connectAgent, initHome, ok, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';

const PROCESSES = 4;
const PER_PROCESS = 5;

let home: Home;
let agentKey: string;
const connections: AgentConnection[] = [];

beforeAll(async () => {
  home = await initHome();
  agentKey = await addAgent(home, 'limited', ['secrets:read:dev/**']);
  for (let i = 0; i < PROCESSES; i++) connections.push(await connectAgent(home.configPath, agentKey));
});

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  removeHome(home);
});

describe('parallel redemption of one token approval', () => {
  it(`${PROCESSES * PER_PROCESS} concurrent request_token calls over ${PROCESSES} processes get exactly one token`, async () => {
    const ask = { scopes: ['secrets:read:production/**'], ttl: '15m' };
    const first = await ok(connections[0]!.client, 'request_token', ask);
    expect(first.requires_approval).toBe(true);
    const approved = await admin(home, ['approvals', 'approve', first.approval_id]);
    expect(approved.code, approved.stderr).toBe(0);

    const started = Date.now();
    const outcomes = await Promise.all(connections.flatMap((c) => Array.from({ length: PER_PROCESS }, () => call(c.client, 'request_token', ask))));
    const elapsed = Date.now() - started;
    expect(outcomes.every((o) => o.ok), JSON.stringify(outcomes.filter((o) => !o.ok))).toBe(true);
    const data = outcomes.map((o) => (o.ok ? o.data : null));
    const tokens = data.filter((d) => d.requires_approval === false);
    const refused = data.filter((d) => d.requires_approval === true);
    expect(tokens).toHaveLength(1);
    expect(refused).toHaveLength(PROCESSES * PER_PROCESS - 1);
    expect(tokens[0].token).toMatch(/^eyJ/);
    // The losers share one new pending request (reused, not one each), distinct from the redeemed one.
    const newIds = new Set(refused.map((d) => d.approval_id));
    expect(newIds.size).toBe(1);
    expect(newIds.has(first.approval_id)).toBe(false);

    const tokensDir = `${home.dir}/state/tokens`;
    const stored = await Promise.all((await readdir(tokensDir)).filter((f) => f.endsWith('.json')).map(async (f) => JSON.parse(await readFile(`${tokensDir}/${f}`, 'utf8')) as { approval_id?: string }));
    const fromApproval = stored.filter((t) => t.approval_id === first.approval_id);
    expect(fromApproval).toHaveLength(1);
    const audit = (await readFile(`${home.dir}/audit.log`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.filter((r) => r.outcome === 'token_issued' && r.approval_id === first.approval_id)).toHaveLength(1);
    console.log(`[token-redemption] ${outcomes.length} concurrent redemptions over ${PROCESSES} processes in ${elapsed} ms: 1 token`);
  });
});
