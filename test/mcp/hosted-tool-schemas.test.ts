/**
 * Issue 16: "the same eight tools and fields as the hosted service" proven against the hosted
 * product's own MCP server (`@agentsecretstore/mcp` 1.0.0, a test peer), not only our snapshot:
 * its `tools/list` over real stdio against ours, field by field (see hosted-tool-schemas.ts).
 * The comparison is itself tested on deliberate mismatches, so it cannot pass vacuously.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHostedMcp, HOSTED_CLIENTS_INSTALL, hostedClients } from '../helpers/hosted-clients.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { compareToolSchemas, type ToolSchema } from '../helpers/hosted-tool-schemas.js';

const clients = hostedClients();

if ('missing' in clients) {
  describeMissingPeer('tools/list against the hosted MCP server', clients.missing, `bash ${HOSTED_CLIENTS_INSTALL}`);
} else {
  describe('tools/list against the hosted MCP server (@agentsecretstore/mcp 1.0.0)', () => {
    let theirs: ToolSchema[];
    let ours: ToolSchema[];
    let local: InProcess;
    beforeAll(async () => {
      // Their server lists its tools without calling any API; the URL is never reached.
      const hosted = await connectHostedMcp(clients, 'http://127.0.0.1:9', 'ass_schema_compare_only');
      theirs = (await hosted.client.listTools()).tools as ToolSchema[];
      await hosted.close();
      local = await startInProcess();
      ours = (await local.client.listTools()).tools as ToolSchema[];
    });
    afterAll(async () => local?.close());

    it('has the same eight tools', () => {
      expect(theirs.map((t) => t.name).sort()).toEqual(ours.map((t) => t.name).sort());
      expect(theirs).toHaveLength(8);
    });

    it('every input field of theirs is in ours with the same type; nothing we require can be omitted by their clients', () => {
      expect(compareToolSchemas(theirs, ours)).toEqual([]);
    });

    it('the comparison fails on a missing required field, a type mismatch, a narrower enum, a missing tool and a new required field', () => {
      const mutate = (name: string, change: (schema: ToolSchema['inputSchema']) => void): ToolSchema[] =>
        ours.map((t) => {
          if (t.name !== name) return t;
          const copy = structuredClone(t);
          change(copy.inputSchema);
          return copy;
        });
      expect(compareToolSchemas(theirs, mutate('get_secret', (s) => delete s.properties!.key))).toEqual(['get_secret.key: required field of theirs missing in ours', 'get_secret.key: required by theirs, unknown to ours']);
      expect(compareToolSchemas(theirs, mutate('request_token', (s) => (s.properties!.scopes = { type: 'string' })))).toEqual([
        'request_token.scopes: type array in theirs, string in ours',
        'request_token.scopes[]: item type string in theirs, unset in ours',
      ]);
      expect(compareToolSchemas(theirs, mutate('set_secret', (s) => (s.properties!.access_tier!.enum = ['standard', 'sensitive'])))).toEqual(['set_secret.access_tier: ours refuses "critical" of their enum']);
      expect(compareToolSchemas(theirs, ours.filter((t) => t.name !== 'rotate_secret'))).toEqual(['rotate_secret: missing in ours']);
      expect(compareToolSchemas(theirs, mutate('list_secrets', (s) => {
        s.properties!.cursor = { type: 'string' };
        s.required = [...(s.required ?? []), 'cursor'];
      }))).toEqual(['list_secrets.cursor: required by ours, but their clients may omit it']);
      // An optional field of ours that they do not have is fine.
      expect(compareToolSchemas(theirs, mutate('list_secrets', (s) => (s.properties!.cursor = { type: 'string' })))).toEqual([]);
    });
  });
}
