/**
 * What an OAuth client app keeps, for tests that drive the SDK's OAuth client against our
 * authorization server: the SDK's OAuthClientProvider held in memory (as a desktop app would
 * keep it on disk), a loopback receiver for the redirect, and a PKCE pair.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

/** The app's redirect URI on loopback; records each /callback it receives. */
export class RedirectReceiver {
  readonly hits: URL[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', this.url);
      // Only the redirect itself: the browser also asks this origin for /favicon.ico.
      if (url.pathname === '/callback') this.hits.push(url);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('Signed in. You can close this window.');
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callback`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The SDK's OAuthClientProvider, kept in memory. With `sendsState` (the default) it gives the
 * SDK a fresh `state` for each authorization and remembers it in `lastState`.
 */
export class MemoryProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = '';
  lastState = '';
  authorizationUrl?: URL;
  readonly state?: () => string;

  constructor(
    private readonly redirect: string,
    private readonly clientName: string,
    options: { sendsState?: boolean } = {},
  ) {
    if (options.sendsState ?? true) {
      this.state = () => {
        this.lastState = randomBytes(16).toString('base64url');
        return this.lastState;
      };
    }
  }

  get redirectUrl(): string {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: this.clientName, redirect_uris: [this.redirect], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.info = info;
  }
  tokens(): OAuthTokens | undefined {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }
  codeVerifier(): string {
    return this.verifier;
  }
}

/** A PKCE verifier and its S256 challenge. */
export const pkce = (): { verifier: string; challenge: string } => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};
