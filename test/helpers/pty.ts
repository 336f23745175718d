/**
 * Runs the built CLI in a real pseudo-terminal (Python's `pty`, test/helpers/pty_run.py), so
 * `process.stdin.isTTY` is true and prompts are answered as a person would type them.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { baseEnv, CLI, REPO_ROOT } from './cli.js';

export interface PtyResult {
  /** Everything the terminal showed (stdout and stderr, with the typed answers echoed). */
  output: string;
  code: number;
  /** How many answers were typed. */
  typed: number;
}

export function runInPty(args: string[], options: { env?: Record<string, string | undefined>; answers?: [RegExp, string][]; timeoutS?: number } = {}): PtyResult {
  const spec = {
    argv: [process.execPath, CLI, ...args],
    env: baseEnv({ TERM: 'dumb', ...options.env }),
    answers: (options.answers ?? []).map(([re, text]) => [re.source, text]),
    timeout: options.timeoutS ?? 60,
  };
  const result = spawnSync('python3', [path.join(REPO_ROOT, 'test/helpers/pty_run.py')], { input: JSON.stringify(spec), encoding: 'utf8', timeout: (spec.timeout + 10) * 1000 });
  if (result.error) throw new Error(`The pseudo-terminal tests need python3 (Debian: apt-get install python3): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`pty_run.py failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as PtyResult;
}
