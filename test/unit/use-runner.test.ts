/**
 * runMasked with merge: a value printed half on stdout and half on stderr is one text to the
 * masker (H12-4). Real child processes.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MASK_MARKER } from '../../src/use/mask.js';
import { runMasked } from '../../src/use/runner.js';

const VALUE = `sk_${randomBytes(12).toString('hex')}`;
const SPLIT = `const { writeSync } = require('node:fs'); const v = process.env.S; for (let i = 1; i < v.length; i++) { writeSync(1, v.slice(0, i)); writeSync(2, v.slice(i) + '\\n'); }`;

describe('runMasked merge (H12-4)', () => {
  it('a value split across stdout and stderr at every offset comes back as markers only', async () => {
    const r = await runMasked({ executable: process.execPath, args: ['-e', SPLIT], env: { S: VALUE }, values: [VALUE], stdin: 'ignore', merge: true, group: true, timeoutMs: 60_000 });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(VALUE.length - 1);
    expect(lines.filter((l) => l !== MASK_MARKER)).toEqual([]);
  });

  it('without merge the two halves are separate texts (why the tool merges)', async () => {
    const r = await runMasked({ executable: process.execPath, args: ['-e', SPLIT], env: { S: VALUE }, values: [VALUE], stdin: 'ignore', timeoutMs: 60_000 });
    expect(r.stdout + r.stderr).not.toContain(MASK_MARKER);
  });

  it('a command that cannot start rejects with its code', async () => {
    await expect(runMasked({ executable: '/nonexistent/cmd', args: [], env: {}, values: [VALUE], stdin: 'ignore', merge: true })).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
