/**
 * `agent-secret-store run` and `inject` as real processes: masked output, stdin, exit codes,
 * signals both ways, the approval exit code and --wait, the 0600 atomic file.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgent, admin, baseEnv, CLI, initHome, REPO_ROOT, removeHome, runCli, setConfig, type Home } from '../helpers/cli.js';
import { MASK_MARKER } from '../../src/use/mask.js';
import { createTestClock, type TestClock } from '../helpers/test-clock.js';
import { encodings, writePrinter } from './helpers.js';

const VALUE = `pg_${randomBytes(9).toString('base64')}+/= é`;
const CRITICAL = `crit_${randomBytes(12).toString('hex')}`;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let home: Home;
let clock: TestClock;
let printer: string;
let userKey: string;
let nobodyKey: string;
let readerKey: string;
let narrowKey: string;

function expectNoValue(text: string): void {
  for (const v of [VALUE, CRITICAL]) for (const e of encodings(v)) expect(text.includes(e), `an encoding leaked: ${text.slice(0, 300)}`).toBe(false);
}

const asAgent = (key: string, args: string[], input?: string, env: Record<string, string> = {}) => runCli(['--config', home.configPath, ...args], { env: { ...clock.env, ...env, ASS_AGENT_KEY: key }, input });
const asUser = (args: string[], input?: string) => asAgent(userKey, args, input);
const asReader = (args: string[]) => asAgent(readerKey, args);

/** Spawns `run` itself, to see signals and talk to it while it runs. */
function spawnRun(args: string[], key: string) {
  const child = spawn(process.execPath, [CLI, '--config', home.configPath, 'run', ...args], { cwd: REPO_ROOT, env: baseEnv({ ...clock.env, ASS_AGENT_KEY: key }), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  const waitFor = async (what: () => boolean) => {
    for (let i = 0; i < 600 && !what(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(what(), `waited in vain; stdout ${stdout}; stderr ${stderr}`).toBe(true);
  };
  return { child, exited, waitFor, out: () => stdout, err: () => stderr };
}

beforeAll(async () => {
  clock = createTestClock();
  home = { ...(await initHome()), env: clock.env };
  printer = await writePrinter(home.dir);
  for (const [key, value, tier] of [['PASS', VALUE, 'standard'], ['ROOT', CRITICAL, 'critical']] as const) {
    const r = await admin(home, ['secrets', 'set', 'prod/db', key, '--tier', tier], { input: value });
    expect(r.code, r.stderr).toBe(0);
  }
  userKey = await addAgent(home, 'user', ['secrets:use:prod/**']);
  nobodyKey = await addAgent(home, 'nobody', ['secrets:read:other/**']);
  readerKey = await addAgent(home, 'reader', ['secrets:read:prod/**']);
  narrowKey = await addAgent(home, 'narrow', ['secrets:use:prod/**'], ['--tool', 'get_secret']);
  // As an agent, run passes the same allow-list as run_with_secrets (H12-1). node with any
  // argument is an unsafe rule in real life (docs/use.md); here it lets the tests print.
  await setConfig(home.configPath, {
    use: {
      commands: {
        allow: [
          { executable: process.execPath, args: ['.*'], env: { S: 'prod/db/*' }, env_plain: { PLAIN: 'kept' } },
          { executable: path.join(home.dir, 'no-such-command') },
        ],
      },
    },
  });
});

afterAll(() => {
  clock?.remove();
  removeHome(home);
});

describe('run', () => {
  it('masks every encoding split at every offset on stdout and stderr, and exits with the command\'s code', async () => {
    const r = await asUser(['run', '--env', 'S=ass://prod/db/PASS', '--', process.execPath, printer, 'print', '7']);
    expect(r.code, r.stderr).toBe(7);
    expectNoValue(r.stdout + r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    // As an agent, stderr is masked with stdout as one stream, into stdout (H12-4): both copies are here.
    expect(r.stderr).not.toContain(MASK_MARKER);
    expect(lines.length).toBe(2 * encodings(VALUE).reduce((n, e) => n + e.length + 1, 0));
    expect(lines.every((l) => l === MASK_MARKER)).toBe(true);
  });

  it('passes stdin through (and masks what comes back), and never hands the child our own key', async () => {
    const r = await asUser(['run', '--env', 'S=ass://prod/db/PASS', '--', process.execPath, printer, 'stdin'], `hello ${VALUE} bye`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`hello ${MASK_MARKER} bye`);
    const env = await asUser(['run', '--', process.execPath, '-e', 'process.stdout.write(String(process.env.ASS_AGENT_KEY))']);
    expect(env.stdout).toBe('undefined');
  });

  it('reads NAME=ass://… lines from --env-file', async () => {
    const file = path.join(home.dir, 'use.env');
    await writeFile(file, '# comment\nS="ass://prod/db/PASS"\nPLAIN=kept\n');
    const r = await asUser(['run', '--env-file', file, '--', process.execPath, '-e', 'process.stdout.write(process.env.S + "|" + process.env.PLAIN)']);
    expect(r.stdout).toBe(`${MASK_MARKER}|kept`);
    // A plain value the rule's env_plain does not allow is refused before starting.
    await writeFile(file, 'S="ass://prod/db/PASS"\nPLAIN=changed\n');
    const refused = await asUser(['run', '--env-file', file, '--', process.execPath, '-e', 'process.stdout.write("started")']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
  });

  it('a command ended by a signal ends run by the same signal; a signal sent to run reaches the command', async () => {
    const self = spawnRun(['--env', 'S=ass://prod/db/PASS', '--', process.execPath, printer, 'signal'], userKey);
    expect(await self.exited).toEqual({ code: null, signal: 'SIGTERM' });
    const trap = spawnRun(['--', process.execPath, printer, 'trap'], userKey);
    await trap.waitFor(() => trap.out().includes('ready'));
    trap.child.kill('SIGTERM');
    expect(await trap.exited).toEqual({ code: 42, signal: null });
    expect(trap.out()).toContain('got SIGTERM');
  });

  it('refuses without use grant (exit 2, nothing started) and says 127 for a missing command', async () => {
    const refused = await runCli(['--config', home.configPath, 'run', '--env', 'S=ass://prod/db/PASS', '--', process.execPath, '-e', 'console.log("started")'], { env: { ASS_AGENT_KEY: nobodyKey } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('POLICY_DENIED');
    expect(refused.stdout).not.toContain('started');
    const missing = await asUser(['run', '--', path.join(home.dir, 'no-such-command')]);
    expect(missing.code).toBe(127);
  });

  it('a critical secret: exit 75 with the request and how to approve; --wait runs once a human approves', async () => {
    const first = await asUser(['run', '--env', 'S=ass://prod/db/ROOT', '--', process.execPath, '-e', 'console.log("ran")']);
    expect(first.code).toBe(75);
    expect(first.stdout).toBe('');
    expect(first.stderr).toMatch(/Human approval required\. Approval ID: [0-9a-f-]{36}/);
    expect(first.stderr).toContain('approvals approve');
    const waiting = spawnRun(['--wait', '--env', 'S=ass://prod/db/ROOT', '--', process.execPath, printer, 'print', '0'], userKey);
    await waiting.waitFor(() => waiting.err().includes('waiting for the decision'));
    const id = UUID.exec(waiting.err())![0];
    const approved = await admin(home, ['approvals', 'approve', id]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(await waiting.exited).toEqual({ code: 0, signal: null });
    expect(waiting.out()).toContain(MASK_MARKER);
    expectNoValue(waiting.out() + waiting.err());
    // Within the approved ttl (approvals.grant_ttl, 1h) run and inject work without asking again…
    const again = await asUser(['run', '--env', 'S=ass://prod/db/ROOT', '--', process.execPath, '-e', 'process.stdout.write(process.env.S)']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(MASK_MARKER);
    const template = path.join(home.dir, 'root.tpl');
    await writeFile(template, 'root={{ass://prod/db/ROOT}}');
    // …but an approval for use never lets inject (a read: the file is the value) render it…
    const injected = await asUser(['inject', '-i', template, '-o', path.join(home.dir, 'root.conf')]);
    expect(injected.code).toBe(2);
    expect(injected.stderr).toContain('POLICY_DENIED');
    // …and after it, run needs a human again.
    clock.advance(60 * 60 * 1000 + 1000);
    expect((await asUser(['run', '--env', 'S=ass://prod/db/ROOT', '--', process.execPath, '-e', '0'])).code).toBe(75);
  });

  it('as a human (ASS_ADMIN_KEY, no agent key) it runs too, audited as secrets.use', async () => {
    const r = await admin(home, ['run', '--env', 'S=ass://prod/db/ROOT', '--', process.execPath, '-e', 'process.stdout.write(process.env.S)']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(MASK_MARKER);
  });
});

describe('run and inject as an agent obey the allow-lists (H12-1, H12-2)', () => {
  it('a command outside use.commands.allow is refused with exit 2 and never starts', async () => {
    const r = await asUser(['run', '--env', 'X=ass://prod/db/PASS', '--', '/bin/sh', '-c', 'printenv X']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('POLICY_DENIED');
    expect(r.stdout).toBe('');
    expectNoValue(r.stdout + r.stderr);
    const relative = await asUser(['run', '--', 'node', '-e', 'console.log("started")']);
    expect(relative.code).toBe(2);
    expect(relative.stdout).toBe('');
  });

  it("an agent whose tools list lacks run_with_secrets cannot run", async () => {
    const r = await asAgent(narrowKey, ['run', '--', process.execPath, '-e', 'console.log("started")']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not in its tool allow-list');
    expect(r.stdout).toBe('');
  });

  it('inject as an agent needs a read grant: use alone prints nothing (exit 2)', async () => {
    const template = path.join(home.dir, 'steal.tpl');
    await writeFile(template, 'x={{ass://prod/db/PASS}}');
    const r = await asUser(['inject', '-i', template]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('POLICY_DENIED');
    expect(r.stdout).toBe('');
    expectNoValue(r.stdout + r.stderr);
  });

  it('a variable the rule does not list, or a denied name, or a secret not bound to the name is refused before starting', async () => {
    const started = path.join(home.dir, 'never-created');
    for (const env of ['PGUSER=ass://prod/db/PASS', 'NODE_OPTIONS=ass://prod/db/PASS', 'NODE_OPTIONS=--require=/nonexistent', 'LD_PRELOAD=x', 'S=ass://other/db/PASS']) {
      const r = await asUser(['run', '--env', env, '--', process.execPath, '-e', `require("fs").writeFileSync(${JSON.stringify(started)}, "x")`]);
      expect(r.code, `${env}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain('POLICY_DENIED');
    }
    await expect(stat(started)).rejects.toThrow();
  });

  it("the command never gets the caller's environment (PATH, GIT_*, NODE_*, HOME): only the tool's", async () => {
    const r = await asAgent(userKey, ['run', '--', process.execPath, '-e', 'process.stdout.write(JSON.stringify([process.env.PATH, process.env.GIT_SSH_COMMAND, process.env.HOME === process.env.CALLER_HOME]))'], undefined, { GIT_SSH_COMMAND: 'echo leak', CALLER_HOME: home.dir, HOME: home.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', null, false]);
  });

  it("HOME and the working directory are an empty private directory, removed afterwards (R-3: the agent's ~/.psqlrc, .git/config); --cwd only where the rule allows", async () => {
    const script = 'const fs = require("fs"); process.stdout.write(JSON.stringify({ home: process.env.HOME, xdg: process.env.XDG_CONFIG_HOME, cwdIsHome: fs.realpathSync(process.cwd()) === fs.realpathSync(process.env.HOME), entries: fs.readdirSync(process.cwd()) }))';
    const r = await asAgent(userKey, ['run', '--', process.execPath, '-e', script], undefined, { HOME: home.dir });
    expect(r.code, r.stderr).toBe(0);
    const where = JSON.parse(r.stdout) as { home: string; xdg: string; cwdIsHome: boolean; entries: string[] };
    expect(where.xdg).toBe(where.home);
    expect(where.cwdIsHome).toBe(true);
    expect(where.entries).toEqual([]);
    for (const other of [userInfo().homedir, home.dir, REPO_ROOT]) expect(where.home).not.toBe(other);
    expect(existsSync(where.home)).toBe(false);
    // A working directory the rule does not list is refused before anything starts.
    const refused = await asAgent(userKey, ['run', '--cwd', home.dir, '--', process.execPath, '-e', script]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('working directory');
    expect(refused.stdout).toBe('');
  });
});

describe('a read deny also denies use (H12-6)', () => {
  it('an agent with secrets:*:** and deny secrets:read:prod/** cannot run with a prod secret (exit 2)', async () => {
    const legacyKey = await addAgent(home, 'legacy', ['secrets:*:**'], ['--deny', 'secrets:read:prod/**']);
    const r = await asAgent(legacyKey, ['run', '--env', 'S=ass://prod/db/PASS', '--', process.execPath, '-e', 'process.stdout.write(String(process.env.S))']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('secrets:read:prod/**');
    expect(r.stdout).toBe('');
  });
});

describe('run needs use.commands as an agent (H12-1)', () => {
  it('without use.commands an agent with a use grant cannot run anything (exit 2, nothing starts)', async () => {
    const bare = await initHome();
    try {
      const r = await admin(bare, ['secrets', 'set', 'prod/db', 'PASS'], { input: VALUE });
      expect(r.code, r.stderr).toBe(0);
      const key = await addAgent(bare, 'user', ['secrets:use:prod/**']);
      const run = await runCli(['--config', bare.configPath, 'run', '--env', 'X=ass://prod/db/PASS', '--', '/bin/sh', '-c', 'printenv X'], { env: { ASS_AGENT_KEY: key } });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('use.commands');
      expect(run.stdout).toBe('');
      expectNoValue(run.stdout + run.stderr);
    } finally {
      removeHome(bare);
    }
  });
});

describe('inject', () => {
  it('renders placeholders into a 0600 file, atomically, or to stdout', async () => {
    const template = path.join(home.dir, 'app.conf.tpl');
    const out = path.join(home.dir, 'app.conf');
    await writeFile(template, 'password = {{ ass://prod/db/PASS }}\nother = {{ass://prod/db/PASS}}\n');
    const r = await asReader(['inject', '-i', template, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).toBe(`password = ${VALUE}\nother = ${VALUE}\n`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expectNoValue(r.stdout + r.stderr);
    const printed = await asReader(['inject', '-i', template]);
    expect(printed.stdout).toBe(`password = ${VALUE}\nother = ${VALUE}\n`);
  });

  it('every use is audited with how and outcome, never a value', async () => {
    const audit = await readFile(path.join(home.dir, 'audit.log'), 'utf8');
    expectNoValue(audit);
    const records = audit.trim().split('\n').map((l) => JSON.parse(l));
    expect(records.some((x) => x.actor === 'agent:user' && x.action === 'run' && x.outcome === 'error' && x.reason === `command ${process.execPath}: exit 7`)).toBe(true);
    expect(records.some((x) => x.actor === 'agent:reader' && x.action === 'inject' && x.outcome === 'ok' && x.reason === 'inject app.conf: written')).toBe(true);
    expect(records.some((x) => x.actor === 'admin:admin' && x.action === 'secrets.use' && x.key === 'ROOT' && x.outcome === 'ok')).toBe(true);
    expect(records.some((x) => x.actor === 'agent:nobody' && x.action === 'run' && x.outcome === 'denied')).toBe(true);
  });
});
