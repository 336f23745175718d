/**
 * "Errors a user meets" (issue 9): an unknown command says so, suggests the nearest and exits 2
 * (it was taken as an argument to `serve`); `doctor` checks a setup and says what to fix;
 * config errors list what is valid and suggest the key meant. Real CLI processes.
 */
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, initHome, removeHome, runCli, setConfig, type Home } from '../helpers/cli.js';

let home: Home;

beforeAll(async () => {
  home = await initHome();
});

afterAll(() => removeHome(home));

describe('unknown commands', () => {
  it.each([
    [['doctr'], /unknown command 'doctr'\. Did you mean 'doctor'\?/],
    [['aprovals', 'list'], /unknown command 'aprovals'\. Did you mean 'approvals'\?/],
    [['--port', '0', 'frobnicate'], /unknown command 'frobnicate'\. Commands: serve, /],
  ])('%j exits 2 and names the command', async (args, expected) => {
    const result = await runCli(['--config', home.configPath, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(expected);
    expect(result.stderr).not.toMatch(/serve'|ASS_AGENT_KEY/);
  });

  it.each([
    [['approvals', 'lst'], /unknown command 'lst'\n\(Did you mean list\?\)/],
    [['secrets', 'list', '--jsn'], /unknown option '--jsn'\n\(Did you mean --json\?\)/],
    [['secrets', 'get', 'ops/x'], /missing required argument 'key'/],
    [['approvals'], /Usage: agent-secret-store approvals/],
  ])('the usage slip %j exits 2 ("fix your input"), not 1', async (args, expected) => {
    const result = await runCli(['--config', home.configPath, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(expected);
  });

  it('--help and --version still exit 0', async () => {
    for (const args of [['--help'], ['approvals', '--help'], ['--version']]) {
      const result = await runCli(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stdout).not.toBe('');
    }
  });

  it('serve --port or --host without --http is refused, naming --http (it used to start a stdio server)', async () => {
    for (const args of [['serve', '--port', '8787'], ['--port', '8787'], ['serve', '--host', '127.0.0.1']]) {
      const result = await runCli(['--config', home.configPath, ...args], { env: { ASS_AGENT_KEY: home.agentKey } });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/applies only with --http; without it the server speaks MCP over stdio\. Run `agent-secret-store serve --http --(port 8787|host 127\.0\.0\.1)`/);
      expect(result.stdout).toBe('');
    }
  });

  it('--config naming the setup folder instead of its file says which file to pass', async () => {
    const result = await runCli(['--config', home.dir, 'approvals', 'list']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`this is a folder, not a config file: pass the file in it, e.g. --config ${path.join(home.dir, 'config.yaml')}`);
  });

  it('an option value is not taken for a command', async () => {
    const result = await runCli(['--config', home.configPath, 'audit', 'verify']);
    expect(result.code, result.stderr).toBe(0);
  });
});

describe('doctor', () => {
  it('passes on a fresh setup, then names each problem with its fix and exits 1', async () => {
    const good = await runCli(['--config', home.configPath, 'doctor']);
    expect(good.code, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toMatch(/ok {4}backend: file: File store writable; key verified/);
    expect(good.stdout).toMatch(/All checks passed/);

    const keyFile = path.join(home.dir, 'store.key');
    const auditLog = path.join(home.dir, 'audit.log');
    expect((await admin(home, ['secrets', 'set', 'ops/x', 'K'], { input: 'doctor-canary-value' })).code).toBe(0);
    await chmod(keyFile, 0o644);
    const text = await readFile(auditLog, 'utf8');
    const [first, ...rest] = text.split('\n');
    await writeFile(auditLog, [first!.replace(/"ts":"[^"]+"/, '"ts":"2020-01-01T00:00:00.000Z"'), ...rest].join('\n'));
    try {
      const bad = await runCli(['--config', home.configPath, 'doctor', '--json']);
      expect(bad.code).toBe(1);
      const report = JSON.parse(bad.stdout) as { ok: boolean; checks: { check: string; ok: boolean; fix?: string }[] };
      expect(report.ok).toBe(false);
      const failed = Object.fromEntries(report.checks.filter((c) => !c.ok).map((c) => [c.check, c.fix]));
      expect(failed['store key file']).toBe(`chmod 600 ${keyFile}`);
      expect(failed.backend).toBeDefined();
      expect(failed['audit chain']).toMatch(/audit verify/);
      expect(bad.stdout + bad.stderr).not.toContain('doctor-canary-value');
    } finally {
      await chmod(keyFile, 0o600);
      await writeFile(auditLog, text);
    }
  });

  it('a broken config is reported as such, and nothing else is checked', async () => {
    const broken = await initHome();
    try {
      await setConfig(broken.configPath, { 'approvals.grant_tll': '1h', 'policy.tiers.critical': 'approve' });
      const result = await runCli(['--config', broken.configPath, 'doctor']);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/FAIL {2}config: /);
      expect(result.stdout).toMatch(/unknown key 'grant_tll' \(did you mean 'grant_ttl'\?\)/);
      expect(result.stdout).not.toMatch(/backend:/);
    } finally {
      removeHome(broken);
    }
  });
});

describe('config errors list what is valid', () => {
  it('names the valid values of a tier rule and the key meant', async () => {
    const broken = await initHome();
    try {
      await setConfig(broken.configPath, { 'approvals.grant_tll': '1h', 'policy.tiers.critical': 'approve', 'backend.key_fiel': 'x' });
      const result = await runCli(['--config', broken.configPath, 'approvals', 'list'], { env: { ASS_ADMIN_KEY: broken.adminKey } });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/policy\.tiers\.critical \(line \d+\): must be auto \| approval \| deny, or a mapping \(did you mean 'approval'\?\)/);
      expect(result.stderr).toMatch(/approvals \(line \d+\): unknown key 'grant_tll' \(did you mean 'grant_ttl'\?\)\. Valid keys here: pending_ttl, grant_ttl/);
      // The backend block lists the keys of its own type only.
      expect(result.stderr).toMatch(/backend \(line \d+\): unknown key 'key_fiel' \(did you mean 'key_file'\?\)\. Valid keys here: type, path, key_file, passphrase_env, max_versions\n/);
    } finally {
      removeHome(broken);
    }
  });
});

describe('agents add flags', () => {
  it('a bad --grant is reported against the flag, not a temporary config copy, and nothing changes', async () => {
    const before = await readFile(home.configPath, 'utf8');
    const result = await admin(home, ['agents', 'add', 'typo-bot', '--grant', 'secrets:raed:production/*', '--grant', 'secrets:read:staging/**']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--grant 'secrets:raed:production\/\*': Invalid scope .*unknown action "raed"/);
    expect(result.stderr).not.toMatch(/candidate|line \d+/);
    expect(await readFile(home.configPath, 'utf8')).toBe(before);
  });
});

describe('audit verify and the audit key', () => {
  it('checks with a copy of the key kept elsewhere, and fails (never passes) without one', async () => {
    const own = await initHome();
    try {
      expect((await admin(own, ['secrets', 'set', 'ops/x', 'K'], { input: 'v' })).code).toBe(0);
      const keyPath = path.join(own.dir, 'audit.key');
      const copy = path.join(path.dirname(own.dir), 'audit.key.copy');
      await writeFile(copy, await readFile(keyPath));
      await rm(keyPath);
      const without = await admin(own, ['audit', 'verify']);
      expect(without.code).toBe(1);
      expect(without.stdout).toMatch(/no audit key to check them with/);
      const withCopy = await admin(own, ['audit', 'verify', '--key-file', copy]);
      expect(withCopy.code, withCopy.stdout + withCopy.stderr).toBe(0);
      expect(withCopy.stdout).toMatch(/^OK: \d+ records, chain intact/);
    } finally {
      removeHome(own);
    }
  });
});
