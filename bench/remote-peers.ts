/**
 * Baselines for bench/remote.ts, each its own process: `echo` is a raw node:http keep-alive
 * echo; `bare-sdk` is a bare SDK streamable HTTP server (sessions, one McpServer each) whose
 * get_secret returns a constant. Prints `port N` on stdout once listening.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

const CONSTANT = { value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' }, version: 1 };

function bareSdk() {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  return createServer((req, res) => {
    void (async () => {
      const id = req.headers['mcp-session-id'] as string | undefined;
      const parsed = req.method === 'POST' ? JSON.parse((await body(req)).toString('utf8')) : undefined;
      let transport = id ? sessions.get(id) : undefined;
      if (!transport && isInitializeRequest(parsed)) {
        const server = new McpServer({ name: 'bare', version: '1' });
        server.registerTool('get_secret', { inputSchema: { namespace: z.string(), key: z.string() } }, async () => ({ content: [{ type: 'text', text: JSON.stringify(CONSTANT) }], structuredContent: CONSTANT }));
        const t = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => void sessions.set(sid, t) });
        await server.connect(t);
        transport = t;
      }
      if (!transport) {
        res.writeHead(400).end();
        return;
      }
      await transport.handleRequest(req, res, parsed);
    })();
  });
}

function echo() {
  return createServer((req, res) => {
    void body(req).then((b) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length });
      res.end(b);
    });
  });
}

const server = process.argv[2] === 'echo' ? echo() : bareSdk();
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as AddressInfo).port}\n`));
