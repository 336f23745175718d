/**
 * `scripts/peers/install-vault.sh` takes a lock (flock) so that two test runs at once cannot
 * delete each other's build directory (issue 9). The test holds the lock with flock(1), runs
 * the installer against a temporary cache whose binary is already "installed" (a stand-in shell
 * script that only answers `version`, named as such: building Vault takes many minutes), and
 * checks that the installer says it waits and finishes only after the lock is released.
 * Before the fix it finished at once, never waiting.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil, REPO_ROOT } from '../helpers/cli.js';

const cache = mkdtempSync(path.join(tmpdir(), 'ass-vault-lock-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

describe('install-vault.sh lock', () => {
  it('a second install waits for the first instead of racing it', async () => {
    const bin = path.join(cache, 'vault', 'bin');
    mkdirSync(bin, { recursive: true });
    // Stand-in for a cached Vault binary: answers `version` as the installer expects.
    writeFileSync(path.join(bin, 'vault'), '#!/bin/sh\necho "Vault v1.14.2 (stand-in for the lock test)"\n');
    chmodSync(path.join(bin, 'vault'), 0o755);
    const holder = spawn('flock', [path.join(cache, 'vault', '.install.lock'), 'cat'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const events: string[] = [];
    let stderr = '';
    let exitCode: number | null = null;
    try {
      // The holder has the lock once flock(1) runs cat: wait for it with a non-blocking probe.
      expect(await pollUntil(async () => (await run('flock', ['-n', path.join(cache, 'vault', '.install.lock'), 'true'])) !== 0, 20_000, 50)).toBe(true);
      const installer = spawn('bash', [path.join(REPO_ROOT, 'scripts/peers/install-vault.sh')], { env: { ...process.env, ASS_PEERS_CACHE: cache }, stdio: ['ignore', 'ignore', 'pipe'] });
      installer.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => installer.on('close', (code) => { exitCode = code; events.push('installer exited'); resolve(); }));
      expect(await pollUntil(async () => /another install is running/.test(stderr), 20_000, 50)).toBe(true);
      expect(events).toEqual([]);
      events.push('lock released');
      holder.stdin.end();
      await exited;
    } finally {
      holder.kill();
    }
    expect(events).toEqual(['lock released', 'installer exited']);
    expect(exitCode).toBe(0);
    expect(stderr).toMatch(/already installed: Vault v1\.14\.2/);
  });
});

function run(command: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => spawn(command, args, { stdio: 'ignore' }).on('close', resolve));
}
