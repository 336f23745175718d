/**
 * The run_with_secrets (and agent `run`) allow-list: a command runs only if its executable is
 * listed by absolute path, each argument fully matches one of that entry's patterns, its working
 * directory is listed, and every environment variable it is given is one the entry names: bound to
 * the secrets it may carry (`env`), or, for a plain value, to the values it may take (`env_plain`).
 * Plain variables are denied by default: PGHOST, HTTPS_PROXY or SSL_CERT_FILE under an agent's
 * control would send an allowed command, with its secret, to the agent's own server (R-2).
 * Checked before any secret is resolved and before anything starts.
 */
import { isAbsolute, normalize } from 'node:path';
import { matchSegments, parsePathPattern } from '../policy/index.js';
import { AssError } from '../shared/errors.js';
import { ARG_PATTERN_FLAGS, DENIED_ENV_SUMMARY, isDeniedEnvName } from '../shared/env-names.js';

export interface CommandRule {
  executable: string;
  args: string[];
  cwd?: string[];
  /** When true, argument i must match pattern i and the counts must be equal (options stay paired with their values). */
  positional?: boolean;
  /** Variable name → secret path patterns (`namespace/key`, whole-segment globs) it may carry. */
  env?: Record<string, string[]>;
  /** Variable name → full-match patterns of the plain (non-secret) values it may take. */
  env_plain?: Record<string, string[]>;
}

export interface AllowedCommand {
  executable: string;
  args: string[];
  cwd: string | undefined;
}

/** A variable the caller wants set: from a secret (its namespace and key), or a plain value (null, then the value). */
export type RequestedVariable = [name: string, secret: { namespace: string; key: string } | null, plain?: string];

/** Cut and JSON-quote agent text for a message (it is untrusted). */
const quote = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);

/**
 * Refuses variable names that change what any command does (env-names.ts), whatever the config.
 * @throws AssError POLICY_DENIED
 */
export function refuseDeniedNames(variables: readonly RequestedVariable[]): void {
  const bad = variables.find(([name]) => isDeniedEnvName(name));
  if (bad) throw new AssError('POLICY_DENIED', `The variable ${quote(bad[0])} may not be set (it changes what the command runs: ${DENIED_ENV_SUMMARY}). Nothing was started.`);
}

const fullMatch = (pattern: string | undefined, text: string): boolean => pattern !== undefined && new RegExp(`^(?:${pattern})$`, ARG_PATTERN_FLAGS).test(text);

/** Why `rule` does not allow these variables, or null when it does. */
function envProblem(rule: CommandRule, variables: readonly RequestedVariable[]): string | null {
  for (const [name, secret, plain] of variables) {
    if (!secret) {
      // Security: a plain value is allowed only where the rule names the variable and its values.
      const values = rule.env_plain?.[name];
      if (!values) return `the plain variable ${quote(name)} is not in the env_plain list of ${rule.executable}${rule.env_plain && Object.keys(rule.env_plain).length ? ` (allowed: ${Object.keys(rule.env_plain).join(', ')})` : ' (it lists none)'}`;
      if (!values.some((p) => fullMatch(p, plain ?? ''))) return `the value given to ${quote(name)} matches none of its allowed patterns for ${rule.executable}`;
      continue;
    }
    const patterns = rule.env?.[name];
    if (!patterns) return `the variable ${quote(name)} is not in the env list of ${rule.executable}${rule.env && Object.keys(rule.env).length ? ` (allowed: ${Object.keys(rule.env).join(', ')})` : ' (it lists none)'}`;
    const path = [...secret.namespace.split('/'), secret.key];
    if (!patterns.some((p) => matchSegments(parsePathPattern(p), path))) return `${quote(name)} may not carry ${secret.namespace}/${secret.key} for ${rule.executable} (allowed: ${patterns.join(', ')})`;
  }
  return null;
}

/**
 * Finds the rule that allows `command` in `cwd` with these variables.
 * @throws AssError POLICY_DENIED saying what is not allowed (never starts anything).
 */
export function allowCommand(rules: readonly CommandRule[], command: readonly string[], cwd: string | undefined, variables: readonly RequestedVariable[] = []): AllowedCommand {
  const [executable, ...args] = command;
  if (executable === undefined) throw new AssError('INVALID_ARGUMENT', 'command is empty: give the executable by absolute path, then its arguments.');
  if (!isAbsolute(executable) || normalize(executable) !== executable) {
    throw new AssError('POLICY_DENIED', `The executable ${quote(executable)} must be an absolute, normalized path (no PATH lookup, no shell). Allowed: ${rules.map((r) => r.executable).join(', ')}.`);
  }
  const candidates = rules.filter((r) => r.executable === executable);
  if (candidates.length === 0) {
    throw new AssError('POLICY_DENIED', `${quote(executable)} is not in the command allow-list (use.commands.allow). Allowed: ${rules.map((r) => r.executable).join(', ')}.`);
  }
  if (cwd !== undefined && (!isAbsolute(cwd) || normalize(cwd) !== cwd)) throw new AssError('INVALID_ARGUMENT', `cwd ${quote(cwd)} must be an absolute, normalized path.`);
  refuseDeniedNames(variables);
  let problem = '';
  for (const rule of candidates) {
    if (rule.positional && args.length !== rule.args.length) {
      problem = `${executable} takes exactly ${rule.args.length} arguments here (positional rule), not ${args.length}`;
      continue;
    }
    const bad = rule.positional ? args.find((a, i) => !fullMatch(rule.args[i], a)) : args.find((a) => !rule.args.some((p) => fullMatch(p, a)));
    if (bad !== undefined) {
      problem = `the argument ${quote(bad)} matches none of the allowed argument patterns for ${executable}`;
      continue;
    }
    if (cwd !== undefined && !(rule.cwd ?? []).includes(cwd)) {
      problem = `the working directory ${quote(cwd)} is not allowed for ${executable}${rule.cwd?.length ? ` (allowed: ${rule.cwd.join(', ')})` : ''}`;
      continue;
    }
    const envBad = envProblem(rule, variables);
    if (envBad) {
      problem = envBad;
      continue;
    }
    return { executable, args, cwd };
  }
  throw new AssError('POLICY_DENIED', `Command refused: ${problem}. Nothing was started; a human can widen use.commands.allow in the config.`);
}
