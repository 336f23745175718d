/**
 * a file-store transaction whose process stalled past the lock's stale limit must not
 * commit its stale copy over what the lock's next holder decided. Two real processes over one
 * state directory, driven by marker files (no timing in the test; the denier waits out the
 * lock's own stale limit, 10 s).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/cli.js';
import { runTsWorker } from '../helpers/ts-worker.js';

const WORKER = 'test/helpers/stale-tx-worker.ts';

describe('R-14: file state store, a stalled transaction after its lock was taken over', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('a deny committed by the next lock holder stands: the stalled approver writes nothing', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ass-stale-commit-'));
    const state = path.join(dir, 'state');
    const run = (role: string) => runTsWorker(WORKER, [role, state, dir!]);
    expect((await run('init')).stdout.trim()).toBe('init');

    const approver = run('approver');
    // The approver has read `pending` and is stalled holding the lock.
    expect(await pollUntil(async () => existsSync(path.join(dir!, 'a-read')), 60_000, 50)).toBe(true);
    const denier = await run('denier');
    expect(denier.stdout.trim(), denier.stderr).toBe('denier committed');
    await writeFile(path.join(dir, 'b-done'), '');

    const approved = await approver;
    expect(approved.stdout.trim(), approved.stderr).toMatch(/^approver refused: BACKEND_UNAVAILABLE: /);
    expect((await run('show')).stdout.trim()).toBe('status: denied');
  }, 180_000);
});
