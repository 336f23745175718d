/**
 * ASS_HTTP_ALLOWED_ORIGINS / ASS_HTTP_ALLOWED_HOSTS: how the container image is told which
 * browser origins and Host names to accept. They add to the config's lists, pass the same
 * validation, and a bad entry is refused by name (nothing starts).
 */
import { describe, expect, it } from 'vitest';
import { resolveHttpOptions } from '../../src/server/http/options.js';

describe('allowed origins and hosts from the environment', () => {
  it('a non-loopback bind starts with the origin from ASS_HTTP_ALLOWED_ORIGINS, and only then', () => {
    expect(() => resolveHttpOptions(undefined, { host: '0.0.0.0' }, {})).toThrow(/ASS_HTTP_ALLOWED_ORIGINS/);
    const options = resolveHttpOptions(undefined, { host: '0.0.0.0' }, { ASS_HTTP_ALLOWED_ORIGINS: ' https://Agents.Example.com , http://localhost:3000,' });
    expect(options.allowedOrigins).toEqual(['https://agents.example.com', 'http://localhost:3000']);
  });

  it('adds to the config lists instead of replacing them', () => {
    const options = resolveHttpOptions({ allowed_origins: ['https://a.example'], allowed_hosts: ['a.example'] } as never, { host: '0.0.0.0' }, {
      ASS_HTTP_ALLOWED_ORIGINS: 'https://b.example',
      ASS_HTTP_ALLOWED_HOSTS: 'secrets.internal:8787,[::1]:8787',
    });
    expect(options.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(options.allowedHosts).toEqual(['a.example', 'secrets.internal:8787', '[::1]:8787']);
  });

  it('refuses a bad entry by variable and entry, with the config rule', () => {
    expect(() => resolveHttpOptions(undefined, { host: '0.0.0.0' }, { ASS_HTTP_ALLOWED_ORIGINS: 'agents.example.com' })).toThrow(
      "ASS_HTTP_ALLOWED_ORIGINS: 'agents.example.com' must be an origin such as https://app.example.com (no path).",
    );
    expect(() => resolveHttpOptions(undefined, {}, { ASS_HTTP_ALLOWED_HOSTS: 'evil.example/path' })).toThrow(/^ASS_HTTP_ALLOWED_HOSTS: 'evil\.example\/path' must be a host name/);
  });

  it('ignores the variables unless given (the default stays loopback-only)', () => {
    const options = resolveHttpOptions(undefined, {}, { ASS_HTTP_ALLOWED_ORIGINS: '', ASS_HTTP_ALLOWED_HOSTS: ' , ' });
    expect(options).toMatchObject({ host: '127.0.0.1', allowedOrigins: [], allowedHosts: [] });
  });
});
