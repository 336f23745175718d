/** The backend contract, run against the file backend in key-file mode and in passphrase mode. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFileBackend, createKeyFile } from '../../src/adapters/file/index.js';
import { runBackendContract } from './backend-contract.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'ass-file-contract-'));
}

runBackendContract('file backend (key file)', async () => {
  const root = await tempDir();
  const keyFile = path.join(root, 'store.key');
  await createKeyFile(keyFile);
  const backend = await createFileBackend({ type: 'file', path: path.join(root, 'store'), key_file: keyFile });
  return { backend, cleanup: () => rm(root, { recursive: true, force: true }) };
});

runBackendContract('file backend (passphrase)', async () => {
  const root = await tempDir();
  const env = { ASS_TEST_PASSPHRASE: 'correct horse battery staple' };
  const backend = await createFileBackend({ type: 'file', path: path.join(root, 'store'), passphrase_env: 'ASS_TEST_PASSPHRASE' }, env);
  return { backend, cleanup: () => rm(root, { recursive: true, force: true }) };
});
