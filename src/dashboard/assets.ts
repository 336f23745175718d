import { readFileSync } from 'node:fs';
import type { Hono } from 'hono';
import type { DashboardEnv } from './context.js';
import { BASE } from './layout.js';

/**
 * The dashboard's two static files, shipped in the package beside this module (the build
 * copies `src/dashboard/assets/` to `dist/dashboard/assets/`): no CDN, no external fonts.
 * Read once at start-up; served by a fixed name only (no path from the request touches the disk).
 * Found as `../dashboard/assets/` from this module: the same folder whether this code runs as
 * `dist/dashboard/assets.js`, from a chunk of the bundled CLI (`dist/chunks/`), or from src/.
 */
const FILES = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
} as const;

export function registerAssets(app: Hono<DashboardEnv>): void {
  const contents = new Map<string, string>();
  for (const name of Object.keys(FILES)) contents.set(name, readFileSync(new URL(`../dashboard/assets/${name}`, import.meta.url), 'utf8'));
  app.get(`${BASE}/assets/:name`, (c) => {
    const name = c.req.param('name');
    if (!Object.hasOwn(FILES, name)) return c.text('Not found.', 404);
    c.header('content-type', FILES[name as keyof typeof FILES]);
    c.header('cache-control', 'no-cache');
    return c.body(contents.get(name)!);
  });
}
