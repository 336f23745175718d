import { z } from 'zod';

const Duration = z.string().regex(/^[1-9][0-9]{0,6}(s|m|h|d)$/, 'must be a duration such as 30s, 15m, 1h, 24h or 7d');
/**
 * Security: no `.` in a template name. The per-person agent id is `<template>.<person>` and
 * admin ids may hold `.`, so templates `a` and `a.b` would give admin `b.c` and admin `c` one agent.
 */
const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const TEMPLATE_NAME_RULE = "a template name must be 1-64 characters of letters, digits, _ - (no '.': a per-person agent is named <template>.<person>)";

/**
 * A template of grants for per-person agents: a human who consents "as a new agent from this
 * template" gets an agent `<template>.<person>` holding exactly these grants (and denies).
 */
export const AgentTemplateSchema = z
  .object({
    description: z.string().max(200).optional(),
    grants: z.array(z.string()).min(1, 'a template needs at least one grant'),
    deny: z.array(z.string()).default([]),
  })
  .strict();

/**
 * `auth:` — how remote MCP clients authenticate to `serve --http`.
 * - `agent_keys`: the static `x-agent-key` header (default true). A deployment that wants only
 *   signed-in people sets it false.
 * - `oauth`: the MCP authorization spec (OAuth 2.1): this server is a protected resource and its
 *   own authorization server; a human consents in the dashboard. Present = enabled.
 */
export const AuthSchema = z
  .object({
    agent_keys: z.boolean().default(true),
    oauth: z
      .object({
        /** This server's MCP endpoint as clients reach it (the token audience), e.g. https://secrets.example.com/mcp. Default: the request's own origin + /mcp. */
        resource_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
        access_token_ttl: Duration.default('1h'),
        refresh_token_ttl: Duration.default('30d'),
        /** Accept `client_id` URLs pointing at a client ID metadata document (fetched over https from a public address; docs/remote-auth.md). */
        client_id_metadata_documents: z.boolean().default(true),
        /** Dynamic client registration (RFC 7591) at /oauth/register. */
        dynamic_registration: z.boolean().default(true),
        /** Grant templates for per-person agents, by name. */
        templates: z
          .record(z.string(), AgentTemplateSchema)
          .superRefine((templates, ctx) => {
            for (const name of Object.keys(templates)) if (!TEMPLATE_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: TEMPLATE_NAME_RULE });
          })
          .default({}),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((a) => a.agent_keys || a.oauth, { message: 'with agent_keys: false, auth.oauth must be set, or no remote client could authenticate' });

export type AuthConfig = z.infer<typeof AuthSchema>;
export type OAuthConfig = NonNullable<AuthConfig['oauth']>;
