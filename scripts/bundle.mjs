/**
 * `npm run bundle` (the last step of `npm run build`): bundles the CLI (`src/cli/start.ts`) into
 * `dist.tmp/cli/main.js` and ESM chunks in `dist.tmp/chunks/`, split at every dynamic import so
 * that what a configuration does not use (HTTP, the dashboard, each backend with its vendor
 * client) is never loaded. Kept outside the bundle, loaded from node_modules only when used:
 * the OpenTelemetry packages (tracing on), pg (a PostgreSQL store), prom-client (serve --http),
 * testcontainers (an optional peer), ajv (the first JSON Schema check, see below).
 *
 * One substitution: the MCP SDK's `Server` and `Client` import `validation/ajv-provider.js`,
 * which loads and sets up ajv at start-up; in the bundle they get src/server/lazy-ajv-validator.ts
 * instead, the same class loading the SDK's validator on first use. The build fails if the SDK
 * stops importing that file (the substitution would silently do nothing).
 */
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const outdir = process.argv[2] ?? path.join(root, 'dist.tmp');
const SDK_IMPORTERS = ['server', 'client'];
const lazyAjv = path.join(root, 'src/server/lazy-ajv-validator.ts');

/** Points the SDK's own imports of its ajv provider at the lazy one, and counts them. */
function lazyAjvValidator() {
  const replaced = new Set();
  return {
    name: 'lazy-ajv-validator',
    setup(b) {
      b.onStart(() => replaced.clear());
      b.onResolve({ filter: /^\.\.\/validation\/ajv-provider\.js$/ }, (args) => {
        const from = path.relative(path.join(root, 'node_modules/@modelcontextprotocol/sdk/dist/esm'), args.importer).split(path.sep);
        if (from.length !== 2 || !SDK_IMPORTERS.includes(from[0]) || from[1] !== 'index.js') return undefined;
        replaced.add(from[0]);
        return { path: lazyAjv };
      });
      b.onEnd((result) => {
        const missing = SDK_IMPORTERS.filter((name) => !replaced.has(name));
        if (missing.length > 0 && result.errors.length === 0) {
          result.errors.push({ text: `lazy-ajv-validator: the MCP SDK's ${missing.join(' and ')} no longer import ../validation/ajv-provider.js; check how this SDK version loads ajv (scripts/bundle.mjs)` });
        }
      });
    },
  };
}

await build({
  absWorkingDir: root,
  entryPoints: { 'cli/main': 'src/cli/start.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  minifyWhitespace: true,
  legalComments: 'eof',
  logLevel: 'warning',
  // ajv stays outside too: with the substitution nothing in the bundle imports it, and should the
  // SDK's provider come back in, it would load from node_modules, where the start-up test sees it.
  external: ['@opentelemetry/*', 'pg', 'prom-client', 'testcontainers', 'ajv', 'ajv-formats'],
  // Bundled CommonJS packages call `require` for Node's built-ins; an ES module has none.
  banner: { js: "import{createRequire as __assCreateRequire}from'node:module';const require=__assCreateRequire(import.meta.url);" },
  plugins: [lazyAjvValidator()],
});
