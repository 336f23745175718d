import { describe, expect, it } from 'vitest';
import { AssError } from '../../src/shared/errors.js';
import { parseReference, placeholderReferences, renderPlaceholders } from '../../src/use/reference.js';
import { allowCommand, type CommandRule } from '../../src/use/command-allowlist.js';
import { planRequest, type HttpRule } from '../../src/use/http-broker.js';
import { UseConfigSchema } from '../../src/config/use-schema.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof AssError ? error.code : 'NOT_AN_ASS_ERROR';
  }
  return undefined;
}

describe('ass:// references', () => {
  it('the last segment is the key; #version pins', () => {
    expect(parseReference('ass://production/stripe/STRIPE_SECRET_KEY')).toEqual({ namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY', text: 'ass://production/stripe/STRIPE_SECRET_KEY' });
    expect(parseReference('ass://db/PASS#12')).toMatchObject({ namespace: 'db', key: 'PASS', version: 12, text: 'ass://db/PASS#12' });
  });

  it.each(['ass://KEY', 'ass:///KEY', 'ass://a//KEY', 'ass://a/../KEY', 'ass://a/*', 'ass://a/**/K', 'ass://a/K#0', 'ass://a/K#x', 'ass://a/K#', 'vault://a/K', 'ass://a/K\n', `ass://${'a/'.repeat(400)}K`])('refuses %j with INVALID_ARGUMENT', (text) => {
    expect(code(() => parseReference(text))).toBe('INVALID_ARGUMENT');
  });

  it('finds {{ placeholders }} with optional spaces and renders them', () => {
    const text = 'a={{ass://x/A}} b={{  ass://x/B#2  }} again={{ass://x/A}} not={ass://x/C}';
    expect(placeholderReferences(text).map((r) => r.text)).toEqual(['ass://x/A', 'ass://x/B#2']);
    expect(renderPlaceholders(text, (r) => `<${r.key}>`)).toBe('a=<A> b=<B> again=<A> not={ass://x/C}');
  });
});

describe('command allow-list', () => {
  const rules: CommandRule[] = [{ executable: '/usr/bin/psql', args: ['-c', 'select [a-z ]+', '-h', 'db'], cwd: ['/srv/app'] }];
  it('allows a listed executable whose every argument fully matches a pattern, in a listed cwd', () => {
    expect(allowCommand(rules, ['/usr/bin/psql', '-h', 'db', '-c', 'select now'], '/srv/app')).toEqual({ executable: '/usr/bin/psql', args: ['-h', 'db', '-c', 'select now'], cwd: '/srv/app' });
    expect(allowCommand(rules, ['/usr/bin/psql'], undefined).args).toEqual([]);
  });
  it.each<[string[], string | undefined, string]>([
    [['psql', '-h', 'db'], undefined, 'POLICY_DENIED'], // no PATH lookup
    [['/usr/bin/../bin/psql'], undefined, 'POLICY_DENIED'], // not normalized
    [['/bin/sh', '-c', 'echo'], undefined, 'POLICY_DENIED'],
    [['/usr/bin/psql', '-h', 'dbx'], undefined, 'POLICY_DENIED'], // patterns match whole arguments
    [['/usr/bin/psql', '-c', 'select 1; \\! echo'], undefined, 'POLICY_DENIED'],
    [['/usr/bin/psql'], '/tmp', 'POLICY_DENIED'],
    [['/usr/bin/psql'], 'relative', 'INVALID_ARGUMENT'],
    [[], undefined, 'INVALID_ARGUMENT'],
  ])('refuses %j in %j', (command, cwd, expected) => {
    expect(code(() => allowCommand(rules, command, cwd))).toBe(expected);
  });
});

describe('http rules', () => {
  const rules: HttpRule[] = [
    { namespaces: 'production/stripe', allowed_hosts: ['api.stripe.com'], schemes: ['https'], methods: ['GET', 'POST'] },
    { namespaces: 'dev/**', allowed_hosts: ['*.example.com', '127.0.0.1:8080'], schemes: ['https', 'http'], methods: ['GET'] },
  ];
  const plan = (method: string, url: string, header = '{{ass://production/stripe/KEY}}') => planRequest(rules, { method, url, headers: { Authorization: header } });

  it('allows a placeholder towards its namespace\'s host, scheme and method', () => {
    expect(plan('POST', 'https://api.stripe.com/v1/charges').destination).toBe('https://api.stripe.com');
    expect(plan('GET', 'https://a.b.example.com/x', '{{ass://dev/x/K}}').references.map((r) => r.text)).toEqual(['ass://dev/x/K']);
    expect(plan('GET', 'http://127.0.0.1:8080/x', '{{ass://dev/K}}').destination).toBe('http://127.0.0.1:8080');
  });

  it.each<[string, string, string?]>([
    ['GET', 'https://evil.example/'],
    ['GET', 'http://api.stripe.com/'], // scheme
    ['DELETE', 'https://api.stripe.com/'], // method
    ['GET', 'https://api.stripe.com.evil.example/'],
    ['GET', 'https://example.com/', '{{ass://dev/K}}'], // *.example.com needs a label
    ['GET', 'http://127.0.0.1:8081/', '{{ass://dev/K}}'], // port
    ['GET', 'https://api.stripe.com/', '{{ass://other/K}}'], // no rule for the namespace
    ['GET', 'https://evil.example/'.replace('evil.example', 'no-placeholder.example'), 'none'], // no placeholder: host must be named
  ])('refuses %s %s (%s) before sending', (method, url, header) => {
    expect(code(() => plan(method, url, header))).toBe('POLICY_DENIED');
  });

  it('never lets a placeholder choose the host or user info (such a URL does not even parse: "//" in ass:// ends the authority), nor a Host header', () => {
    expect(code(() => plan('GET', 'https://{{ass://production/stripe/KEY}}.api.stripe.com/'))).toBe('INVALID_ARGUMENT');
    expect(code(() => plan('GET', 'https://{{ass://production/stripe/KEY}}@api.stripe.com/'))).toBe('INVALID_ARGUMENT');
    expect(code(() => planRequest(rules, { method: 'GET', url: 'https://api.stripe.com/', headers: { Host: 'evil.example' } }))).toBe('INVALID_ARGUMENT');
  });

  it('refuses a body on GET or HEAD instead of dropping it', () => {
    expect(code(() => planRequest(rules, { method: 'GET', url: 'https://api.stripe.com/', body: '{{ass://production/stripe/KEY}}' }))).toBe('INVALID_ARGUMENT');
  });
});

describe('command allow-list: positional rules, argument flags, variables (H12-5, H12-2)', () => {
  const psql: CommandRule[] = [{ executable: '/usr/bin/psql', args: ['-h', 'db', '-c', 'select [a-z ]+'], positional: true, env: { PGPASSWORD: ['prod/db/PGPASSWORD'] } }];
  it('a positional rule keeps options paired with their values and the count exact', () => {
    expect(allowCommand(psql, ['/usr/bin/psql', '-h', 'db', '-c', 'select now'], undefined).args).toEqual(['-h', 'db', '-c', 'select now']);
    expect(code(() => allowCommand(psql, ['/usr/bin/psql', '-c', 'db', '-h', 'select now'], undefined))).toBe('POLICY_DENIED');
    expect(code(() => allowCommand(psql, ['/usr/bin/psql', '-h', 'db'], undefined))).toBe('POLICY_DENIED');
    expect(code(() => allowCommand(psql, ['/usr/bin/psql', '-h', 'db', '-c', 'select now', '-h'], undefined))).toBe('POLICY_DENIED');
  });
  it('variables must be listed and bound; denied names are refused even if a rule lists them', () => {
    const cmd = ['/usr/bin/psql', '-h', 'db', '-c', 'select now'];
    expect(allowCommand(psql, cmd, undefined, [['PGPASSWORD', { namespace: 'prod/db', key: 'PGPASSWORD' }]]).executable).toBe('/usr/bin/psql');
    expect(code(() => allowCommand(psql, cmd, undefined, [['PGPASSWORD', { namespace: 'prod/api', key: 'TOKEN' }]]))).toBe('POLICY_DENIED');
    expect(code(() => allowCommand(psql, cmd, undefined, [['PGUSER', { namespace: 'prod/db', key: 'PGPASSWORD' }]]))).toBe('POLICY_DENIED');
    const loose: CommandRule[] = [{ executable: '/usr/bin/node', args: ['.*'], env: { NODE_OPTIONS: ['**'] } }];
    expect(code(() => allowCommand(loose, ['/usr/bin/node', 'x.js'], undefined, [['NODE_OPTIONS', { namespace: 'scratch', key: 'x' }]]))).toBe('POLICY_DENIED');
    expect(code(() => allowCommand(loose, ['/usr/bin/node', 'x.js'], undefined, [['LD_PRELOAD', null]]))).toBe('POLICY_DENIED');
  });
  it('plain variables are denied unless the rule names them and their values (R-2: PGHOST would send the password elsewhere)', () => {
    const cmd = ['/usr/bin/psql', '-h', 'db', '-c', 'select now'];
    const pw: [string, { namespace: string; key: string }] = ['PGPASSWORD', { namespace: 'prod/db', key: 'PGPASSWORD' }];
    // The reviewer's attack: the docs' psql rule, the password from a secret, the host from the agent.
    for (const name of ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGSSLMODE', 'HTTPS_PROXY', 'https_proxy', 'SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'AWS_ENDPOINT_URL_S3', 'SSLKEYLOGFILE']) {
      expect(code(() => allowCommand(psql, cmd, undefined, [pw, [name, null, 'evil.example']])), name).toBe('POLICY_DENIED');
    }
    // A harmless name is still refused when the rule does not list it…
    expect(code(() => allowCommand(psql, cmd, undefined, [pw, ['PGAPPNAME', null, 'report']]))).toBe('POLICY_DENIED');
    // …allowed when env_plain names it and the value fully matches…
    const withPlain: CommandRule[] = [{ ...psql[0]!, env_plain: { PGAPPNAME: ['report|audit'] } }];
    expect(allowCommand(withPlain, cmd, undefined, [pw, ['PGAPPNAME', null, 'report']]).executable).toBe('/usr/bin/psql');
    // …and refused for any other value, including one that only contains an allowed one.
    expect(code(() => allowCommand(withPlain, cmd, undefined, [pw, ['PGAPPNAME', null, 'reports']]))).toBe('POLICY_DENIED');
    expect(code(() => allowCommand(withPlain, cmd, undefined, [pw, ['PGAPPNAME', null, 'x\nreport']]))).toBe('POLICY_DENIED');
    // A variable bound to secrets cannot be given a plain value instead.
    expect(code(() => allowCommand(withPlain, cmd, undefined, [['PGPASSWORD', null, 'typed']]))).toBe('POLICY_DENIED');
  });
  it('config: env_plain may not name a denied variable, and its patterns must compile', () => {
    const bad = UseConfigSchema.safeParse({ commands: { allow: [{ executable: '/usr/bin/psql', env_plain: { PGHOST: '.*', PGAPPNAME: '(unclosed' } }] } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['commands.allow.0.env_plain.PGHOST', 'commands.allow.0.env_plain.PGAPPNAME']));
    expect(UseConfigSchema.parse({ commands: { allow: [{ executable: '/usr/bin/psql', env_plain: { PGAPPNAME: 'report' } }] } }).commands!.allow[0]!.env_plain).toEqual({ PGAPPNAME: ['report'] });
  });
  it('config: a pattern valid only without the u flag is refused at load (it would throw at run time), and env may not name a denied variable', () => {
    const bad = UseConfigSchema.safeParse({ commands: { allow: [{ executable: '/usr/bin/psql', args: ['\\-h'], env: { NODE_OPTIONS: 'x/y' } }] } });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['commands.allow.0.args.0', 'commands.allow.0.env.NODE_OPTIONS']));
  });
});

describe('use config', () => {
  it('refuses a relative executable, a bad argument pattern and an empty rule list with clear messages', () => {
    const bad = UseConfigSchema.safeParse({ commands: { allow: [{ executable: 'psql', args: ['(unclosed'] }] }, http: { rules: [] } });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toEqual(expect.arrayContaining([
      'commands.allow.0.executable: must be an absolute path (no PATH lookup, no shell)',
      'commands.allow.0.args.0: must be a valid regular expression (matched against the whole argument)',
      'http.rules: list at least one rule, or remove use.http to turn http_request off',
    ]));
  });
});

describe('docs/use.md', () => {
  it('its use: example is a valid config section', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const text = readFileSync(new URL('../../docs/use.md', import.meta.url), 'utf8');
    const block = /```yaml\n([\s\S]*?)```/.exec(text)![1]!;
    const parsed = UseConfigSchema.safeParse(parse(block).use);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(parsed.data!.commands!.allow[0]!.executable).toBe('/usr/bin/psql');
  });
});
