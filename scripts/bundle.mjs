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
 * instead, the same class loading the SDK's validator on first use. The build fails if the SDK's
 * server stops importing that file (the substitution would silently do nothing).
 */
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const outdir = process.argv[2] ?? path.join(root, 'dist.tmp');
const lazyAjv = path.join(root, 'src/server/lazy-ajv-validator.ts');
// The SDK's ESM server and client entry modules (matched on the end of the real path: node_modules
// may be a symlink, and esbuild resolves it).
const SDK_IMPORTER = /[\\/]@modelcontextprotocol[\\/]sdk[\\/]dist[\\/]esm[\\/](server|client)[\\/]index\.js$/;
const replaced = new Set();

/** Points the SDK's own imports of its ajv provider at the lazy one, and notes which were seen. */
const lazyAjvValidator = {
  name: 'lazy-ajv-validator',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/validation\/ajv-provider\.js$/ }, (args) => {
      const importer = SDK_IMPORTER.exec(args.importer);
      if (!importer) return undefined;
      replaced.add(importer[1]);
      return { path: lazyAjv };
    });
  },
};

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
  plugins: [lazyAjvValidator],
});

// The server is on every start-up path (the SDK's client is bundled only if a backend uses it).
if (!replaced.has('server')) {
  process.stderr.write(`bundle: the MCP SDK's server no longer imports ../validation/ajv-provider.js, so ajv may load at start-up again; see how this SDK version loads it (scripts/bundle.mjs)\n`);
  process.exit(1);
}
