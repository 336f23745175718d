/**
 * The validator the bundle gives the MCP SDK in place of its own (src/server/lazy-ajv-validator.ts,
 * substituted by scripts/bundle.mjs): constructing it loads nothing (every server constructs one
 * at start-up), the first getValidator loads ajv, and its answers are the SDK validator's own.
 * In a child process, so the module cache is fresh. That the built CLI does not load ajv at
 * start-up is test/e2e/startup-loading.test.ts.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

const run = promisify(execFile);

describe('lazy ajv validator', () => {
  it('loads ajv on the first getValidator, not at construction, and answers as the SDK validator does', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/helpers/lazy-ajv-worker.ts')], { cwd: REPO_ROOT, timeout: 60_000 });
    const result = JSON.parse(stdout) as { atConstruction: boolean; afterFirstUse: boolean; ours: unknown[]; sdk: unknown[] };
    expect(result.atConstruction).toBe(false);
    expect(result.afterFirstUse).toBe(true);
    expect(result.ours).toEqual(result.sdk);
    // The checks really ran: one valid input, three refused with the SDK's message.
    expect(result.ours.map((r) => (r as { valid: boolean }).valid)).toEqual([true, false, false, false]);
    expect((result.ours[2] as { errorMessage: string }).errorMessage).toContain('email');
  }, 90_000);
});
