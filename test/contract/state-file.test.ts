/** The state-store contract on the embedded file store: instances over one directory, as processes on one machine. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFileStateStore } from '../../src/state/file-store.js';
import { runStateContract } from './state-contract.js';

runStateContract('file', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'ass-state-contract-'));
  return { open: async () => createFileStateStore({ dir: path.join(root, 'state') }), cleanup: () => rm(root, { recursive: true, force: true }) };
}, { sharedRateLimits: false });
