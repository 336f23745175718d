import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { interpolateString } from '../../src/config/interpolate.js';
import { loadSettings } from '../../src/server/settings.js';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

function write(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ass-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
}

const base = (extra = '', agent = `    grants: ["secrets:read:production/**"]`) => `version: 1
backend:
  type: file
  path: ./secrets
  key_file: ./store.key
admins:
  - id: admin
    key_sha256: ${HASH_A}
agents:
  - id: bot
    key_sha256: ${HASH_B}
${agent}
${extra}`;

function problems(text: string, env: Record<string, string> = {}): string {
  try {
    loadSettings(write(text), env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('config loading', () => {
  it('accepts a minimal config and fills defaults, resolving paths against the file', () => {
    const file = write(base());
    const settings = loadSettings(file, {});
    expect(settings.backend).toMatchObject({ type: 'file', path: join(file, '..', 'secrets'), key_file: join(file, '..', 'store.key'), max_versions: 20 });
    expect(settings.pendingTtlMs).toBe(15 * 60_000);
    expect(settings.tokenMaxTtlMs).toBe(24 * 3_600_000);
    expect(settings.agents[0]!.compiled.grants.map((g) => g.text)).toEqual(['secrets:read:production/**']);
  });

  it('names the YAML path and line of an unknown key', () => {
    const message = problems(base('surprise: 1'));
    expect(message).toMatch(/\(top level\).*unknown key 'surprise'/);
    // The misspelt key's own line, not the first line of its mapping (which is another key).
    const text = base('approvals:\n  pending_ttl: 15m\n  grant_tll: 1h');
    const line = text.split('\n').findIndex((l) => l.includes('grant_tll')) + 1;
    expect(problems(text)).toContain(`approvals (line ${line}): unknown key 'grant_tll' (did you mean 'grant_ttl'?)`);
  });

  it('names the YAML path and line of a malformed scope', () => {
    const message = problems(base('', `    grants:\n      - "secrets:read:production/**"\n      - "secrets:read:production/gemini*"`));
    expect(message).toMatch(/agents\[0\]\.grants\[1\] \(line 14\):.*whole segments/);
  });

  it('reports every problem at once, including in the backend block', () => {
    const message = problems(base().replace('key_file: ./store.key', 'key_file: ./store.key\n  colour: blue').replace('version: 1', 'version: 2'));
    expect(message).toMatch(/version/);
    expect(message).toMatch(/backend.*unknown key 'colour'/);
  });

  it('refuses one key hash used by an agent and an admin', () => {
    expect(problems(base().replace(HASH_B, HASH_A))).toMatch(/already used by another agent or admin/);
  });

  it('interpolates ${ENV} in values, with defaults, and reports a missing variable with its path', () => {
    const file = write(base().replace('path: ./secrets', 'path: ${STORE_DIR}').replace('key_file: ./store.key', 'key_file: ${KEY_FILE:-/etc/ass/store.key}'));
    const settings = loadSettings(file, { STORE_DIR: '/var/lib/ass' });
    expect(settings.backend).toMatchObject({ path: '/var/lib/ass', key_file: '/etc/ass/store.key' });
    expect(problems(base().replace('path: ./secrets', 'path: ${NOT_SET_ANYWHERE}'))).toMatch(/backend\.path.*NOT_SET_ANYWHERE is not set/);
  });

  it('never lets an environment value inject YAML structure', () => {
    const file = write(base().replace('path: ./secrets', 'path: ${EVIL}'));
    const settings = loadSettings(file, { EVIL: './x\nagents: []' });
    expect(settings.agents).toHaveLength(1);
  });

  it('keeps $${ as a literal', () => {
    expect(interpolateString('a$${B}c', {}).value).toBe('a${B}c');
  });

  it('names the line and column of a YAML syntax error, with what is wrong', () => {
    expect(problems('server:\n\tname: x\n')).toMatch(/YAML syntax error at line 2, column 1: Tabs are not allowed as indentation \(TAB_AS_INDENT\)/);
    expect(problems('server:\n  name: x\n  name: y\n')).toMatch(/line 3, column 3: Map keys must be unique \(DUPLICATE_KEY\)/);
  });

  it('says what to do when the file is missing', () => {
    expect(() => loadSettings('/nonexistent/ass/config.yaml', {})).toThrow(/run `agent-secret-store init`/);
  });

  it('rejects a bad tier rule and a bad duration with their paths', () => {
    const message = problems(base('policy:\n  tiers:\n    critical: { effect: maybe }\napprovals:\n  pending_ttl: soon'));
    expect(message).toMatch(/policy\.tiers\.critical/);
    expect(message).toMatch(/approvals\.pending_ttl.*duration/);
  });

  it('names the choice meant when a value is misspelt, and guesses nothing for a far-off one', () => {
    expect(problems(base('policy:\n  tiers:\n    critical: aproval'))).toMatch(/policy\.tiers\.critical \(line \d+\): must be auto \| approval \| deny, or a mapping \(did you mean 'approval'\?\)/);
    expect(problems(base('policy:\n  default_tier: sensitiv'))).toMatch(/policy\.default_tier \(line \d+\): must be one of standard \| sensitive \| critical \(did you mean 'sensitive'\?\)/);
    expect(problems(base('policy:\n  default_tier: secret'))).not.toMatch(/did you mean/);
  });
});

describe('config.example.yaml', () => {
  it('is itself a valid config (the reference cannot drift from the schema)', () => {
    const settings = loadSettings(join(import.meta.dirname, '..', '..', 'config.example.yaml'), {});
    expect(settings.backend.type).toBe('file');
    expect(settings.agents[0]!.config.id).toBe('default');
  });

  it.each(['vault', 'aws', 'ass'])('documents a valid %s block', (type) => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'config.example.yaml'), 'utf8');
    // The commented block starting `# backend:` whose `type:` is this one, uncommented.
    const blocks = text.split(/\n(?=# backend:\n)/).slice(1);
    const block = blocks.find((b) => b.includes(`#   type: ${type}`))!;
    const yaml = block
      .split('\n')
      .filter((line) => /^# (backend:|  \S)/.test(line) || /^#   /.test(line))
      .map((line) => line.replace(/^# /, ''))
      .filter((line) => !/^\s*#/.test(line))
      .join('\n');
    const file = write(base().replace(/backend:\n(?:  .*\n)+/, `${yaml}\n`));
    expect(loadSettings(file, {}).backend.type).toBe(type);
  });
});
