import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { DashboardDeps, DashboardEnv } from '../context.js';
import { BASE } from '../layout.js';
import { getCookie } from 'hono/cookie';
import { cookieName } from '../security.js';

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
      const cookie = getCookie(c, cookieName(deps.browserScheme));
      // Security: the stream ends with its session (sign-out, expiry, the admin removed).
      while (!stream.aborted && !stream.closed && deps.sessions.isAlive(cookie)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          // A comment line every 15 s keeps proxies from closing an idle stream.
          setTimeout(resolve, 15_000).unref();
        });
        wake = null;
        if (stream.aborted || stream.closed || !deps.sessions.isAlive(cookie)) break;
        if (pending !== sent) {
          sent = pending;
          await stream.writeSSE({ event: 'change', data: String(sent) });
        } else {
          await stream.write(`: ${++beats}\n\n`);
        }
      }
      unsubscribe();
    }),
  );
}
