#!/usr/bin/env node
/**
 * The `agent-secret-store` executable as shipped: the build bundles this file into
 * `dist/cli/main.js` (see `bundle` in package.json), with the CLI itself (`./main.js`) in a
 * chunk beside it. It exists so that V8's code cache is switched on before the CLI's code is
 * compiled: an MCP client spawns a stdio server per session, and start-up is mostly compiling
 * and evaluating modules.
 *
 * `module.enableCompileCache` exists from Node 22.1; on Node 20 this does nothing. The cache
 * lives in this user's own cache folder, never the shared temp dir, where another local user
 * could plant compiled code for a secrets server to run. `NODE_DISABLE_COMPILE_CACHE=1` turns
 * it off (Node's own switch); a cache that cannot be written is skipped silently by Node.
 */
import module from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Once start-up is surely over: Node writes the cache at a normal exit, but MCP clients stop a stdio server with a signal. */
const FLUSH_AFTER_MS = 3000;

const { enableCompileCache, flushCompileCache } = module as { enableCompileCache?: (dir?: string) => unknown; flushCompileCache?: () => void };
if (enableCompileCache) {
  const home = homedir();
  const cacheRoot = process.env.XDG_CACHE_HOME || (home ? join(home, '.cache') : '');
  // Only with a real per-user folder (no home, e.g. a bare container user: no cache).
  if (cacheRoot) {
    try {
      enableCompileCache(join(cacheRoot, 'agent-secret-store', 'v8-compile-cache'));
      if (flushCompileCache) {
        setTimeout(() => {
          try {
            flushCompileCache();
          } catch {
            // As above: never a reason to stop serving.
          }
        }, FLUSH_AFTER_MS).unref();
      }
    } catch {
      // A cache is an optimisation; start without one rather than fail.
    }
  }
}

await import('./main.js');
