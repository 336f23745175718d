/**
 * Which namespaces `list_namespaces` shows an agent: those holding a secret its list grants
 * (and its token, if any) actually reach, and their ancestors. Nothing else, so a wildcard grant
 * such as `secrets:list:*\/public` does not reveal every top-level name, only those holding a
 * `public` key.
 *
 * Cheap where it can be: a grant that covers every key of a namespace (`ns/*`, `ns/**`, …)
 * reaches it without looking inside; only grants that depend on the key (a literal key, a glob
 * over namespaces) make it list that namespace's keys (names and tiers only, never values).
 */
import type { SecretBackend } from '../adapters/backend.js';
import { isValidNamespace, isValidPath, parseScope, scopeCouldMatchIn, scopeCovers, scopeMatches, type Scope } from '../policy/index.js';
import type { AgentSettings } from './settings.js';

export interface VisibilityInput {
  agent: AgentSettings;
  /** Every namespace the backend holds (with ancestors), as `listNamespaces` returns them. */
  all: readonly string[];
  /** The agent's grants plus any scopes a human approved for this call. */
  basis: readonly Scope[];
  /** A token's own scopes, when the call came with one (each must reach too). */
  tokenScopes: readonly Scope[] | undefined;
  /** True when a deny of the agent's covers everything in or under the namespace. */
  deniedEverywhereIn(namespace: string): boolean;
  backend: Pick<SecretBackend, 'list'>;
}

export async function visibleNamespaces(input: VisibilityInput): Promise<string[]> {
  const { agent, all, basis, tokenScopes, backend } = input;
  const reached: string[] = [];
  for (const ns of all) {
    // A name another tool wrote outside our grammar cannot be granted, so it is not shown.
    if (!isValidNamespace(ns) || input.deniedEverywhereIn(ns)) continue;
    const fromBasis = basis.filter((g) => scopeCouldMatchIn(g, 'list', ns));
    const fromToken = tokenScopes?.filter((t) => scopeCouldMatchIn(t, 'list', ns));
    if (fromBasis.length === 0 || (fromToken && fromToken.length === 0)) continue;
    const everyKey = parseScope(`secrets:list:${ns}/*`);
    if (fromBasis.some((g) => scopeCovers(g, everyKey)) && (!fromToken || fromToken.some((t) => scopeCovers(t, everyKey)))) {
      reached.push(ns);
      continue;
    }
    // The grant depends on the key: look at the keys that exist there.
    const keys = (await backend.list(ns)).map((s) => s.key).filter((key) => isValidPath(ns, key));
    const reaches = keys.some(
      (key) =>
        fromBasis.some((g) => scopeMatches(g, 'list', ns, key)) &&
        (!fromToken || fromToken.some((t) => scopeMatches(t, 'list', ns, key))) &&
        !agent.compiled.deny.some((d) => scopeMatches(d, 'list', ns, key)),
    );
    if (reaches) reached.push(ns);
  }
  return all.filter((ns) => reached.some((r) => r === ns || r.startsWith(`${ns}/`)) && !input.deniedEverywhereIn(ns));
}
