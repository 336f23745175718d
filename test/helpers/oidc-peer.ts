/**
 * A real OpenID Connect provider on loopback: `oidc-provider` (a certified implementation, npm
 * devDependency) with its own login and consent pages, test users with group claims, and a
 * signing key generated per run. It listens behind a small loopback proxy that is the issuer's
 * address, so a test can make the provider's answers go wrong the way an attacker or an outage
 * would: `down` (connections reset), `tampered` (groups and email added to the ID token payload,
 * signature left as it was), `wrong-nonce` / `wrong-audience` (ID token re-signed with the provider's own key but a
 * nonce or audience of another sign-in).
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import Provider from 'oidc-provider';

export type IdpMode = 'pass' | 'down' | 'tampered' | 'wrong-nonce' | 'wrong-audience';

export interface IdpUser {
  email?: string;
  name: string;
  groups: string[];
}

export class OidcPeer {
  mode: IdpMode = 'pass';
  /** ID tokens the provider issued (before any change the mode makes). */
  readonly issuedIdTokens: string[] = [];
  readonly clientId = 'agent-secret-store';
  readonly clientSecret = randomBytes(24).toString('base64url');
  issuer = '';
  private inner!: Server;
  private outer!: Server;
  private privateJwk!: JWK;

  constructor(readonly users: Record<string, IdpUser>) {}

  /** Starts the proxy (the issuer's address); call `startProvider` once the relying party's redirect URI is known. */
  async listen(): Promise<void> {
    this.outer = createServer((req, res) => this.proxy(req, res));
    await new Promise<void>((resolve) => this.outer.listen(0, '127.0.0.1', resolve));
    this.issuer = `http://127.0.0.1:${(this.outer.address() as AddressInfo).port}`;
  }

  async startProvider(redirectUri: string): Promise<void> {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    this.privateJwk = { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };
    const users = this.users;
    const provider = new Provider(this.issuer, {
      clients: [{ client_id: this.clientId, client_secret: this.clientSecret, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' }],
      jwks: { keys: [this.privateJwk as never] },
      cookies: { keys: [randomBytes(32).toString('hex')] },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
      scopes: ['openid', 'email', 'profile', 'groups'],
      // The provider's own login page takes any login; the login names a test user.
      findAccount: (_ctx, sub) => {
        const user = Object.hasOwn(users, sub) ? users[sub] : undefined;
        if (!user) return undefined;
        return { accountId: sub, claims: () => ({ sub, ...(user.email ? { email: user.email, email_verified: true } : {}), name: user.name, groups: user.groups }) };
      },
      features: { devInteractions: { enabled: true } },
    });
    this.inner = createServer(provider.callback());
    await new Promise<void>((resolve) => this.inner.listen(0, '127.0.0.1', resolve));
  }

  private proxy(req: IncomingMessage, res: ServerResponse): void {
    if (this.mode === 'down') {
      // An outage: the connection is reset before any answer.
      req.socket.destroy();
      return;
    }
    const port = (this.inner.address() as AddressInfo).port;
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const isToken = req.method === 'POST' && req.url?.split('?')[0] === '/token';
      if (!isToken) {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        void this.rewriteToken(Buffer.concat(chunks).toString('utf8')).then((body) => {
          const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(body)) };
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(body);
        });
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }

  private async rewriteToken(text: string): Promise<string> {
    let body: { id_token?: string };
    try {
      body = JSON.parse(text) as { id_token?: string };
    } catch {
      return text;
    }
    if (!body.id_token) return text;
    this.issuedIdTokens.push(body.id_token);
    if (this.mode === 'pass') return text;
    const [header, payload, signature] = body.id_token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (this.mode === 'tampered') {
      // Someone on the path gives themselves a group (and an email, so no UserInfo call would
      // contradict it); the provider's signature no longer fits.
      claims.groups = ['engineering'];
      claims.email = 'mallory@example.com';
      body.id_token = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      return JSON.stringify(body);
    }
    if (this.mode === 'wrong-nonce') claims.nonce = randomBytes(16).toString('base64url');
    if (this.mode === 'wrong-audience') claims.aud = 'another-relying-party';
    // Validly signed by the provider's own key: only the nonce or audience check can refuse it.
    const key = await importJWK(this.privateJwk, 'RS256');
    body.id_token = await new CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader(decodeProtectedHeader(body.id_token) as { alg: string }).sign(key);
    return JSON.stringify(body);
  }

  /**
   * A person's steps at the provider without a browser: from the authorization URL our server
   * sent them to, through the provider's own login and consent forms (a cookie jar for the
   * provider's cookies), to the redirect back to our callback, returned and not followed, so a
   * test can deliver it to whichever replica it wants.
   */
  async signInOverHttp(authorizationUrl: string, login: string): Promise<URL> {
    const jar = new Map<string, string>();
    const send = async (url: URL, init: { method?: string; body?: string } = {}): Promise<Response> => {
      const res = await fetch(url, {
        method: init.method ?? 'GET',
        redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(init.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(init.body ? { body: init.body } : {}),
      });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        const [name, value] = [pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim()];
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
        else jar.set(name, value);
      }
      return res;
    };
    let url = new URL(authorizationUrl);
    for (let step = 0; step < 12; step++) {
      if (url.origin !== this.issuer) return url;
      const res = await send(url);
      const location = res.headers.get('location');
      if (location) {
        url = new URL(location, url);
        continue;
      }
      // A form of the provider's: the login (any password) or the consent step.
      const page = await res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
      if (res.status !== 200 || !action) throw new Error(`the provider answered ${res.status} without a form at ${url.pathname}: ${page.slice(0, 300)}`);
      const fields = new URLSearchParams();
      for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields.set(m[1]!, m[2]!);
      if (fields.get('prompt') === 'login') {
        fields.set('login', login);
        fields.set('password', 'any password');
      }
      const posted = await send(new URL(action.replace(/&amp;/g, '&'), url), { method: 'POST', body: fields.toString() });
      const next = posted.headers.get('location');
      if (!next) throw new Error(`the provider's form at ${url.pathname} answered ${posted.status} without a redirect`);
      url = new URL(next, url);
    }
    throw new Error('the provider did not send the person back within 12 steps');
  }

  async stop(): Promise<void> {
    for (const server of [this.outer, this.inner]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
