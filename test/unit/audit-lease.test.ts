/**
 * The audit log's lease (src/shared/file-lease.ts): one hash chain across processes, with the
 * cross-process lock kept while a process keeps appending instead of taken per record. Real
 * processes: appenders interleaving on one log, a holder SIGKILLed while it holds the lease, a
 * busy holder asked to let go, and a holder whose lease was taken over while it stalled.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAuditKey } from '../../src/audit/audit-key.js';
import { createAuditLog, rotateAuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { withSyncFileLock } from '../../src/shared/durable-file.js';
import { FileLease, signalWanted } from '../../src/shared/file-lease.js';
import { runTsWorker } from '../helpers/ts-worker.js';

const REPO = path.resolve(import.meta.dirname, '../..');
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ass-audit-lease-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the lease-holder worker and resolves once it holds the lease. */
function startHolder(target: string, mode: 'die' | 'busy', ms = 0): Promise<{ output: () => string; exited: Promise<number | null>; kill: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lease-holder-worker.ts', target, mode, String(ms)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('held\n')) resolve({ output: () => out, exited, kill: () => child.kill('SIGKILL') });
    });
    void exited.then((code) => {
      if (!out.includes('held\n')) reject(new Error(`holder exited (${code}) before holding: ${err}`));
    });
  });
}

describe('the audit lease', () => {
  it('4 processes appending at once, the lease changing hands: one chain, every record, each writer in order', async () => {
    const log = path.join(dir, 'audit.log');
    const keyPath = path.join(dir, 'audit.key');
    const PER = 150;
    const results = await Promise.all([0, 1, 2, 3].map((id) => runTsWorker('test/helpers/audit-append-worker.ts', [log, keyPath, String(id), String(PER)])));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const verified = await verifyAuditLog(log, undefined, { key: readAuditKey(keyPath) });
    expect(verified.problems).toEqual([]);
    expect(verified).toMatchObject({ ok: true, count: 4 * PER, keyed: true });
    const records = readFileSync(log, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as { actor: string; key: string });
    for (let id = 0; id < 4; id += 1) {
      const mine = records.filter((r) => r.actor === `agent:w${id}`).map((r) => r.key);
      expect(mine).toEqual(Array.from({ length: PER }, (_, i) => `K${i}`));
    }
    // The writers took turns rather than one after another: the lease changed hands mid-run.
    const handovers = records.filter((r, i) => i > 0 && r.actor !== records[i - 1]!.actor).length;
    expect(handovers).toBeGreaterThan(3);
  }, 120_000);

  it('a holder SIGKILLed while holding the lease is taken over at once, not after the 10 s stale limit', async () => {
    const target = path.join(dir, 'audit.log');
    const holder = await startHolder(target, 'die');
    await holder.exited;
    expect(readFileSync(`${target}.lock`, 'utf8')).toMatch(/^holder:/);
    // Both ways of taking the lock give up after 4 s, well inside the stale limit.
    await expect(withSyncFileLock(target, () => 'rotated', { timeoutMs: 4_000 })).resolves.toBe('rotated');
    const again = await startHolder(target, 'die');
    await again.exited;
    await expect(new FileLease(target, { timeoutMs: 4_000 }).run(() => 'appended')).resolves.toBe('appended');
  }, 60_000);

  it('a busy holder keeps the lease until another process asks for it, then lets go', async () => {
    const target = path.join(dir, 'audit.log');
    const holder = await startHolder(target, 'busy', 30_000);
    try {
      // Not asked: the busy holder (idle limit 60 s) keeps it.
      await expect(withSyncFileLock(target, () => 'took', { timeoutMs: 1_500 })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      expect(holder.output()).not.toContain('released');
      // Asked (what `audit rotate` and other leases do while they wait): it lets go.
      await expect(withSyncFileLock(target, () => 'took', { timeoutMs: 10_000, onWait: () => signalWanted(target) })).resolves.toBe('took');
      for (let i = 0; i < 200 && !holder.output().includes('released'); i += 1) await new Promise((r) => setTimeout(r, 25));
      expect(holder.output()).toContain('released');
    } finally {
      holder.kill();
      await holder.exited;
    }
  }, 60_000);

  it('appenders busy back to back do not starve `audit rotate`: the holder keeps off the lock until the waiter has it', async () => {
    const log = path.join(dir, 'audit.log');
    const audit = createAuditLog(log, undefined, { keyPath: path.join(dir, 'audit.key') });
    await audit.append({ actor: 'system', action: 'start', outcome: 'ok' });
    let rotations = 0;
    let appended = 1;
    const deadline = Date.now() + 20_000;
    // Eight appenders in this process, each starting its next record as soon as one is written.
    const appenders = Array.from({ length: 8 }, async () => {
      while (rotations < 5 && Date.now() < deadline) {
        await audit.append({ actor: 'agent:busy', action: 'get_secret', outcome: 'allowed' });
        appended += 1;
      }
    });
    for (let second = 0; rotations < 5 && Date.now() < deadline; second += 1) {
      await rotateAuditLog(log, 'admin:ops', new Date(Date.UTC(2026, 10, 29, 0, 0, second)), { keyPath: path.join(dir, 'audit.key') });
      rotations += 1;
    }
    await Promise.all(appenders);
    await audit.close();
    expect(rotations).toBe(5);
    const verified = await verifyAuditLog(log, undefined, { all: true, key: readAuditKey(path.join(dir, 'audit.key')) });
    expect(verified.problems).toEqual([]);
    expect(verified.count).toBe(appended + rotations);
  }, 60_000);

  it('a lease taken over while its holder stalled is not used: the next section waits for the lock again', async () => {
    const target = path.join(dir, 'audit.log');
    const lease = new FileLease(target, { staleMs: 2_000, timeoutMs: 300, idleMs: 60_000 });
    await lease.run(() => undefined);
    expect(lease.held).toBe(true);
    // Another process took the lock over (as after a stall past the stale limit).
    writeFileSync(`${target}.lock`, 'holder:elsewhere:1:0123abcd');
    // Longer than a quarter of the stale limit: the holder must confirm before its next section.
    await new Promise((r) => setTimeout(r, 700));
    let ran = false;
    await expect(lease.run(() => (ran = true))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(ran).toBe(false);
    expect(readFileSync(`${target}.lock`, 'utf8')).toBe('holder:elsewhere:1:0123abcd');
    lease.release();
  });
});
