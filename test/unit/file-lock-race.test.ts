/**
 * The stale-lock takeover race, across real processes: two waiters find a dead process's lock;
 * B is descheduled between judging it stale and acting; A takes it over and is inside when B
 * acts. B must not remove A's fresh lock (both inside at once, one write lost); it waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withFileLock, withSyncFileLock } from '../../src/shared/durable-file.js';

type Hold = 'release' | 'sigterm' | '0';

function start(name: string, dir: string, stall: boolean, hold: Hold): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lock-race-worker.ts', name, dir, stall ? '1' : '0', hold], { stdio: 'inherit' });
}

function worker(name: string, dir: string, stall: boolean, hold: Hold): Promise<number | null> {
  const child = start(name, dir, stall, hold);
  return new Promise((resolve) => child.on('exit', resolve));
}

// Only whole lines: a worker's append may be seen half done (the file created, the line not yet
// written), and a line without its newline is not an event yet.
const events = (dir: string): { name: string; event: string }[] => {
  if (!existsSync(join(dir, 'events.log'))) return [];
  const lines = readFileSync(join(dir, 'events.log'), 'utf8').split('\n');
  return lines.slice(0, -1).map((line) => JSON.parse(line));
};

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 2400 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(check()).toBe(true);
}

describe('stale lock takeover across processes', () => {
  it('a waiter that judged the lock stale before another took it over does not remove the new holder\'s lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-lock-race-'));
    writeFileSync(join(dir, 'data.json'), '[]');
    // Left by a crashed holder a minute ago.
    writeFileSync(join(dir, 'secret.lock'), 'dead');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'secret.lock'), old, old);
    // Driven by events, not by time: B looks at the dead lock and is descheduled; only then A
    // starts, takes the stale lock over and is inside; only then B resumes and acts on its
    // stale look; only once it has, A leaves.
    const exits = Promise.all([worker('B', dir, true, '0'), worker('A', dir, false, 'release')]);
    const has = (name: string, event: string) => events(dir).some((e) => e.name === name && e.event === event);
    await until(() => has('A', 'ready') && has('B', 'ready'));
    writeFileSync(join(dir, 'go-B'), '');
    await until(() => has('B', 'stalled'));
    writeFileSync(join(dir, 'go-A'), '');
    await until(() => has('A', 'enter'));
    writeFileSync(join(dir, 'resume-B'), '');
    await until(() => has('B', 'acted'));
    writeFileSync(join(dir, 'release-A'), '');
    const codes = await exits;
    expect(codes).toEqual([0, 0]);
    const seen = events(dir);
    expect(seen.filter((e) => e.event === 'resolved').map((e) => e.name).sort()).toEqual(['A', 'B']);
    // A was inside while B acted on its stale look; B entered only after A left.
    const order = seen.map((e) => `${e.name}:${e.event}`);
    const at = (name: string, event: string) => order.indexOf(`${name}:${event}`);
    expect(at('B', 'stalled')).toBeLessThan(at('A', 'enter'));
    expect(at('A', 'enter')).toBeLessThan(at('B', 'resumed'));
    expect(at('B', 'acted')).toBeLessThan(at('A', 'exit'));
    expect(at('B', 'enter')).toBeGreaterThan(at('A', 'exit'));
    expect(JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'))).toEqual(['A', 'B']);
  });

  it('a holder stopped by SIGTERM (exiting through process.exit) leaves no lock for others to wait out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-lock-exit-'));
    writeFileSync(join(dir, 'data.json'), '[]');
    const child = start('holder', dir, false, 'sigterm');
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until(() => events(dir).some((e) => e.event === 'ready'));
    writeFileSync(join(dir, 'go-holder'), '');
    await until(() => events(dir).some((e) => e.event === 'enter'));
    expect(existsSync(join(dir, 'secret.lock'))).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(dir, 'secret.lock'))).toBe(false);
  });

  // The stale limit here is ten minutes and the waits below are far shorter: only the holder
  // check (a dead pid of this host and pid namespace) can let them through.
  const NO_STALE = { staleMs: 600_000 };

  it('a holder killed by SIGKILL inside the lock: the next process takes it over at once, not after the stale limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-lock-kill-'));
    writeFileSync(join(dir, 'data.json'), '[]');
    const child = start('holder', dir, false, 'sigterm');
    const exited = new Promise<unknown>((resolve) => child.on('exit', resolve));
    await until(() => events(dir).some((e) => e.event === 'ready'));
    writeFileSync(join(dir, 'go-holder'), '');
    await until(() => events(dir).some((e) => e.event === 'enter'));
    expect(readFileSync(join(dir, 'secret.lock'), 'utf8')).toMatch(new RegExp(`^holder:${hostname()}:\\d+:${child.pid}:`));
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(dir, 'secret.lock'))).toBe(true);
    await expect(withFileLock(join(dir, 'secret'), async () => 'taken over', { ...NO_STALE, timeoutMs: 20_000 })).resolves.toBe('taken over');
  });

  it('a lock naming a dead pid is taken over only when it names this host and this pid namespace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-lock-holder-'));
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.on('exit', resolve));
    const namespace = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))![1]!;
    const lockOf = (host: string, ns: string, pid: number) => `holder:${host}:${ns}:${pid}:0123abcd`;
    const target = join(dir, 'audit.log');
    const refused = [
      lockOf(hostname(), String(Number(namespace) + 1), gone.pid!), // another container's pids
      lockOf(`${hostname()}x`, namespace, gone.pid!), // another host
      lockOf(hostname(), namespace, process.pid), // a live holder (this very process)
      lockOf(hostname(), namespace, process.ppid),
      `holder:${hostname()}:${gone.pid}:0123abcd`, // the older format, without the namespace
    ];
    for (const content of refused) {
      writeFileSync(`${target}.lock`, content);
      await expect(withSyncFileLock(target, () => 'took', { ...NO_STALE, timeoutMs: 300 }), content).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      expect(readFileSync(`${target}.lock`, 'utf8')).toBe(content);
    }
    writeFileSync(`${target}.lock`, lockOf(hostname(), namespace, gone.pid!));
    await expect(withSyncFileLock(target, () => 'took', { ...NO_STALE, timeoutMs: 20_000 })).resolves.toBe('took');
    expect(existsSync(`${target}.lock`)).toBe(false);
  });
});
