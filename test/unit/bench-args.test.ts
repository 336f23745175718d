/**
 * `npm run bench` refuses what it does not understand before it starts anything: a mistyped
 * flag used to be ignored and start the whole run (tens of minutes, and the container section's
 * Docker engine). Real processes; nothing is measured.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseEnv, REPO_ROOT } from '../helpers/cli.js';

function bench(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'run.ts'), ...args], { cwd: REPO_ROOT, env: baseEnv(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bench arguments', () => {
  it('--help prints the usage with every section and exits 0 without measuring', () => {
    const r = bench('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: npm run bench/);
    for (const section of ['core', 'remote', 'external', 'container']) expect(r.stdout).toContain(section);
    expect(r.stdout).not.toContain('Machine:');
  });

  it('an unknown flag or section is refused with exit 2, naming it, before anything runs', () => {
    const flag = bench('--jsno');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('unknown argument --jsno');
    expect(flag.stdout + flag.stderr).not.toContain('Machine:');
    const section = bench('--only', 'cor');
    expect(section.code).toBe(2);
    expect(section.stderr).toContain('(unknown: cor)');
  });
});
