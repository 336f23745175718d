/**
 * Issue 9, finding 4: metadata was unbounded (any number of entries, kept for every version)
 * and every listing decrypted every version of every secret on the event loop, so one agent
 * looping listings held up all the others. Real components: the HTTP server in-process on
 * 127.0.0.1:0 with REST over real sockets, the MCP server with a real SDK Client, the real file
 * backend. Ordering and counting only; no timing assertions (the speed figure is in the bench).
 */
import { describe, expect, it } from 'vitest';
import type { FileBackend } from '../../src/adapters/file/file-backend.js';
import { raw } from '../helpers/remote-http.js';
import { serverScope } from '../helpers/server-scope.js';

const { http, mcp } = serverScope();

const entries = (n: number, valueBytes = 8) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(valueBytes)]));
const errorText = (res: unknown) => (res as { content: { text: string }[] }).content[0]!.text;

describe('metadata is bounded on every path', () => {
  it('MCP set_secret refuses too many entries, a long value and too many bytes in all, and stores nothing', async () => {
    const env = await mcp();
    const set = (metadata: Record<string, string>) => env.client.callTool({ name: 'set_secret', arguments: { namespace: 'app', key: 'K', value: 'v', metadata } });
    const tooMany = await set(entries(33));
    expect(tooMany.isError).toBe(true);
    expect(errorText(tooMany)).toMatch(/metadata has 33 entries; at most 32 are allowed/);
    expect(errorText(await set({ team: 'x'.repeat(257) }))).toMatch(/values may have at most 256 bytes/);
    expect(errorText(await set({ ['k'.repeat(65)]: 'x' }))).toMatch(/keys must be 1-64 bytes/);
    expect(errorText(await set(entries(20, 250)))).toMatch(/metadata is \d+ bytes in all; at most 4096 bytes are allowed/);
    expect(await env.runtime.backend.get('app', 'K')).toBeNull();
    // Within the bounds it is stored as given.
    expect((await set(entries(32, 100))).isError).toBeFalsy();
  });

  it('REST PUT refuses the same with 400 naming the bound', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }] });
    const auth = (bearer: string) => ({ authorization: `Bearer ${bearer}`, 'content-type': 'application/json' });
    const tokenRes = await raw({ url: server.url, method: 'POST', path: '/v1/tokens', headers: auth(server.keys.bot!), body: JSON.stringify({ scopes: ['secrets:*:app/*'] }) });
    const token = JSON.parse(tokenRes.body).token as string;
    const put = (metadata: unknown) => raw({ url: server.url, method: 'PUT', path: '/v1/secrets/app/K', headers: auth(token), body: JSON.stringify({ value: 'v', metadata }) });
    const big = await put({ team: 'x'.repeat(4000) });
    expect(big.status).toBe(400);
    expect(JSON.parse(big.body).error.message).toMatch(/metadata: a metadata value is 4000 bytes; values may have at most 256 bytes/);
    expect((await put(entries(100))).status).toBe(400);
    expect((await put({ team: 'ml' })).status).toBe(200);
  });

  it('the service itself refuses it, whatever the transport', async () => {
    const env = await mcp();
    const agent = env.runtime.settings.agents[0]!;
    await expect(env.runtime.service.setSecret(agent, { namespace: 'app', key: 'K', value: 'v', metadata: entries(40) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('listings are cheap and do not hold up other agents', () => {
  async function bigStore() {
    const server = await http({ agents: [{ id: 'lister', grants: ['secrets:list:**'] }, { id: 'reader', grants: ['secrets:read:solo/*'] }] });
    const backend = server.runtime.backend as FileBackend;
    const write = (namespace: string, key: string, i: number) => backend.put({ namespace, key, value: `value-${i}-${'x'.repeat(1024)}`, secret_type: 'custom', access_tier: 'standard', metadata: { n: String(i) } });
    for (let s = 0; s < 40; s++) for (let v = 0; v < 5; v++) await write(`ns${s % 8}/sub`, `K${s}`, v);
    await write('solo', 'KEY', 0);
    return { server, backend, lister: server.runtime.settings.agents[0]!, reader: server.runtime.settings.agents[1]! };
  }

  it('decrypts each unchanged file once however often it is listed, and sees a change at once', async () => {
    const { server, backend, lister } = await bigStore();
    const service = server.runtime.service;
    for (let i = 0; i < 20; i++) {
      await service.listNamespaces(lister);
      await service.listSecrets(lister, { namespace: 'ns3/sub' });
    }
    expect(backend.listingDecodes).toBe(41);
    await backend.put({ namespace: 'ns3/sub', key: 'K3', value: 'new', secret_type: 'custom', access_tier: 'standard', metadata: { n: 'changed' } });
    const listed = await service.listSecrets(lister, { namespace: 'ns3/sub' });
    expect(listed.items.find((i) => i.key === 'K3')).toMatchObject({ version: 6, metadata: { n: 'changed' } });
    expect(backend.listingDecodes).toBe(42);
  });

  it("another agent's get_secret runs between a cold listing's decryptions", async () => {
    const { server, backend, lister, reader } = await bigStore();
    // Writes do not fill the listing cache: every file is decrypted by this first listing.
    const service = server.runtime.service;
    // The reader's first call also sets up the audit log (one-time file-system work off the
    // event loop); after it, a get_secret needs no I/O wait, so each loop below is one turn.
    await service.getSecret(reader, { namespace: 'solo', key: 'KEY' });
    let done = false;
    const listing = service.listNamespaces(lister).then(() => (done = true));
    let interleaved = 0;
    while (!done) {
      await new Promise((resolve) => setImmediate(resolve));
      const decodes = backend.listingDecodes;
      const read = await service.getSecret(reader, { namespace: 'solo', key: 'KEY' });
      expect(read.value).toMatch(/^value-0-/);
      // Counted only while the listing is part-way: some files decrypted, not all.
      if (!done && decodes > 0 && decodes < 41) interleaved += 1;
    }
    await listing;
    expect(backend.listingDecodes).toBe(41);
    expect(interleaved, `${interleaved} of the reader's calls ran while the listing was part-way`).toBeGreaterThanOrEqual(20);
  });
});
