/**
 * What compiled JavaScript imports at run time: every bare specifier (a package, not a relative
 * path or a Node built-in) in static `import … from`, `export … from`, side-effect `import 'x'`,
 * dynamic `import('x')` and `require('x')`, mapped to its package name. Imports whose specifier
 * is not a literal are returned apart, since nobody can tell what they load. Type-only files
 * (`.d.ts`) are not run and are skipped.
 *
 * The scan reads syntax, not text: since the build bundles packages such as the AWS SDK, dist/
 * holds their error messages and comments, which mention `require("…")` of packages that are
 * never loaded. ES module syntax is read by es-module-lexer (the lexer Vite and Node's tools
 * use); `require` calls by TypeScript's parser, which gives a real syntax tree of the file, so
 * a `require(` inside a string, template, comment or regular expression is not a call. A call
 * counts when its callee is the identifier `require` or `__require` (esbuild's name for
 * `require` in a bundle), a variable made by `createRequire(…)` (a bundler renames it: `require2`),
 * or `.resolve` of one of these, whatever the name is bound to: the scan may over-report, never miss. A `require` written inside a `try` block (in the same function) is
 * reported apart as optional: bundled packages probe for optional extras that way (debug asks for
 * supports-color and goes on without it), the same rule by which esbuild leaves such a require
 * unresolved instead of failing the build.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { initSync, parse as parseModule } from 'es-module-lexer';
import ts from 'typescript';

export interface RuntimeImports {
  /** package name → the files (relative to the scanned dir) that import it. */
  packages: Map<string, string[]>;
  /** package name → files, for the `require`s inside a `try` block (the code goes on without the package). */
  optional: Map<string, string[]>;
  /** `file: import(expression)` or `file: require(expression)` for each computed specifier. */
  computed: string[];
}

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

function isRequireCallee(callee: ts.Expression, names: Set<string>): boolean {
  if (ts.isIdentifier(callee)) return names.has(callee.text);
  return ts.isPropertyAccessExpression(callee) && callee.name.text === 'resolve' && ts.isIdentifier(callee.expression) && names.has(callee.expression.text);
}

/**
 * The names that hold a `require` function in this file: `require`, esbuild's `__require`, and
 * every variable initialised by a call of `createRequire` (imported from node:module under any
 * name, or called as `module.createRequire`).
 */
function requireNames(tree: ts.SourceFile): Set<string> {
  const makers = new Set(['createRequire']);
  const names = new Set(['require', '__require']);
  const isMaker = (callee: ts.Expression) =>
    (ts.isIdentifier(callee) && makers.has(callee.text)) || (ts.isPropertyAccessExpression(callee) && callee.name.text === 'createRequire');
  const visit = (node: ts.Node): void => {
    if (ts.isImportSpecifier(node) && (node.propertyName ?? node.name).text === 'createRequire') makers.add(node.name.text);
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isCallExpression(node.initializer) && isMaker(node.initializer.expression)) {
      names.add(node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  // Imports first (they are hoisted), then the declarations that use them.
  for (const statement of tree.statements) if (ts.isImportDeclaration(statement)) visit(statement);
  visit(tree);
  return names;
}

/** Whether `node` runs inside the `try` block of a try statement, within the same function. */
function insideTry(node: ts.Node): boolean {
  for (let child = node, parent = node.parent; parent; child = parent, parent = parent.parent) {
    if (ts.isFunctionLike(parent) || ts.isClassStaticBlockDeclaration(parent)) return false;
    if (ts.isTryStatement(parent) && parent.tryBlock === child) return true;
  }
  return false;
}

interface RequireCall {
  literal?: string;
  source: string;
  optional: boolean;
}

/** Every `require(…)` call in `text`: the literal specifier, or the source of a computed one. */
function requireCalls(text: string, file: string): RequireCall[] {
  // A file that never spells the word has no call; most of dist/ is skipped without a parse.
  if (!text.includes('require')) return [];
  // setParentNodes: insideTry walks up from the call.
  const tree = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const calls: RequireCall[] = [];
  const names = requireNames(tree);
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && isRequireCallee(node.expression, names)) {
      const [first] = node.arguments;
      const optional = insideTry(node);
      if (first && (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first))) calls.push({ literal: first.text, source: node.getText(tree), optional });
      else calls.push({ source: node.getText(tree).slice(0, 200), optional });
    }
    ts.forEachChild(node, visit);
  };
  visit(tree);
  return calls;
}

/** Scans every `.js` file under `dir`. */
export function runtimeImports(dir: string): RuntimeImports {
  initSync();
  const packages = new Map<string, string[]>();
  const optional = new Map<string, string[]>();
  const computed: string[] = [];
  const add = (specifier: string, file: string, into = packages) => {
    const name = packageOf(specifier);
    if (!name) return;
    const files = into.get(name) ?? [];
    const relative = path.relative(dir, file);
    if (!files.includes(relative)) into.set(name, [...files, relative]);
  };
  for (const file of jsFiles(dir)) {
    const text = readFileSync(file, 'utf8');
    const [imports] = parseModule(text, file);
    for (const entry of imports) {
      if (entry.n !== undefined) add(entry.n, file);
      // A dynamic import (d ≥ 0) without a literal specifier; import.meta (d = -2) loads nothing.
      else if (entry.d >= 0) computed.push(`${path.relative(dir, file)}: ${text.slice(entry.ss, entry.se).slice(0, 200)}`);
    }
    for (const call of requireCalls(text, file)) {
      if (call.literal !== undefined) add(call.literal, file, call.optional ? optional : packages);
      else computed.push(`${path.relative(dir, file)}: ${call.source}`);
    }
  }
  return { packages, optional, computed };
}
