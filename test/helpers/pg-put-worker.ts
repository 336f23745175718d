/**
 * Child process for the multi-process PostgreSQL backend test:
 *   ASS_PG_URL=… node --import tsx test/helpers/pg-put-worker.ts <keyfile> <id> <count>
 * (the URL, with its per-run password, goes by environment, not argv.)
 * 200 puts = <count>/2 on the shared key `mp/SHARED` and <count>/2 on its own keys `mp/W<id>_K<i>`,
 * alternating. Prints one JSON line with the versions the shared puts got; exits 1 on any error.
 */
import { createPostgresBackend } from '../../src/adapters/postgres/index.js';

const [keyFile, id, countText] = process.argv.slice(2);
const url = process.env.ASS_PG_URL;
if (!keyFile || !id || !countText || !url) {
  console.error('usage: ASS_PG_URL=… pg-put-worker.ts <keyfile> <id> <count>');
  process.exit(2);
}

try {
  const count = Number(countText);
  const backend = await createPostgresBackend({ type: 'postgres', url, key_file: keyFile, pool_max: 2, max_versions: 1000, statement_timeout_ms: 60_000 });
  const shared: number[] = [];
  for (let i = 0; i < count / 2; i += 1) {
    const put = await backend.put({ namespace: 'mp', key: 'SHARED', value: `w${id}-${i}`, secret_type: 'custom', access_tier: 'standard', metadata: { worker: id } });
    shared.push(put.version);
    await backend.put({ namespace: 'mp', key: `W${id}_K${i}`, value: `own-${id}-${i}`, secret_type: 'custom', access_tier: 'standard', metadata: {} });
  }
  await backend.close();
  console.log(JSON.stringify({ id, shared }));
} catch (error) {
  const e = error as { code?: string; message?: string };
  console.error(`worker ${id} failed: ${e.code ?? ''} ${e.message ?? String(error)}`);
  process.exit(1);
}
