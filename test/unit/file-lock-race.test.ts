/**
 * The stale-lock takeover race, across real processes: two waiters find a dead process's lock;
 * B is descheduled between judging it stale and acting; A takes it over and is inside when B
 * acts. B must not remove A's fresh lock (both inside at once, one write lost); it waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function start(name: string, dir: string, delayMs: number, stallMs: number, holdMs: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lock-race-worker.ts', name, dir, String(delayMs), String(stallMs), String(holdMs)], { stdio: 'inherit' });
}

function worker(name: string, dir: string, delayMs: number, stallMs: number, holdMs: number): Promise<number | null> {
  const child = start(name, dir, delayMs, stallMs, holdMs);
  return new Promise((resolve) => child.on('exit', resolve));
}

const events = (dir: string): { t: number; name: string; event: string }[] =>
  existsSync(join(dir, 'events.log')) ? readFileSync(join(dir, 'events.log'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)) : [];

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
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
    // B stalls 1 s after its look; A arrives 50 ms after B and holds 1.5 s (wide margins for a
    // loaded machine: A must take the stale lock over during B's stall).
    const exits = Promise.all([worker('B', dir, 0, 1_000, 0), worker('A', dir, 50, 0, 1_500)]);
    await until(() => events(dir).filter((e) => e.event === 'ready').length === 2);
    writeFileSync(join(dir, 'go'), String(Date.now() + 100));
    const codes = await exits;
    expect(codes).toEqual([0, 0]);
    const seen = events(dir);
    const byName = (name: string, event: string) => seen.find((e) => e.name === name && e.event === event)!;
    expect(seen.filter((e) => e.event === 'resolved').map((e) => e.name).sort()).toEqual(['A', 'B']);
    // A was inside while B acted on its stale look; B entered only after A left.
    expect(byName('A', 'enter').t).toBeLessThan(byName('B', 'enter').t);
    expect(byName('B', 'enter').t).toBeGreaterThanOrEqual(byName('A', 'exit').t);
    expect(JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'))).toEqual(['A', 'B']);
  });

  it('a holder stopped by SIGTERM (exiting through process.exit) leaves no lock for others to wait out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-lock-exit-'));
    writeFileSync(join(dir, 'data.json'), '[]');
    const child = start('holder', dir, 0, 0, -1);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until(() => events(dir).some((e) => e.event === 'ready'));
    writeFileSync(join(dir, 'go'), String(Date.now()));
    await until(() => events(dir).some((e) => e.event === 'enter'));
    expect(existsSync(join(dir, 'secret.lock'))).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(dir, 'secret.lock'))).toBe(false);
  });
});

