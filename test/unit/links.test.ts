/**
 * Deep links and launch entries: which dashboard address wins, how pages are encoded, that an
 * announcement is used only while its process lives, that hints carry --config only when the
 * setup is not in the default place, and that `init` run from npx's cache prints an entry that
 * does not point into that cache.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchEntry, npxInstallRoot } from '../../src/cli/launch-entry.js';
import { createLinks, isDefaultConfigPath } from '../../src/server/links.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ass-links-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function links(config: { public_url?: string; approval_url?: string }, dataDir = tmp(), file = join(dataDir, 'config.yaml')) {
  return createLinks({
    dataDir,
    loaded: { file } as never,
    config: { dashboard: config.public_url ? { public_url: config.public_url } : undefined, server: { approval_url: config.approval_url } } as never,
  });
}

describe('links', () => {
  it('dashboard.public_url: request and secret pages, each path segment encoded', () => {
    const l = links({ public_url: 'https://x.example/dash/' });
    expect(l.approval('6f1c0000-aaaa')).toBe('https://x.example/dash/approvals/6f1c0000-aaaa');
    expect(l.secret('production/my team', 'KEY#1')).toBe('https://x.example/dash/secrets/production/my%20team/KEY%231');
  });

  it('server.approval_url (the older form) still works: ?approval_id=<id>', () => {
    const l = links({ approval_url: 'https://approve.example/go?x=1' });
    expect(l.approval('abc')).toBe('https://approve.example/go?x=1&approval_id=abc');
    expect(l.secret('a', 'b')).toBe('https://approve.example/go?x=1');
    expect(links({ approval_url: 'https://approve.example/go', public_url: 'https://d.example/dashboard' }).approval('abc')).toBe('https://d.example/dashboard/approvals/abc');
  });

  it('nothing configured: no link until a process announces the dashboard it serves; a dead process\'s announcement is ignored', () => {
    const dir = tmp();
    const other = links({}, dir);
    expect(other.approval('abc')).toBeNull();
    const server = links({}, dir);
    server.announce('http://127.0.0.1:8787/dashboard');
    expect(server.approval('abc')).toBe('http://127.0.0.1:8787/dashboard/approvals/abc');
    // Another process of the same setup (here: another Links over the same data_dir) follows it.
    expect(other.approval('abc')).toBe('http://127.0.0.1:8787/dashboard/approvals/abc');
    server.withdraw();
    expect(links({}, dir).approval('abc')).toBeNull();
    // An announcement left by a process that is gone.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, 'dashboard-url.json'), JSON.stringify({ url: 'http://127.0.0.1:9/dashboard', pid: Number(dead.stdout) }));
    expect(links({}, dir).approval('abc')).toBeNull();
  });

  it('hints carry --config (quoted for a shell) only outside the default place', () => {
    expect(isDefaultConfigPath(join(homedir(), '.agent-secret-store', 'config.yaml'))).toBe(true);
    expect(links({}, tmp(), join(homedir(), '.agent-secret-store', 'config.yaml')).command('approvals list')).toBe('agent-secret-store approvals list');
    expect(links({}, tmp(), '/srv/ass/config.yaml').command('approvals list')).toBe('agent-secret-store --config /srv/ass/config.yaml approvals list');
    expect(links({}, tmp(), "/srv/my setup/it's.yaml").command('approvals list')).toBe(`agent-secret-store --config '/srv/my setup/it'\\''s.yaml' approvals list`);
  });
});

describe('the mcpServers entry init prints', () => {
  it('from a stable install: this node and this file by absolute path', () => {
    const entry = launchEntry({ scriptPath: '/usr/lib/node_modules/@agentsecretstore/mcp/dist/cli/main.js', execPath: '/usr/bin/node', configPath: '/h/config.yaml', version: '0.1.0' });
    expect(entry).toEqual({ command: '/usr/bin/node', args: ['/usr/lib/node_modules/@agentsecretstore/mcp/dist/cli/main.js', '--config', '/h/config.yaml'], note: null });
  });

  it('from npx\'s cache with a tarball: npx -y file:<absolute tarball>, never the cache path', () => {
    const cache = tmp();
    const root = join(cache, '_npx', '0123abcd');
    const script = join(root, 'node_modules', '@agentsecretstore', 'mcp', 'dist', 'cli', 'main.js');
    mkdirSync(join(script, '..'), { recursive: true });
    writeFileSync(script, '');
    const tarball = join(cache, 'pkg.tgz');
    writeFileSync(tarball, '');
    writeFileSync(join(root, 'package.json'), JSON.stringify({ dependencies: { '@agentsecretstore/mcp': `file:${tarball}` } }));
    expect(npxInstallRoot(script)).toBe(root);
    const entry = launchEntry({ scriptPath: script, execPath: '/usr/bin/node', configPath: '/h/config.yaml', version: '0.1.0' });
    expect(entry.command).toBe('npx');
    expect(entry.args).toEqual(['-y', `file:${tarball}`, '--config', '/h/config.yaml']);
    expect(JSON.stringify(entry.args)).not.toContain('_npx');
    expect(entry.note).toContain('survives npx cache cleaning');
  });

  it('from npx\'s cache with a registry spec: the exact version through npx', () => {
    const root = join(tmp(), '_npx', 'ffff');
    const script = join(root, 'node_modules', '.bin', 'agent-secret-store');
    mkdirSync(join(script, '..'), { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ dependencies: { '@agentsecretstore/mcp': '^0.1.0' } }));
    const entry = launchEntry({ scriptPath: script, execPath: '/usr/bin/node', configPath: '/h/c.yaml', version: '0.1.0' });
    expect(entry.args).toEqual(['-y', '@agentsecretstore/mcp@0.1.0', '--config', '/h/c.yaml']);
  });
});
