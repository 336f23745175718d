/**
 * `${VAR}` interpolation over parsed YAML values (never over raw text, so an environment
 * value can never inject YAML structure). `${VAR:-fallback}` gives a default; `$${` is a
 * literal `${`. A missing variable without default is reported with its YAML path.
 */

const PATTERN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface InterpolationProblem {
  path: (string | number)[];
  message: string;
}

export function interpolateString(
  text: string,
  env: Record<string, string | undefined>,
): { value: string; missing: string[] } {
  const missing: string[] = [];
  const value = text.replace(PATTERN, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    const found = env[name!];
    if (found !== undefined && found !== '') return found;
    if (fallback !== undefined) return fallback;
    missing.push(name!);
    return '';
  });
  return { value, missing };
}

/** Returns a deep copy of `input` with every string interpolated, plus the problems found. */
export function interpolateTree(
  input: unknown,
  env: Record<string, string | undefined>,
  path: (string | number)[] = [],
  problems: InterpolationProblem[] = [],
): { value: unknown; problems: InterpolationProblem[] } {
  if (typeof input === 'string') {
    const { value, missing } = interpolateString(input, env);
    for (const name of missing) {
      problems.push({ path, message: `environment variable ${name} is not set (use \${${name}:-default} for a default)` });
    }
    return { value, problems };
  }
  if (Array.isArray(input)) {
    return { value: input.map((item, i) => interpolateTree(item, env, [...path, i], problems).value), problems };
  }
  if (input !== null && typeof input === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) out[k] = interpolateTree(v, env, [...path, k], problems).value;
    return { value: out, problems };
  }
  return { value: input, problems };
}
