/**
 * Config problems that say what is valid: an unknown key names the nearest known key ("did you
 * mean 'grant_ttl'?") and lists the valid ones; a value that fits none of a union's forms lists
 * each form (`critical: approve` → "must be auto | approval | deny, or a mapping (did you mean
 * 'approval'?)"); an enum lists its values, and a misspelt value is given the one meant. The known keys come from the schema itself (its JSON Schema), so they can
 * never drift from what is accepted.
 */
import { z } from 'zod';
import { nearest } from '../shared/nearest.js';

type JsonSchema = { const?: unknown; properties?: Record<string, JsonSchema>; items?: JsonSchema; anyOf?: JsonSchema[]; oneOf?: JsonSchema[]; allOf?: JsonSchema[] };

const jsonSchemas = new WeakMap<z.ZodType, JsonSchema>();

function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  let json = jsonSchemas.get(schema);
  if (!json) {
    json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonSchema;
    jsonSchemas.set(schema, json);
  }
  return json;
}

/** Every branch of a node (unions and intersections flattened). */
function branches(node: JsonSchema): JsonSchema[] {
  const nested = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
  return [node, ...nested.flatMap(branches)];
}

/**
 * The keys an object at `path` may have, merged over union branches (empty when unknown). With
 * the raw value there, a union discriminated on `type` keeps only the branch of that type.
 */
export function knownKeysAt(schema: z.ZodType, path: readonly (string | number)[], raw?: unknown): string[] {
  let nodes = [jsonSchemaOf(schema)];
  for (const part of path) {
    nodes = nodes.flatMap(branches).flatMap((node) => {
      const next = typeof part === 'number' ? node.items : node.properties?.[part];
      return next ? [next] : [];
    });
  }
  let objects = nodes.flatMap(branches).filter((node) => node.properties);
  const type = (raw as { type?: unknown } | undefined)?.type;
  const typed = objects.filter((node) => node.properties?.type?.const === type);
  if (type !== undefined && typed.length > 0) objects = typed;
  return [...new Set(objects.flatMap((node) => Object.keys(node.properties ?? {})))];
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  return path.reduce<unknown>((value, part) => (value && typeof value === 'object' ? (value as Record<string | number, unknown>)[part] : undefined), root);
}

/** What one zod issue should say, with the valid choices. */
export function explainIssue(issue: z.core.$ZodIssue, schema: z.ZodType | undefined, raw?: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    const path = issue.path as (string | number)[];
    const known = schema ? knownKeysAt(schema, path, valueAt(raw, path)) : [];
    return issue.keys
      .map((key) => {
        const guess = nearest(key, known);
        return `unknown key '${key}'${guess ? ` (did you mean '${guess}'?)` : ''}`;
      })
      .join('; ') + (known.length > 0 ? `. Valid keys here: ${known.join(', ')}` : '');
  }
  // A misspelt choice (`critical: aproval`) names the one meant, as an unknown key does.
  const given = valueAt(raw, issue.path as (string | number)[]);
  const meant = (values: readonly unknown[]): string => {
    const guess = typeof given === 'string' ? nearest(given, values.map(String)) : undefined;
    return guess ? ` (did you mean '${guess}'?)` : '';
  };
  if (issue.code === 'invalid_value' && issue.values.length > 0) return `must be one of ${issue.values.map(String).join(' | ')}${meant(issue.values)}`;
  if (issue.code === 'invalid_union' && 'errors' in issue && Array.isArray(issue.errors)) {
    const choices = issue.errors.flatMap((branch) => branch.flatMap((inner) => (inner.path.length === 0 && inner.code === 'invalid_value' ? inner.values : [])));
    const forms = issue.errors.flatMap((branch) =>
      branch.flatMap((inner) => {
        if (inner.path.length > 0) return [];
        if (inner.code === 'invalid_value') return [inner.values.map(String).join(' | ')];
        if (inner.code === 'invalid_type') return [inner.expected === 'object' ? 'a mapping' : `a ${inner.expected}`];
        return [];
      }),
    );
    if (forms.length > 0) return `must be ${[...new Set(forms)].join(', or ')}${meant(choices)}`;
  }
  return issue.message;
}
