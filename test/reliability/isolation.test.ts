/**
 * Isolation: 50 agents × 200 mixed calls at once over streamable HTTP against the built
 * `serve --http`, each agent on its own SDK session and granted only `iso/a<i>/**`. Every
 * agent writes and reads its own secrets, lists, takes tokens, opens approvals beyond its
 * grants, and probes the others: reads and lists their namespaces, asks the status of their
 * approvals (ids shared between the agents as they are made), uses their session ids.
 * Figures: zero cross-agent results (no value, namespace, approval status or token scope of
 * another agent ever reaches an agent), zero approvals or sessions usable across agents, and
 * every approval a human lists belongs to the agent that opened it.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { adminJson, call, type Home } from '../helpers/cli.js';
import { makeConfig, type RemoteConfig } from '../helpers/remote-server.js';
import { MCP_HEADERS, raw, toolsList } from '../helpers/remote-http.js';
import { connectHttpAgent, startBuiltHttpServer, type BuiltHttpServer, type HttpAgentClient } from './helpers/http-server.js';
import { figure } from './helpers/process-probe.js';

const AGENTS = 50;
const CALLS = 200;
const ids = Array.from({ length: AGENTS }, (_, i) => `a${i}`);

let config: RemoteConfig;
let server: BuiltHttpServer | undefined;

beforeAll(async () => {
  config = await makeConfig({
    agents: ids.map((id) => ({ id, grants: [`secrets:*:iso/${id}/**`] })),
    // The figure is about isolation, not the limiter: every agent gets all its calls through.
    http: { rate_limit: { per_minute: 1_000_000, burst: 100_000 } },
  });
  server = await startBuiltHttpServer(config.configPath);
});

afterAll(async () => {
  await server?.stop();
  await config?.cleanup();
});

/** Approval ids each agent opened, readable by every agent's probe. */
const approvalsOf = new Map<string, string[]>();
const violations: string[] = [];
const counts = { calls: 0, ok: 0, refusedAsExpected: 0, probes: 0 };

/**
 * Another agent's tag in `text`: values carry `val-<agent>-` (always a leak), namespaces
 * `iso/<agent>` (a leak in answers to calls that named no other agent's namespace).
 */
function foreignTag(text: string, me: string, namespaces: boolean): string | undefined {
  const m = namespaces ? /(?:val-|iso\/)(a\d+)\b/g : /val-(a\d+)\b/g;
  for (const hit of text.matchAll(m)) if (hit[1] !== me) return hit[0];
  return undefined;
}

