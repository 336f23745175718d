import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { AssError } from '../../shared/errors.js';
import type { HttpContext } from './context.js';
import { HttpError, readJson } from './respond.js';

/** What the OpenAPI document says about a route's credential. */
export type RouteAuth = 'agent_key' | 'token' | 'agent_key_or_token' | 'admin_key';

/**
 * One REST route: how it matches, what it needs, and its handler. The router and the OpenAPI
 * document are both built from `REST_ROUTES`, so they cannot drift apart.
 */
export interface RestRoute {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** OpenAPI path template. */
  path: string;
  match(pathname: string): Record<string, string> | null;
  operationId: string;
  summary: string;
  auth: RouteAuth;
  /** The tool this route mirrors, for metrics. */
  tool: string;
  query?: Array<{ name: string; required: boolean; description: string }>;
  body?: z.ZodType;
  /** Status → description, as answered. */
  responses: Record<string, string>;
  handle(ctx: HttpContext, req: IncomingMessage, res: ServerResponse, params: Record<string, string>, url: URL): Promise<void>;
}

export const exact = (p: string) => (pathname: string) => (pathname === p ? {} : null);

/** `/v1/secrets/{namespace…}/{key}` (with an optional fixed suffix such as `/rotate`). */
export const secretMatch = (suffix = '') => (pathname: string) => {
  if (!pathname.startsWith('/v1/secrets/') || !pathname.endsWith(suffix)) return null;
  const rest = pathname.slice('/v1/secrets/'.length, pathname.length - suffix.length);
  return rest.includes('/') ? { path: rest } : null;
};

/** Parses a body with a zod schema; problems name fields, never echo values. */
export async function body<T>(ctx: HttpContext, req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse((await readJson(req, ctx.options.bodyLimit)) ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).slice(0, 5);
    throw new AssError('INVALID_ARGUMENT', `Invalid request body: ${problems.join('; ')}.`);
  }
  return parsed.data;
}


/** decodeURIComponent for a path parameter: malformed percent-encoding is the caller's 400, never a 500. */
export function decodePathParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'A path segment has malformed percent-encoding.');
  }
}
