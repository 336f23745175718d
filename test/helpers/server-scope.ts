/**
 * In-process servers for one test file, closed after each test: `http` (serve --http on
 * 127.0.0.1:0), `mcp` (an MCP server with a real SDK Client) and `rest` (a raw REST call with a
 * bearer credential over a real socket). Call `serverScope()` once at the top of a test file.
 */
import { afterEach } from 'vitest';
import { startInProcess as startMcp, type InProcess } from './in-process.js';
import { raw } from './remote-http.js';
import { startInProcess as startHttp, type InProcessServer } from './remote-server.js';

export interface ServerScope {
  http(options: Parameters<typeof startHttp>[0]): Promise<InProcessServer>;
  mcp(options?: Parameters<typeof startMcp>[0]): Promise<InProcess>;
  rest(server: InProcessServer, method: string, path: string, bearer: string, body?: unknown): ReturnType<typeof raw>;
}

export function serverScope(): ServerScope {
  let open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.map((o) => o.close()));
    open = [];
  });
  return {
    async http(options) {
      const server = await startHttp(options);
      open.push(server);
      return server;
    },
    async mcp(options) {
      const env = await startMcp(options);
      open.push(env);
      return env;
    },
    rest(server, method, path, bearer, body) {
      return raw({
        url: server.url, method, path,
        headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    },
  };
}
