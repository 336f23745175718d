/**
 * One process of the R-14 scenario (test/unit/file-store-stale-commit.test.ts), over one file
 * state store. usage: stale-tx-worker.ts <role> <state dir> <marker dir>
 *   init      stores a pending approval `appr1`
 *   approver  reads it in a transaction, creates <marker dir>/a-read, then blocks this whole
 *             process (no event loop: the lock is not refreshed, as when the process is stopped)
 *             until <marker dir>/b-done exists (bounded), then tries to commit `approved`
 *   denier    denies it in a transaction (it breaks the approver's lock once that is stale)
 *   show      prints the stored status
 * Prints one line: what happened.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FileRecordBackend } from '../../src/state/file-store.js';
import type { ApprovalRecord } from '../../src/state/records.js';

const [role, dir, markers] = process.argv.slice(2) as [string, string, string];
const backend = new FileRecordBackend({ dir });
const id = 'appr1';

function blockUntil(file: string): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 120_000;
  while (!fs.existsSync(file) && Date.now() < deadline) Atomics.wait(cell, 0, 0, 20);
}

if (role === 'init') {
  const now = Date.now();
  const record = { id, kind: 'secret_access', agent_id: 'bot', scopes: ['secrets:read:prod/x'], status: 'pending', approvals: [], approvers_required: 1, created_at: new Date(now).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), ttl_ms: 3_600_000, delay_ms: 0 } as unknown as ApprovalRecord;
  await backend.transact(async (tx) => tx.putApproval(record));
  console.log('init');
}
if (role === 'approver') {
  try {
    await backend.transact(async (tx) => {
      const read = (await tx.approval(id))!;
      fs.writeFileSync(path.join(markers, 'a-read'), read.status);
      blockUntil(path.join(markers, 'b-done'));
      tx.putApproval({ ...structuredClone(read), status: 'approved', approvals: [{ admin_id: 'alice', at: new Date().toISOString() }] } as ApprovalRecord);
    });
    console.log('approver committed');
  } catch (error) {
    console.log(`approver refused: ${(error as { code?: string }).code}: ${(error as Error).message}`);
  }
}
if (role === 'denier') {
  await backend.transact(async (tx) => {
    const read = (await tx.approval(id))!;
    tx.putApproval({ ...structuredClone(read), status: 'denied', denied_by: 'bob' } as ApprovalRecord);
  });
  console.log('denier committed');
}
if (role === 'show') console.log(`status: ${(await backend.approval(id))?.status}`);
