import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { interpolateTree } from './interpolate.js';
import { explainIssue } from './problem-hints.js';
import { ConfigSchema, type Config } from './schema.js';

/** One problem in a config file, with the YAML path (and line when known) it belongs to. */
export interface ConfigProblem {
  path: (string | number)[];
  message: string;
  /** An unknown key inside the mapping at `path`: its own line is reported, not the mapping's first line. */
  key?: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(file: string, problems: ConfigProblem[], describe: (p: ConfigProblem) => string) {
    super(`Invalid configuration in ${file}:\n${problems.map((p) => `  - ${describe(p)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The parsed, interpolated, schema-checked file, plus what is needed to report later problems. */
export interface LoadedConfig {
  file: string;
  config: Config;
  /** Resolves a path from the config against the config file's folder. */
  resolvePath(p: string): string;
  /** Turns a problem into `agents[0].grants[1] (line 12): message`. */
  describe(problem: ConfigProblem): string;
  /** Throws a ConfigError listing `problems` (no-op when empty). */
  fail(problems: ConfigProblem[]): void;
}

/** Where the config lives when neither `--config` nor `ASS_CONFIG` says. */
export function defaultHome(env: Record<string, string | undefined> = process.env): string {
  return env.ASS_HOME ? resolve(env.ASS_HOME) : resolve(homedir(), '.agent-secret-store');
}

export function resolveConfigPath(flag: string | undefined, env: Record<string, string | undefined> = process.env): string {
  return resolve(flag ?? env.ASS_CONFIG ?? resolve(defaultHome(env), 'config.yaml'));
}

export function formatPath(path: (string | number)[]): string {
  return path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '') || '(top level)';
}

function lineOf(doc: Document, counter: LineCounter, path: (string | number)[], key?: string): number | undefined {
  if (key !== undefined) {
    const map = doc.getIn(path, true);
    const pair = isMap(map) ? map.items.find((item) => isScalar(item.key) && item.key.value === key) : undefined;
    const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
    if (range) return counter.linePos(range[0]).line;
  }
  // Walk up until a node exists (a missing key is reported at its parent).
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Zod issues as config problems that list what is valid (problem-hints.ts); `schema` gives the known keys. */
export function zodProblems(error: z.ZodError, prefix: (string | number)[] = [], schema?: z.ZodType, raw?: unknown): ConfigProblem[] {
  return error.issues.map((issue) => ({
    path: [...prefix, ...(issue.path as (string | number)[])],
    message: explainIssue(issue, schema, raw),
    ...(issue.code === 'unrecognized_keys' && issue.keys.length > 0 ? { key: issue.keys[0] } : {}),
  }));
}

/**
 * Reads a YAML config, interpolates `${ENV}`, and validates the top level with zod.
 * Every problem is reported at once, each with its YAML path and line.
 */
export function loadConfigFile(
  file: string,
  env: Record<string, string | undefined> = process.env,
  /** Checks that other layers own (backend block, scopes), run on the raw value even when the top level fails. */
  moreChecks: (raw: unknown) => ConfigProblem[] = () => [],
): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT' ? 'file not found (run `agent-secret-store init` to create one, or pass --config)'
      // `--config ~/.agent-secret-store` (the folder init made) is an easy slip.
      : code === 'EISDIR' ? `this is a folder, not a config file: pass the file in it, e.g. --config ${join(file, 'config.yaml')}`
      : `cannot read the file (${code ?? 'error'})`;
    throw new ConfigError(file, [{ path: [], message }], (p) => p.message);
  }
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const describe = (p: ConfigProblem): string => {
    const line = lineOf(doc, counter, p.path, p.key);
    return `${formatPath(p.path)}${line ? ` (line ${line})` : ''}: ${p.message}`;
  };
  const fail = (problems: ConfigProblem[]): void => {
    if (problems.length > 0) throw new ConfigError(file, problems, describe);
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const at = counter.linePos(e.pos[0]);
        return { path: [], message: `YAML syntax error at line ${at.line}, column ${at.col}: ${e.message.split('\n')[0]} (${e.code})` };
      }),
      (p) => p.message,
    );
  }
  const { value, problems } = interpolateTree(doc.toJS(), env);
  fail(problems);
  const parsed = ConfigSchema.safeParse(value);
  fail([...(parsed.success ? [] : zodProblems(parsed.error, [], ConfigSchema, value)), ...moreChecks(value)]);
  const config = parsed.data!;
  const base = dirname(resolve(file));
  const resolvePath = (p: string): string => {
    const expanded = p === '~' || p.startsWith('~/') ? resolve(homedir(), p.slice(2)) : p;
    return isAbsolute(expanded) ? expanded : resolve(base, expanded);
  };
  return { file: resolve(file), config, resolvePath, describe, fail };
}
