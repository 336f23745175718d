/**
 * The command line where a new user first trips: init with --config / ASS_CONFIG, init with a
 * passphrase variable that is not set, audit verify before any request, a log whose last line a
 * crash cut short, and serve --http on a port already in use. Each gets a clear message and
 * leaves nothing half-made.
 */
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { admin, initHome, removeHome, runCli, runServerUntilExit, setConfig, type Home } from '../helpers/cli.js';

const dirs: string[] = [];
const homes: Home[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ass-cli-edges-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  homes.forEach(removeHome);
});

describe('init', () => {
  it('writes the config --config names (and its store beside it); ASS_CONFIG likewise', async () => {
    const dir = tempDir();
    const viaFlag = await runCli(['--config', path.join(dir, 'a', 'custom.yaml'), 'init', '--json']);
    expect(viaFlag.code, viaFlag.stderr).toBe(0);
    expect(JSON.parse(viaFlag.stdout).config_path).toBe(path.join(dir, 'a', 'custom.yaml'));
    expect(readdirSync(path.join(dir, 'a')).sort()).toEqual(['custom.yaml', 'secrets', 'store.key']);
    const viaEnv = await runCli(['init', '--json'], { env: { ASS_CONFIG: path.join(dir, 'b', 'config.yaml') } });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(existsSync(path.join(dir, 'b', 'config.yaml'))).toBe(true);
    // The new config works as written.
    const listed = await runCli(['--config', path.join(dir, 'a', 'custom.yaml'), 'agents', 'list', '--json'], { env: { ASS_ADMIN_KEY: JSON.parse(viaFlag.stdout).admin_key } });
    expect(listed.code, listed.stderr).toBe(0);
    // An ASS_CONFIG left in the environment does not override an explicit --dir.
    const dirWins = await runCli(['init', '--dir', path.join(dir, 'e'), '--json'], { env: { ASS_CONFIG: path.join(dir, 'elsewhere', 'config.yaml') } });
    expect(dirWins.code, dirWins.stderr).toBe(0);
    expect(JSON.parse(dirWins.stdout).config_path).toBe(path.join(dir, 'e', 'config.yaml'));
    // --dir elsewhere than the config is a contradiction, refused before anything is written.
    const both = await runCli(['--config', path.join(dir, 'c', 'config.yaml'), 'init', '--dir', path.join(dir, 'd')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/is not in --dir/);
    expect(existsSync(path.join(dir, 'c'))).toBe(false);
    expect(existsSync(path.join(dir, 'd'))).toBe(false);
  });

  it('with --passphrase-env naming an unset variable: exit 2, nothing created, and the retry works', async () => {
    const dir = path.join(tempDir(), 'home');
    const first = await runCli(['init', '--dir', dir, '--passphrase-env', 'ASS_TEST_PASSPHRASE']);
    expect(first.code).toBe(2);
    expect(first.stderr).toMatch(/ASS_TEST_PASSPHRASE, which is not set or empty.*nothing was created/);
    expect(existsSync(dir)).toBe(false);
    const retry = await runCli(['init', '--dir', dir, '--passphrase-env', 'ASS_TEST_PASSPHRASE', '--json'], { env: { ASS_TEST_PASSPHRASE: 'correct horse battery staple' } });
    expect(retry.code, retry.stderr).toBe(0);
  });

  it('the mcpServers entry it prints carries the variable a passphrase store needs (the server cannot open without it)', async () => {
    const entryEnv = (stdout: string): Record<string, string> => {
      const printed = stdout.slice(stdout.indexOf('{'), stdout.lastIndexOf('}') + 1);
      return (JSON.parse(printed) as Record<string, { env: Record<string, string> }>)['agent-secret-store']!.env;
    };
    const withPassphrase = await runCli(['init', '--dir', path.join(tempDir(), 'home'), '--passphrase-env', 'ASS_TEST_PASSPHRASE'], { env: { ASS_TEST_PASSPHRASE: 'correct horse battery staple' } });
    expect(withPassphrase.code, withPassphrase.stderr).toBe(0);
    expect(entryEnv(withPassphrase.stdout)).toEqual({ ASS_AGENT_KEY: '<agent key>', ASS_TEST_PASSPHRASE: '<value of ASS_TEST_PASSPHRASE>' });
    expect(withPassphrase.stdout).not.toContain('correct horse battery staple');
    const withKeyFile = await runCli(['init', '--dir', path.join(tempDir(), 'home')]);
    expect(entryEnv(withKeyFile.stdout)).toEqual({ ASS_AGENT_KEY: '<agent key>' });
  });
});

describe('agents add', () => {
  it('without --grant: the agent is added, and stderr says it can do nothing yet (stdout stays JSON)', async () => {
    const home = await initHome();
    homes.push(home);
    const added = await admin(home, ['agents', 'add', 'idle-bot', '--json']);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ agent_id: 'idle-bot' });
    expect(added.stderr).toMatch(/'idle-bot' has no grants, so it can do nothing yet/);
    const granted = await admin(home, ['agents', 'add', 'busy-bot', '--grant', 'secrets:read:staging/**']);
    expect(granted.stderr).toBe('');
  });
});

