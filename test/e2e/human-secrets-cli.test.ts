/**
 * The human secret commands at a real terminal (a pseudo-terminal driven by Python's pty):
 * `secrets set` asks for the value twice without echo (never an argument, never shell history),
 * `secrets get` prints the value and is audited as a human read, `secrets list` shows metadata
 * only. And the REST/CLI/dashboard share one implementation: the audit records say where.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { admin, adminJson, baseEnv, CLI, initHome, REPO_ROOT, removeHome, type Home } from '../helpers/cli.js';

const homes: Home[] = [];
afterAll(() => homes.forEach(removeHome));

function atTerminal(home: Home, args: string[], steps: { expect: string; send: string }[], env: Record<string, string> = {}): { output: string; code: number } {
  const spec = { argv: [process.execPath, CLI, '--config', home.configPath, ...args], env: baseEnv(env), steps, timeout: 60 };
  const out = execFileSync('python3', [path.join(REPO_ROOT, 'test/helpers/pty_driver.py'), JSON.stringify(spec)], { encoding: 'utf8', timeout: 90_000 });
  return JSON.parse(out) as { output: string; code: number };
}

const audit = (home: Home) => readFileSync(path.join(home.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('secrets set / get / list for a human', () => {
  it('set at a terminal prompts for the admin key and the value twice, echoing neither; get prints it and is audited; list shows no value', async () => {
    const home = await initHome();
    homes.push(home);
    const value = `tty-value-${process.pid}`;
    const set = atTerminal(home, ['secrets', 'set', 'production/tty', 'TTY_KEY', '--tier', 'critical'], [
      { expect: 'Admin key: ', send: `${home.adminKey}\r` },
      { expect: 'Value for production/tty/TTY_KEY: ', send: `${value}\r` },
      { expect: '(again): ', send: `${value}\r` },
    ]);
    expect(set.code, set.output).toBe(0);
    expect(set.output).toMatch(/Stored production\/tty\/TTY_KEY: version 1, critical/);
    expect(set.output).not.toContain(value);
    expect(set.output).not.toContain(home.adminKey);

    const got = await admin(home, ['secrets', 'get', 'production/tty', 'TTY_KEY']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe(`${value}\n`);
    const reveal = audit(home).filter((r) => r.action === 'secrets.reveal');
    expect(reveal).toHaveLength(1);
    expect(reveal[0]).toMatchObject({ actor: 'admin:admin', namespace: 'production/tty', key: 'TTY_KEY', outcome: 'allowed', reason: 'human read (cli)' });
    expect(readFileSync(path.join(home.dir, 'audit.log'), 'utf8')).not.toContain(value);

    const list = await adminJson<{ items: Record<string, unknown>[]; namespaces: string[] }>(home, ['secrets', 'list']);
    expect(list.namespaces).toContain('production/tty');
    expect(list.items).toEqual([expect.objectContaining({ namespace: 'production/tty', key: 'TTY_KEY', version: 1, access_tier: 'critical' })]);
    expect(JSON.stringify(list)).not.toContain(value);
    const text = await admin(home, ['secrets', 'list', 'production/tty']);
    expect(text.stdout).toMatch(/^production\/tty\/TTY_KEY {2}v1 {2}critical/);
  });

  it('two different entries store nothing', async () => {
    const home = await initHome();
    homes.push(home);
    const run = atTerminal(home, ['secrets', 'set', 'ns', 'K'], [
      { expect: 'Value for ns/K: ', send: 'one\r' },
      { expect: '(again): ', send: 'two\r' },
    ], { ASS_ADMIN_KEY: home.adminKey });
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/The two entries differ; nothing was stored/);
    expect((await adminJson<{ items: unknown[] }>(home, ['secrets', 'list'])).items).toEqual([]);
  });

  it('get of a missing secret fails and the attempt is audited; an agent key cannot get', async () => {
    const home = await initHome();
    homes.push(home);
    const missing = await admin(home, ['secrets', 'get', 'ns', 'NOPE']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/No secret 'NOPE' in 'ns'/);
    expect(audit(home).filter((r) => r.action === 'secrets.reveal').map((r) => r.outcome)).toEqual(['allowed', 'error']);
    const asAgent = await admin(home, ['secrets', 'get', 'ns', 'NOPE'], { key: home.agentKey });
    expect(asAgent.code).not.toBe(0);
    expect(asAgent.stderr).toMatch(/That is an agent key/);
  });
});
