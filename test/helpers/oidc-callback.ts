/**
 * The two halves of a dashboard sign-in through the identity provider, over plain HTTP, for the
 * tests that deliver them to different replicas (test/remote/oidc-callback-file.test.ts,
 * test/integration/oidc-replicas-postgres.test.ts): the start (our redirect to the provider and
 * the pending sign-in's cookie) and the provider's callback (with that cookie, as the browser
 * that started it sends it).
 */
import type { HeaderProxy } from './header-proxy.js';

export interface StartedSignIn {
  /** The provider's authorization URL our server sent the person to. */
  authorizationUrl: string;
  /** `name=value` of the pending sign-in's cookie. */
  cookie: string;
}

/** GET /dashboard/sign-in/oidc through `base`: a 303 to the provider and the pending cookie. */
export async function startSignIn(base: string): Promise<StartedSignIn> {
  const res = await fetch(`${base}/dashboard/sign-in/oidc`, { redirect: 'manual' });
  if (res.status !== 303) throw new Error(`the sign-in start answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const cookie = res.headers.getSetCookie().find((c) => /^ass_signin_oidc=/.test(c));
  if (!cookie) throw new Error('the sign-in start set no pending cookie');
  return { authorizationUrl: res.headers.get('location')!, cookie: cookie.split(';')[0]! };
}

export interface Callback {
  status: number;
  body: string;
  /** `name=value` of the dashboard session cookie, when the sign-in completed. */
  session?: string;
}

/** Delivers the provider's redirect (its path and query) through `base` with the pending cookie. */
export async function deliverCallback(base: string, callback: URL, cookie: string): Promise<Callback> {
  const res = await fetch(`${base}${callback.pathname}${callback.search}`, { redirect: 'manual', headers: { cookie } });
  const session = res.headers.getSetCookie().find((c) => /^ass_session=/.test(c));
  return { status: res.status, body: await res.text(), ...(session ? { session: session.split(';')[0]! } : {}) };
}

/** The upstreams (host:port) that served requests to `pathPrefix` since `from`. */
export function servedBy(lb: HeaderProxy, from: number, pathPrefix: string): string[] {
  return lb.seen.slice(from).filter((s) => s.path.startsWith(pathPrefix)).map((s) => s.upstream);
}