describe('audit verify', () => {
  it('before the first request: OK with 0 records, not an error', async () => {
    const home = await initHome();
    homes.push(home);
    const verified = await admin(home, ['audit', 'verify']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^OK: 0 records, chain intact\. Head: \(empty\)/);
  });

  it('a last line cut short by a crash is named as such, and the next record keeps it aside (nothing to remove by hand)', async () => {
    const home = await initHome();
    homes.push(home);
    // One record, then half of a second.
    expect((await admin(home, ['agents', 'list'])).code).toBe(0);
    const auditPath = path.join(path.dirname(home.configPath), 'audit.log');
    await admin(home, ['admins', 'add', 'second']);
    appendFileSync(auditPath, '{"seq":9,"ts":"2026');
    const verified = await admin(home, ['audit', 'verify']);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/the last line is incomplete \(a write was cut short by a full disk or a crash\)\. The next record written keeps it aside in audit\.log\.torn/);
    expect((await admin(home, ['admins', 'add', 'third'])).code).toBe(0);
    const repaired = await admin(home, ['audit', 'verify']);
    expect(repaired.code, repaired.stdout).toBe(0);
    expect(repaired.stdout).toMatch(/Torn last lines kept aside .*19 bytes at offset \d+ .* in audit\.log\.torn/);
  });
});

describe('serve --http', () => {
  it('on a port already in use: exit 2 and a message that says what to change', async () => {
    const home = await initHome();
    homes.push(home);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = await runCli(['--config', home.configPath, 'serve', '--http', '--port', String(port)], { env: home.env, timeoutMs: 20_000 });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} is already in use\\. Pick another --port`));
      expect(result.stderr).not.toMatch(/unexpected error/);
      // The dashboard command reads no http.port: its message names only what it reads.
      const dashboard = await runCli(['--config', home.configPath, 'dashboard', '--port', String(port)], { env: home.env, timeoutMs: 20_000 });
      expect(dashboard.code).toBe(2);
      expect(dashboard.stderr).toContain(`127.0.0.1:${port} is already in use. Pick another --port, or stop what is listening there.`);
    } finally {
      taken.close();
    }
  });
});

describe('a passphrase or key file that does not unlock the store', () => {
  // The operator's input to fix, so exit 2 ("fix your input", README), with a message saying which
  // variable or file; the check's code stays INTEGRITY_ERROR. The wrong value is never echoed.
  it('a wrong passphrase: exit 2 from a human command and from serve, naming the variable, never the value', async () => {
    const dir = path.join(tempDir(), 'home');
    const made = await runCli(['init', '--dir', dir, '--passphrase-env', 'ASS_TEST_PASSPHRASE', '--json'], { env: { ASS_TEST_PASSPHRASE: 'correct horse battery staple' } });
    expect(made.code, made.stderr).toBe(0);
    const { config_path: configPath, admin_key: adminKey, agent_key: agentKey } = JSON.parse(made.stdout);
    const right = { ASS_TEST_PASSPHRASE: 'correct horse battery staple', ASS_ADMIN_KEY: adminKey };
    const set = await runCli(['--config', configPath, 'secrets', 'set', 'ops', 'TOKEN'], { env: right, input: 'the-value' });
    expect(set.code, set.stderr).toBe(0);
    const wrong = { ASS_TEST_PASSPHRASE: 'Tr0ub4dor&3-wrong', ASS_ADMIN_KEY: adminKey };
    const listed = await runCli(['--config', configPath, 'secrets', 'list', 'ops'], { env: wrong });
    expect(listed.code, listed.stderr).toBe(2);
    expect(listed.stderr).toMatch(/^agent-secret-store: Wrong passphrase: the passphrase in \$ASS_TEST_PASSPHRASE does not unlock this store .*Set the passphrase the store was created with\. \[INTEGRITY_ERROR\]\n$/);
    const served = await runServerUntilExit(configPath, { ASS_TEST_PASSPHRASE: 'Tr0ub4dor&3-wrong', ASS_AGENT_KEY: agentKey });
    expect(served.code, served.stderr).toBe(2);
    expect(served.stderr).toMatch(/Wrong passphrase: the passphrase in \$ASS_TEST_PASSPHRASE does not unlock this store/);
    expect(served.stdout).toBe('');
    for (const output of [listed.stderr, served.stderr]) {
      expect(output).not.toContain('Tr0ub4dor');
      expect(output).not.toContain('correct horse');
    }
    // Nothing was changed by the refused attempts: the right passphrase still reads the secret.
    const read = await runCli(['--config', configPath, 'secrets', 'get', 'ops', 'TOKEN'], { env: right });
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toContain('the-value');
  });

  it('another key file: exit 2, naming the key file', async () => {
    const home = await initHome();
    homes.push(home);
    const other = await initHome();
    homes.push(other);
    expect((await admin(home, ['secrets', 'set', 'ops', 'TOKEN'], { input: 'v' })).code).toBe(0);
    await setConfig(home.configPath, { 'backend.key_file': path.join(other.dir, 'store.key') });
    const listed = await admin(home, ['secrets', 'list', 'ops']);
    expect(listed.code, listed.stderr).toBe(2);
    expect(listed.stderr).toMatch(/The key in the key file .*store\.key is not the key this store was written with.*\[INTEGRITY_ERROR\]/);
  });
});
