/**
 * Child process for the multi-process file-backend test:
 *   node --import tsx test/helpers/file-put-worker.ts <dir> <keyfile> <id> <count>
 * Does <count> puts on the shared key `mp/SHARED` and <count> puts on its own keys
 * `mp/W<id>_K<i>`, alternating. Prints one JSON line with timings; exits 1 on any error.
 */
import { createFileBackend } from '../../src/adapters/file/index.js';

const [dir, keyFile, id, countText] = process.argv.slice(2);
if (!dir || !keyFile || !id || !countText) {
  console.error('usage: file-put-worker.ts <dir> <keyfile> <id> <count>');
  process.exit(2);
}

try {
  const count = Number(countText);
  const backend = await createFileBackend({ type: 'file', path: dir, key_file: keyFile });
  const started = performance.now();
  let slowest = 0;
  for (let i = 0; i < count; i += 1) {
    const t = performance.now();
    await backend.put({ namespace: 'mp', key: 'SHARED', value: `w${id}-${i}`, secret_type: 'custom', access_tier: 'standard', metadata: { worker: id } });
    slowest = Math.max(slowest, performance.now() - t);
    await backend.put({ namespace: 'mp', key: `W${id}_K${i}`, value: `own-${id}-${i}`, secret_type: 'custom', access_tier: 'standard', metadata: {} });
  }
  await backend.close();
  console.log(JSON.stringify({ id, ms: Math.round(performance.now() - started), slowestSharedPutMs: Math.round(slowest) }));
} catch (error) {
  const e = error as { code?: string; message?: string };
  console.error(`worker ${id} failed: ${e.code ?? ''} ${e.message ?? String(error)}`);
  process.exit(1);
}
