/**
 * Child process for the shared PostgreSQL audit chain test (one "replica"):
 *   ASS_PG_URL=… node --import tsx test/helpers/pg-audit-worker.ts <audit-key-path> <id> <count>
 * Appends <count> records as actor `agent:w<id>` with reason `<i>`, as fast as it can, on its own
 * pool. Prints one JSON line { id, appended, seqs: [first, last] }; exits 1 on any error.
 */
import { createPgAuditLog } from '../../src/audit/pg-audit-log.js';
import { PgConnectionSchema } from '../../src/shared/pg/config.js';
import { createPgDatabase } from '../../src/shared/pg/pool.js';

const [keyPath, id, countText] = process.argv.slice(2);
const url = process.env.ASS_PG_URL;
if (!keyPath || !id || !countText || !url) {
  console.error('usage: ASS_PG_URL=… pg-audit-worker.ts <audit-key-path> <id> <count>');
  process.exit(2);
}

try {
  const db = createPgDatabase(PgConnectionSchema.parse({ url, pool_max: 4, statement_timeout_ms: 60_000 }), { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
  const audit = createPgAuditLog(db, () => new Date(), { keyPath });
  const count = Number(countText);
  const seqs: number[] = [];
  // Four appends in flight at a time, as a busy replica would have.
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const i = next++;
        const record = await audit.append({ actor: `agent:w${id}`, action: 'get_secret', namespace: 'load', key: `K${i}`, outcome: 'allowed', reason: String(i) });
        seqs.push(record.seq);
      }
    }),
  );
  await audit.close();
  await db.close();
  console.log(JSON.stringify({ id, appended: seqs.length, seqs: [Math.min(...seqs), Math.max(...seqs)] }));
} catch (error) {
  const e = error as { code?: string; message?: string };
  console.error(`worker ${id} failed: ${e.code ?? ''} ${e.message ?? String(error)}`);
  process.exit(1);
}
