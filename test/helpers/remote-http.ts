/** Raw HTTP for the remote suites: exact headers (Host, Origin, none at all), exact statuses. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RawRequest {
  url: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send no Host header at all. */
  noHost?: boolean;
  ca?: Buffer;
}

export function raw(req: RawRequest): Promise<RawResponse> {
  const base = new URL(req.url);
  const make = base.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = make(
      {
        host: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port,
        method: req.method ?? 'GET',
        path: req.path,
        headers: { ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}), ...(req.headers ?? {}) },
        setHost: !req.noHost,
        agent: false,
        ...(req.ca ? { ca: req.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

export const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'matrix', version: '1.0.0' } },
});

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export const toolsList = (id = 2): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', params: {} });

export const toolCall = (name: string, args: Record<string, unknown>, id = 3): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

/** initialize + notifications/initialized over plain fetch as the agent `agentKey`; returns the open session's headers. */
export async function openRawSession(url: string, agentKey: string, clientName: string): Promise<Record<string, string>> {
  const headers = { 'x-agent-key': agentKey, ...MCP_HEADERS };
  const init = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: clientName, version: '1' } } }),
  });
  const initText = await init.text();
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${initText}`);
  const session = { ...headers, 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
  const initialized = await fetch(`${url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.text();
  if (initialized.status !== 202) throw new Error(`notifications/initialized answered ${initialized.status}`);
  return session;
}
