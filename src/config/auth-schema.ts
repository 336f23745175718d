import { z } from 'zod';

const Duration = z.string().regex(/^[1-9][0-9]{0,6}(s|m|h|d)$/, 'must be a duration such as 30s, 15m, 1h, 24h or 7d');
/**
 * Security: no `.` in a template name. The per-person agent id is `<template>.<person>` and
 * admin ids may hold `.`, so templates `a` and `a.b` would give admin `b.c` and admin `c` one agent.
 */
const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const TEMPLATE_NAME_RULE = "a template name must be 1-64 characters of letters, digits, _ - (no '.': a per-person agent is named <template>.<person>)";
const TemplateName = z.string().regex(TEMPLATE_NAME, TEMPLATE_NAME_RULE);

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
 * `auth.oidc` — people sign in to the dashboard's consent page with the team's OpenID Connect
 * identity provider (docs/remote-auth.md, "Signing in with your identity provider"). Their groups
 * (the `groups_claim` of the ID token or UserInfo) pick the `auth.oauth.templates` they may
 * consent with. Such a person gets a limited dashboard session (consent, their own sign-ins); only
 * a member of `admins_group` gets an admin's (approvals, secrets, agents, audit), named in the
 * audit as `admin:oidc:<sub> (<email or name>)`. The client secret comes from
 * `${ENV}` or a file, never from the YAML text itself in a committed config.
 */
export const OidcSchema = z
  .object({
    /** The provider's issuer URL; discovery is `${issuer}/.well-known/openid-configuration`. */
    issuer: z.url({ protocol: /^https?$/, error: 'must be the identity provider’s http(s) issuer URL' }),
    /** The name on the sign-in button ("Sign in with …"); default: the issuer's host. */
    display_name: z.string().min(1).max(60).optional(),
    client_id: z.string().min(1).max(300),
    /** Usually `${OIDC_CLIENT_SECRET}`; or give client_secret_file. */
    client_secret: z.string().min(1).max(1000).optional(),
    /** A file holding the client secret (trailing newline ignored); relative to the config file's folder. */
    client_secret_file: z.string().min(1).optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be an OAuth scope token')).default(['openid', 'email', 'profile']),
    groups_claim: z.string().min(1).max(100).default('groups'),
    /** Group name → the template (or templates) of `auth.oauth.templates` its members may consent with. */
    groups: z.record(z.string().min(1).max(200), z.union([TemplateName, z.array(TemplateName).min(1)])).default({}),
    /**
     * Members of this group (in the same `groups_claim`) get a full admin dashboard session instead
     * of the limited one. Follows the config file live, like `admins`: removing it ends those sessions
     * at their next request.
     */
    admins_group: z.string({ error: 'must be the name of a group at the identity provider, e.g. secret-store-admins' }).trim().min(1, 'must be the name of a group at the identity provider, e.g. secret-store-admins').max(200, 'a group name of at most 200 characters').optional(),
  })
  .strict()
  .refine((o) => (o.client_secret === undefined) !== (o.client_secret_file === undefined), { message: 'give exactly one of client_secret (e.g. ${OIDC_CLIENT_SECRET}) or client_secret_file' })
  .refine((o) => o.scopes.includes('openid'), { message: 'scopes must include openid', path: ['scopes'] })
  // Plain http would let anyone on the path forge sign-ins; only a provider on loopback may use it.
  .refine((o) => o.issuer.startsWith('https:') || /^http:\/\/(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?(\/|$)/i.test(o.issuer), { message: 'the issuer must be https (plain http only on loopback)', path: ['issuer'] });

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
    oidc: OidcSchema.optional(),
  })
  .strict()
  .refine((a) => a.agent_keys || a.oauth, { message: 'with agent_keys: false, auth.oauth must be set, or no remote client could authenticate' })
  .superRefine((a, ctx) => {
    if (!a.oidc) return;
    if (!a.oauth) return void ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'auth.oidc signs people in for OAuth consent: set auth.oauth too' });
    for (const [group, names] of Object.entries(a.oidc.groups)) {
      for (const name of [names].flat()) {
        if (!Object.hasOwn(a.oauth.templates, name)) ctx.addIssue({ code: 'custom', path: ['oidc', 'groups', group], message: `template ${JSON.stringify(name)} is not in auth.oauth.templates` });
      }
    }
  });

export type AuthConfig = z.infer<typeof AuthSchema>;
export type OAuthConfig = NonNullable<AuthConfig['oauth']>;
export type OidcConfig = NonNullable<AuthConfig['oidc']>;
