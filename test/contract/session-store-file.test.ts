/**
 * The dashboard session contract on `sessions.json` (one data_dir shared by every process on the
 * host): each rows instance keeps its own parse cache, as separate processes do.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileSessionRows } from '../../src/state/session-rows.js';
import { runSessionStoreContract } from './session-store-contract.js';

runSessionStoreContract('sessions.json', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ass-sessions-file-'));
  const file = path.join(dir, 'sessions.json');
  return {
    open: async () => new FileSessionRows(file),
    dump: async () => readFile(file, 'utf8').catch(() => ''),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
