/**
 * Makes a tool call really wait: holds the cross-process lock that a write to one secret of a
 * file backend needs (as a concurrent writer would), until the returned function is called.
 * The server's `set_secret` on that secret then waits in the real locking code.
 */
import path from 'node:path';
import { secretFileName } from '../../src/adapters/file/secret-file.js';
import { withFileLock } from '../../src/shared/durable-file.js';

/** `dir` is the config folder of a test server whose file backend is `./secrets` (test/helpers/remote-server.ts). */
export async function holdSecretLock(dir: string, namespace: string, key: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'secrets', 'secrets', secretFileName(namespace, key));
  let release!: () => void;
  let held!: () => void;
  const acquired = new Promise<void>((resolve) => (held = resolve));
  const done = withFileLock(file, () => {
    held();
    return new Promise<void>((resolve) => (release = resolve));
  });
  await acquired;
  return async () => {
    release();
    await done;
  };
}
