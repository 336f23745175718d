/**
 * Checks the flags of `agents add` before the config is touched, so a bad one is reported
 * against the flag the user typed (`--grant 'secrets:raed:x': …`), not against a temporary
 * copy of the config and a line the user never wrote.
 */
import { TOOL_NAMES } from '../config/schema.js';
import { parseScope, parseTtl } from '../policy/index.js';
import { nearest } from '../shared/nearest.js';
import { AssError, isAssError } from '../shared/errors.js';

export interface AgentFlags {
  grant: string[];
  deny: string[];
  tool?: string[];
  maxTokenTtl: string;
}

function problem(flag: string, value: string, check: () => unknown): string | null {
  try {
    check();
    return null;
  } catch (error) {
    if (!isAssError(error)) throw error;
    return `${flag} '${value}': ${error.message}`;
  }
}

/** Throws INVALID_ARGUMENT listing every bad flag value (nothing is written then). */
export function checkAgentFlags(flags: AgentFlags): void {
  const problems = [
    ...flags.grant.map((scope) => problem('--grant', scope, () => parseScope(scope))),
    ...flags.deny.map((scope) => problem('--deny', scope, () => parseScope(scope))),
    problem('--max-token-ttl', flags.maxTokenTtl, () => parseTtl(flags.maxTokenTtl)),
    ...(flags.tool ?? []).map((tool) => {
      if ((TOOL_NAMES as readonly string[]).includes(tool)) return null;
      const guess = nearest(tool, TOOL_NAMES);
      return `--tool '${tool}': not a tool${guess ? ` (did you mean '${guess}'?)` : ''}; tools are ${TOOL_NAMES.join(', ')}`;
    }),
  ].filter((p): p is string => p !== null);
  if (problems.length > 0) throw new AssError('INVALID_ARGUMENT', `Nothing was changed:\n  ${problems.join('\n  ')}`);
}
