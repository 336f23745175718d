/**
 * The run_with_secrets allow-list: a command runs only if its executable is listed by absolute
 * path, each argument fully matches one of that entry's patterns, and its working directory is
 * listed. Checked before any secret is resolved and before anything starts.
 */
import { isAbsolute, normalize } from 'node:path';
import { AssError } from '../shared/errors.js';

export interface CommandRule {
  executable: string;
  args: string[];
  cwd?: string[];
}

export interface AllowedCommand {
  executable: string;
  args: string[];
  cwd: string | undefined;
}

/** Cut and JSON-quote agent text for a message (it is untrusted). */
const quote = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);

/**
 * Finds the rule that allows `command` in `cwd`.
 * @throws AssError POLICY_DENIED saying what is not allowed (never starts anything).
 */
export function allowCommand(rules: readonly CommandRule[], command: readonly string[], cwd: string | undefined): AllowedCommand {
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
  let problem = '';
  for (const rule of candidates) {
    const bad = args.find((a) => !rule.args.some((p) => new RegExp(`^(?:${p})$`, 'u').test(a)));
    if (bad !== undefined) {
      problem = `the argument ${quote(bad)} matches none of the allowed argument patterns for ${executable}`;
      continue;
    }
    if (cwd !== undefined && !(rule.cwd ?? []).includes(cwd)) {
      problem = `the working directory ${quote(cwd)} is not allowed for ${executable}${rule.cwd?.length ? ` (allowed: ${rule.cwd.join(', ')})` : ''}`;
      continue;
    }
    return { executable, args, cwd };
  }
  throw new AssError('POLICY_DENIED', `Command refused: ${problem}. Nothing was started; a human can widen use.commands.allow in the config.`);
}
