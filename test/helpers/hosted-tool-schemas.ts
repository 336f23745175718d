/**
 * Field-by-field comparison of tool input schemas: the hosted product's MCP server
 * (`@agentsecretstore/mcp`) against ours. Ours may add optional fields; everything else a client
 * of theirs relies on must hold in ours:
 * - every tool of theirs exists in ours;
 * - every field of theirs exists in ours with the same JSON type (and, for arrays, item type);
 * - an enum of theirs is accepted whole by ours (ours may accept more);
 * - a field they require is one we accept (present in our properties);
 * - a field we require is one they send: required by them too, or given a default by them.
 * Returns the problems, one line each (empty: compatible).
 */

export interface JsonSchemaObject {
  type?: string;
  properties?: Record<string, JsonSchemaProperty>;
  required?: string[];
}

export interface JsonSchemaProperty {
  type?: string | string[];
  enum?: unknown[];
  items?: JsonSchemaProperty;
  default?: unknown;
}

export interface ToolSchema {
  name: string;
  inputSchema: JsonSchemaObject;
}

const types = (p: JsonSchemaProperty | undefined): string[] => (p?.type === undefined ? [] : Array.isArray(p.type) ? [...p.type].sort() : [p.type]);

export function compareToolSchemas(theirs: readonly ToolSchema[], ours: readonly ToolSchema[]): string[] {
  const problems: string[] = [];
  const byName = new Map(ours.map((t) => [t.name, t]));
  for (const their of theirs) {
    const our = byName.get(their.name);
    if (!our) {
      problems.push(`${their.name}: missing in ours`);
      continue;
    }
    const theirProps = their.inputSchema.properties ?? {};
    const ourProps = our.inputSchema.properties ?? {};
    const theirRequired = new Set(their.inputSchema.required ?? []);
    if (types(our.inputSchema as JsonSchemaProperty).join() !== 'object') problems.push(`${their.name}: our input schema is not an object`);
    for (const [field, theirField] of Object.entries(theirProps)) {
      const ourField = ourProps[field];
      if (!ourField) {
        problems.push(`${their.name}.${field}: ${theirRequired.has(field) ? 'required' : 'optional'} field of theirs missing in ours`);
        continue;
      }
      if (types(theirField).join() !== types(ourField).join()) problems.push(`${their.name}.${field}: type ${types(theirField).join('|')} in theirs, ${types(ourField).join('|') || 'unset'} in ours`);
      if (theirField.items || ourField.items) {
        if (types(theirField.items).join() !== types(ourField.items).join()) problems.push(`${their.name}.${field}[]: item type ${types(theirField.items).join('|')} in theirs, ${types(ourField.items).join('|') || 'unset'} in ours`);
      }
      if (theirField.enum) {
        const accepted = new Set(ourField.enum ?? []);
        const refused = ourField.enum ? theirField.enum.filter((v) => !accepted.has(v)) : [];
        if (refused.length) problems.push(`${their.name}.${field}: ours refuses ${refused.map((v) => JSON.stringify(v)).join(', ')} of their enum`);
      }
    }
    for (const field of their.inputSchema.required ?? []) {
      if (!ourProps[field]) problems.push(`${their.name}.${field}: required by theirs, unknown to ours`);
    }
    for (const field of our.inputSchema.required ?? []) {
      const sent = theirRequired.has(field) || theirProps[field]?.default !== undefined;
      if (!sent) problems.push(`${their.name}.${field}: required by ours, but their clients may omit it`);
    }
  }
  return problems;
}
