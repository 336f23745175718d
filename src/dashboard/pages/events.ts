import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { DashboardDeps, DashboardEnv } from '../context.js';
import { BASE } from '../layout.js';
import { getCookie } from 'hono/cookie';
import { cookieName, standingSession } from '../security.js';

/** How often an open stream re-reads its session from the shared store (one read per stream). */
export const SESSION_CHECK_MS = 2_000;
const HEARTBEAT_MS = 15_000;

/**
 * `GET /dashboard/events`: a server-sent event stream telling an open page that something
 * changed (`event: change`); the page then fetches its own live region again. It carries no
 * data beyond a counter, so nothing about a request is sent to a page that did not ask.
 */
export function registerEvents(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  app.get(`${BASE}/events`, (c) =>
    streamSSE(c, async (stream) => {
      let wake: (() => void) | null = null;
      let pending = 0;
      const unsubscribe = deps.live.subscribe((version) => {
        pending = version;
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'ready', data: '0', retry: 1000 });
      let sent = 0;
      let beats = 0;
      let lastWrite = Date.now();
      const cookie = getCookie(c, cookieName(deps.browserScheme));
      // Security: the stream ends with its session wherever it ends (sign-out on any replica,
      // expiry, the admin removed or their admins group renamed): the shared store and the config
      // in force are checked again at every wake, at least every SESSION_CHECK_MS. A store that
      // cannot be read ends the stream too (the page's EventSource reconnects through sign-in).
      const stands = (): Promise<boolean> => standingSession(deps, cookie).then((s) => s !== null, () => false);
      // Read once before the first wait, then once per wake (below), never twice per wake.
      let standing = await stands();
      while (standing && !stream.aborted && !stream.closed) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, SESSION_CHECK_MS).unref();
        });
        wake = null;
        if (stream.aborted || stream.closed) break;
        standing = await stands();
        if (!standing) break;
        if (pending !== sent) {
          sent = pending;
          await stream.writeSSE({ event: 'change', data: String(sent) });
          lastWrite = Date.now();
        } else if (Date.now() - lastWrite >= HEARTBEAT_MS) {
          // A comment line every 15 s keeps proxies from closing an idle stream.
          await stream.write(`: ${++beats}\n\n`);
          lastWrite = Date.now();
        }
      }
      unsubscribe();
    }),
  );
}
