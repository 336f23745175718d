/**
 * A person's browser on the dashboard over plain HTTP (no chromium): a cookie jar, the sign-in
 * form with its login-CSRF token, the OAuth consent form and the Sign-ins page's revoke form,
 * each with the session's CSRF token as the pages serve it.
 */
import { request } from 'node:http';
import { expect } from 'vitest';
import { raw, type RawResponse } from './remote-http.js';

export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export class DashboardBrowser {
  /** @param headers sent with every request (e.g. X-Forwarded-For, as a proxy in front would add). */
  constructor(
    private readonly base: string,
    private readonly headers: Record<string, string> = {},
    private readonly cookies = new Map<string, string>(),
  ) {}

  /** The same browser (one cookie jar) talking to another origin: another replica behind a balancer without sticky sessions. */
  at(base: string): DashboardBrowser {
    return new DashboardBrowser(base, this.headers, this.cookies);
  }

  /** The `cookie` header this browser sends (for a request made by hand, e.g. a long-lived stream). */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Sets or replaces one cookie (to try a forged or altered one). */
  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  /** Signs out with the page's CSRF token, as the Sign out button does. */
  async signOut(): Promise<void> {
    const page = await this.get('/dashboard/approvals');
    expect(page.status, page.body).toBe(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const res = await this.post('/dashboard/sign-out', { _csrf: csrf });
    expect(res.status, res.body).toBe(303);
  }

  private keep(res: RawResponse): RawResponse {
    for (const line of [res.headers['set-cookie'] ?? []].flat()) {
      const pair = line.split(';')[0]!;
      const at = pair.indexOf('=');
      const [name, value] = [pair.slice(0, at), pair.slice(at + 1)];
      if (value) this.cookies.set(name, value);
      else this.cookies.delete(name);
    }
    return res;
  }

  private cookie(): Record<string, string> {
    return { ...this.headers, ...(this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}) };
  }

  async get(p: string): Promise<RawResponse> {
    return this.keep(await raw({ url: this.base, path: p, headers: this.cookie() }));
  }

  async post(p: string, fields: Record<string, string>): Promise<RawResponse> {
    return this.keep(await raw({ url: this.base, method: 'POST', path: p, headers: { ...FORM, ...this.cookie() }, body: form(fields) }));
  }

  async signIn(adminKey: string): Promise<void> {
    const page = await this.get('/dashboard/sign-in');
    const token = /name="_signin" value="([^"]+)"/.exec(page.body)![1]!;
    const done = await this.post('/dashboard/sign-in', { _signin: token, admin_key: adminKey, next: '/dashboard/approvals' });
    expect(done.status, done.body).toBe(303);
  }

  /** Opens an authorize URL; returns the consent page's path it sends the browser to. */
  async authorize(url: URL): Promise<string> {
    const res = await this.get(`${url.pathname}${url.search}`);
    expect(res.status, res.body).toBe(303);
    return res.headers.location as string;
  }

  /** Allows the sign-in on its consent page as `agent`; returns the client's redirect URL (with the code). */
  async allow(consentPath: string, agent: string): Promise<URL> {
    const page = await this.get(consentPath);
    expect(page.status, page.body).toBe(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const res = await this.post(consentPath, { _csrf: csrf, decision: 'approve', agent });
    expect(res.status, res.body).toBe(303);
    return new URL(res.headers.location as string);
  }

  /** Revokes a grant on the Sign-ins page, as the person would with its Revoke button. */
  async revoke(grantId: string): Promise<void> {
    const page = await this.get('/dashboard/sign-ins');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const action = `/dashboard/sign-ins/${encodeURIComponent(grantId)}/revoke`;
    expect(page.body).toContain(action);
    const res = await this.post(action, { _csrf: csrf });
    expect(res.status, res.body).toBe(303);
  }
}

/**
 * Opens `/dashboard/events` with `cookie`; resolves `ready` at the first event and `ended` when the
 * server closes the stream (never by a timer of its own: the caller bounds the wait).
 */
export function openEvents(base: string, cookie: string): { ready: Promise<void>; ended: Promise<void>; close(): void } {
  const url = new URL(base);
  let onReady!: () => void;
  let onEnd!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const ended = new Promise<void>((r) => (onEnd = r));
  const req = request({ host: url.hostname, port: url.port, path: '/dashboard/events', headers: { cookie, accept: 'text/event-stream' }, agent: false }, (res) => {
    let text = '';
    res.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.includes('event: ready')) onReady();
    });
    res.on('end', onEnd);
    res.on('close', onEnd);
  });
  req.on('error', onEnd);
  req.end();
  return { ready, ended, close: () => req.destroy() };
}

/** Resolves with `p`, or rejects naming `what` after `ms` (a bound on an event-driven wait, not a speed check). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}
