import { z } from 'zod';
import { httpRequest, runWithSecrets } from '../use-calls.js';
import { defineTool } from './tool.js';

const Reference = z.string().min(7).max(600).regex(/^ass:\/\//, 'must be a reference ass://<namespace>/<key>[#version]');

export const runWithSecretsTool = defineTool({
  name: 'run_with_secrets',
  title: 'Run a command with secrets',
  description:
    'Run an allowed command (executable by absolute path, no shell) with secrets in its environment, without ever seeing them: ' +
    'env maps variable names to references such as "ass://production/db/PGPASSWORD". Only commands, arguments and working directories ' +
    'in the server\'s allow-list run, and each variable only with the secrets the allow-list binds to it. The command\'s stdout and stderr come back merged in stdout (stderr is always empty), ' +
      'with every secret (and its base64, hex, URL, JSON and HTML forms) replaced by a marker. ' +
    'A secret that needs approval answers an error with an approval ID: call get_approval_status, then retry.',
  inputSchema: z
    .object({
      command: z.array(z.string().max(4096)).min(1).max(256).describe('["/usr/bin/psql", "-c", "select 1"]: absolute executable, then arguments'),
      env: z.record(z.string().max(128), Reference).optional().describe('{"PGPASSWORD": "ass://production/db/PGPASSWORD"}'),
      cwd: z.string().max(4096).optional(),
      timeout: z.number().int().min(1).max(86_400).optional().describe('seconds (capped by the server)'),
    })
    .strict(),
  outputSchema: z.object({ exit_code: z.number().int().nullable(), signal: z.string().optional(), timed_out: z.boolean(), stdout: z.string(), stderr: z.string(), truncated: z.boolean() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  handle: ({ service, agent }, input) => runWithSecrets(service, agent, input),
});

export const httpRequestTool = defineTool({
  name: 'http_request',
  title: 'HTTP request with secrets',
  description:
    'Send an HTTP request whose headers, body or query carry secrets as {{ass://<namespace>/<key>}} placeholders, without ever seeing them, ' +
    'e.g. headers {"Authorization": "Bearer {{ass://production/stripe/STRIPE_SECRET_KEY}}"}. A secret goes only to the hosts, schemes and methods ' +
    'the server allows for its namespace; anything else is refused before sending. Redirects are not followed. The response body comes back masked and capped.',
  inputSchema: z
    .object({
      method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
      url: z.string().min(1).max(8192),
      headers: z.record(z.string().min(1).max(256).regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string().max(8192)).optional(),
      body: z.string().max(1024 * 1024).optional(),
    })
    .strict(),
  outputSchema: z.object({ status: z.number().int(), headers: z.record(z.string(), z.string()), body: z.string(), truncated: z.boolean() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  handle: ({ service, agent }, input) => httpRequest(service, agent, input),
});
