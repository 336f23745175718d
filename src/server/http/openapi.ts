import { z } from 'zod';
import { SERVER_VERSION } from '../mcp-server.js';
import { REST_ROUTES } from './rest.js';
import type { RouteAuth } from './rest-common.js';

/** Routes that are not REST resources but are served on the same port, for the document. */
export const OTHER_ROUTES: Array<{ method: string; path: string; operationId: string; summary: string; auth: RouteAuth | 'none'; responses: Record<string, string> }> = [
  { method: 'GET', path: '/healthz', operationId: 'health', summary: 'Liveness and backend health', auth: 'none', responses: { '200': 'Healthy', '503': 'Backend unhealthy' } },
  { method: 'GET', path: '/metrics', operationId: 'metrics', summary: 'Prometheus text: tool calls by tool and outcome, latencies, approvals pending', auth: 'none', responses: { '200': 'Prometheus text format 0.0.4' } },
  { method: 'GET', path: '/v1/openapi.json', operationId: 'openapi', summary: 'This document', auth: 'none', responses: { '200': 'OpenAPI 3.1' } },
  { method: 'GET', path: '/approvals/{id}', operationId: 'approvalPage', summary: 'For a human: how to approve this request (links the dashboard when configured)', auth: 'none', responses: { '200': 'HTML' } },
  { method: 'POST', path: '/mcp', operationId: 'mcpPost', summary: 'MCP streamable HTTP: JSON-RPC messages (x-agent-key header)', auth: 'agent_key', responses: { '200': 'JSON-RPC response or SSE stream', '202': 'Accepted', '401': 'Missing or unknown x-agent-key', '403': 'Session of another agent, or foreign Origin/Host', '404': 'Unknown session', '413': 'Body too large', '429': 'Rate limited' } },
  { method: 'GET', path: '/mcp', operationId: 'mcpGet', summary: 'MCP streamable HTTP: server-to-client SSE stream of a session', auth: 'agent_key', responses: { '200': 'SSE stream', '400': 'No session header', '401': 'Missing key', '403': 'Session of another agent' } },
  { method: 'DELETE', path: '/mcp', operationId: 'mcpDelete', summary: 'MCP streamable HTTP: end a session', auth: 'agent_key', responses: { '200': 'Session ended', '401': 'Missing key', '403': 'Session of another agent' } },
  { method: 'GET', path: '/sse', operationId: 'sseOpen', summary: 'MCP over legacy HTTP+SSE: open the stream (x-agent-key header); announces the message endpoint', auth: 'agent_key', responses: { '200': 'SSE stream', '401': 'Missing or unknown x-agent-key' } },
  { method: 'POST', path: '/messages', operationId: 'sseMessage', summary: 'MCP over legacy HTTP+SSE: a client message for ?sessionId=', auth: 'agent_key', responses: { '202': 'Accepted', '401': 'Missing key', '403': 'Session of another agent', '404': 'Unknown session' } },
];

const SECURITY: Record<RouteAuth | 'none', Array<Record<string, string[]>>> = {
  none: [],
  agent_key: [{ agentKey: [] }],
  token: [{ bearerToken: [] }],
  agent_key_or_token: [{ bearerAgentKey: [] }, { bearerToken: [] }, { bearerAdminKey: [] }],
  admin_key: [{ bearerAdminKey: [] }],
};

const ErrorSchema = {
  type: 'object',
  required: ['error', 'detail'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', description: 'The codes of the MCP tools (_meta["agent-secret-store/error"].code), except SCOPE_DENIED for their POLICY_DENIED (the hosted SDK maps it to ScopeError)' }, message: { type: 'string' }, retryable: { type: 'boolean' }, approval_id: { type: 'string' } },
    },
    detail: { type: 'string', description: 'The same message as error.message (where the hosted MCP server reads it)' },
  },
};

/**
 * The OpenAPI 3.1 document, built from the same route table the router uses. REST routes
 * with a `{namespace}` take several `/`-separated segments there, each URL-encoded.
 */
export function openApiDocument(serverUrl: string): object {
  const paths: Record<string, Record<string, unknown>> = {};
  const add = (method: string, path: string, op: object): void => {
    paths[path] = { ...(paths[path] ?? {}), [method.toLowerCase()]: op };
  };
  for (const route of REST_ROUTES) {
    const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1], in: 'path', required: true, schema: { type: 'string' },
      ...(m[1] === 'namespace' ? { description: 'One or more "/"-separated segments, each URL-encoded (e.g. production/gemini)' } : {}),
    }));
    const query = (route.query ?? []).map((q) => ({ name: q.name, in: 'query', required: q.required, description: q.description, schema: { type: 'string' } }));
    add(route.method, route.path, {
      operationId: route.operationId,
      summary: route.summary,
      security: SECURITY[route.auth],
      parameters: [...params, ...query],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(route.body, { io: 'input' }) } } } } : {}),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, description]) => [
          status,
          { description, content: { 'application/json': { schema: status.startsWith('2') ? { type: 'object' } : ErrorSchema } } },
        ]),
      ),
    });
  }
  for (const route of OTHER_ROUTES) {
    const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    add(route.method, route.path, {
      operationId: route.operationId,
      summary: route.summary,
      security: SECURITY[route.auth],
      parameters: params,
      responses: Object.fromEntries(Object.entries(route.responses).map(([status, description]) => [status, { description }])),
    });
  }
  return {
    openapi: '3.1.0',
    info: { title: 'agent-secret-store', version: SERVER_VERSION, description: 'Governed access to secrets for AI agents. Errors: { "error": { "code", "message", … } }, never a value.' },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: {
        agentKey: { type: 'apiKey', in: 'header', name: 'x-agent-key', description: 'Agent key, MCP endpoints only' },
        bearerAgentKey: { type: 'http', scheme: 'bearer', description: 'Agent key (ass_…), for POST /v1/tokens and approval status' },
        bearerToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Scoped token from POST /v1/tokens' },
        bearerAdminKey: { type: 'http', scheme: 'bearer', description: 'Admin key (ass_admin_…), human operations only' },
      },
    },
  };
}