async function runAgent(index: number, agent: HttpAgentClient): Promise<void> {
  const me = ids[index]!;
  const other = ids[(index + 1 + (index % 7)) % AGENTS]!;
  const mine = `iso/${me}`;
  const record = (what: string, text: string, namespaces: boolean): void => {
    const leak = foreignTag(text, me, namespaces);
    if (leak) violations.push(`${me} ${what}: saw ${leak}`);
  };
  for (let j = 0; j < CALLS; j++) {
    const slot = j % 10;
    counts.calls++;
    let outcome;
    switch (slot) {
      case 0:
        outcome = await call(agent.client, 'set_secret', { namespace: mine, key: `K${j % 5}`, value: `val-${me}-${j}` });
        break;
      case 1:
      case 9: {
        outcome = await call(agent.client, 'get_secret', { namespace: mine, key: `K${Math.max(0, (j - slot) % 5)}` });
        if (outcome.ok && !String(outcome.data.value).startsWith(`val-${me}-`)) violations.push(`${me} got value ${outcome.data.value}`);
        break;
      }
      case 2:
        counts.probes++;
        outcome = await call(agent.client, 'get_secret', { namespace: `iso/${other}`, key: 'K0' });
        if (outcome.ok) violations.push(`${me} read ${other}'s secret`);
        else counts.refusedAsExpected++;
        break;
      case 3:
        outcome = await call(agent.client, 'list_secrets', { namespace: mine });
        break;
      case 4:
        counts.probes++;
        outcome = await call(agent.client, 'list_secrets', { namespace: `iso/${other}` });
        if (outcome.ok && outcome.data.items.length > 0) violations.push(`${me} listed ${other}'s secrets`);
        else counts.refusedAsExpected++;
        break;
      case 5:
        outcome = await call(agent.client, 'list_namespaces', {});
        break;
      case 6:
        outcome = await call(agent.client, 'request_token', { scopes: [`secrets:read:${mine}/*`], ttl: '15m' });
        break;
      case 7: {
        const opened = approvalsOf.get(me) ?? [];
        if (opened.length < 3) {
          // Beyond its grants: a pending approval that belongs to this agent alone.
          outcome = await call(agent.client, 'request_token', { scopes: [`secrets:read:iso/${other}/K${opened.length}`], ttl: '15m' });
          if (outcome.ok && outcome.data.approval_id) approvalsOf.set(me, [...opened, outcome.data.approval_id]);
          else if (outcome.ok) violations.push(`${me} got a token for ${other}'s namespace without approval`);
        } else {
          outcome = await call(agent.client, 'get_approval_status', { approval_id: opened[j % opened.length]! });
        }
        break;
      }
      default: {
        counts.probes++;
        const theirs = approvalsOf.get(other) ?? [];
        const target = theirs[j % Math.max(1, theirs.length)];
        outcome = target ? await call(agent.client, 'get_approval_status', { approval_id: target }) : await call(agent.client, 'get_approval_status', { approval_id: '00000000-0000-4000-8000-000000000000' });
        if (outcome.ok) violations.push(`${me} saw the status of ${other}'s approval ${target}`);
        else counts.refusedAsExpected++;
      }
    }
    if (outcome.ok) counts.ok++;
    // Slots 2, 4, 7 and 8 name another agent's namespace or approval themselves; an answer may repeat that.
    record(`call ${j} (slot ${slot})`, outcome.ok ? JSON.stringify(outcome.data) : outcome.error, [0, 1, 3, 5, 6, 9].includes(slot));
  }
}

test(`isolation: ${AGENTS} agents × ${CALLS} mixed calls at once over HTTP, nothing crosses`, { timeout: 900_000 }, async () => {
  const agents = await Promise.all(ids.map((id) => connectHttpAgent(server!.url, config.keys[id]!, `iso-${id}`)));
  const started = performance.now();
  try {
    await Promise.all(agents.map((agent, i) => runAgent(i, agent)));

    // Sessions: another agent's session id, with one's own key, is refused (and never answers).
    let sessionProbes = 0;
    for (let i = 0; i < AGENTS; i++) {
      const theirs = agents[(i + 1) % AGENTS]!.transport.sessionId!;
      const res = await raw({ url: server!.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': config.keys[ids[i]!]!, 'mcp-session-id': theirs, 'mcp-protocol-version': '2025-06-18' }, body: toolsList(9) });
      sessionProbes++;
      if (res.status < 400 || res.body.includes('"tools"')) violations.push(`${ids[i]} used another agent's session (${res.status})`);
    }

    // The human side: every approval belongs to the agent that opened it.
    const listed = await adminJson<{ approval_id: string; agent_id: string; scopes: string[] }[]>({ configPath: config.configPath, adminKey: config.adminKey } as Home, ['approvals', 'list', '--all']);
    const owner = new Map<string, string>();
    for (const [agentId, list] of approvalsOf) for (const id of list) owner.set(id, agentId);
    for (const a of listed) if (owner.has(a.approval_id) && owner.get(a.approval_id) !== a.agent_id) violations.push(`approval ${a.approval_id} opened by ${owner.get(a.approval_id)} is listed for ${a.agent_id}`);
    const opened = [...approvalsOf.values()].reduce((n, l) => n + l.length, 0);
    expect(listed.filter((a) => owner.has(a.approval_id)).length, 'every approval the agents opened is listed').toBe(opened);

    figure(
      'isolation',
      `${AGENTS} agents × ${CALLS} calls at once (${counts.calls} calls, ${counts.ok} ok) in ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
        `${counts.probes} cross-agent probes (${counts.refusedAsExpected} refused), ${opened} approvals, ${sessionProbes} foreign-session probes: ${violations.length} cross-agent results`,
    );
    expect(violations).toEqual([]);
  } finally {
    await Promise.all(agents.map((a) => a.close()));
  }
});
