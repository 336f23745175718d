/**
 * What compiled JavaScript imports at run time: every bare specifier (a package, not a relative
 * path or a Node built-in) in static `import … from`, `export … from`, side-effect `import 'x'`,
 * dynamic `import('x')` and `require('x')`, mapped to its package name. Dynamic imports whose
 * argument is not a string literal are returned apart, since nobody can tell what they load.
 * Type-only files (`.d.ts`) are not run and are skipped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';

export interface RuntimeImports {
  /** package name → the files (relative to the scanned dir) that import it. */
  packages: Map<string, string[]>;
  /** `file: import(expression)` for each dynamic import of a computed specifier. */
  computed: string[];
}

const STATIC = /(?:^|[\s;})])(?:import|export)\s*(?:[\w$*{}\s,]+?\s*from\s*)?["']([^"'\n]+)["']/g;
const DYNAMIC = /\b(?:import|require)\s*\(\s*([^)]*?)\s*\)/g;

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`; null for relative paths and built-ins. */
export function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return builtinModules.includes(name) ? null : name;
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.js'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** Scans every `.js` file under `dir`. */
export function runtimeImports(dir: string): RuntimeImports {
  const packages = new Map<string, string[]>();
  const computed: string[] = [];
  const add = (specifier: string, file: string) => {
    const name = packageOf(specifier);
    if (!name) return;
    packages.set(name, [...(packages.get(name) ?? []), path.relative(dir, file)]);
  };
  for (const file of jsFiles(dir)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(STATIC)) add(m[1]!, file);
    for (const m of text.matchAll(DYNAMIC)) {
      const literal = /^(["'`])([^"'`$]+)\1$/.exec(m[1]!);
      if (literal) add(literal[2]!, file);
      else computed.push(`${path.relative(dir, file)}: ${m[0]}`);
    }
  }
  return { packages, computed };
}
