/**
 * Worker for the file audit log's multi-process tests: appends N records to one log (keyed with
 * the given key file), optionally pausing between records so that appenders interleave.
 * Args: <log> <key file> <id> <count>. Prints `{"id":..,"appended":..}`.
 */
import { createAuditLog } from '../../src/audit/audit-log.js';

const [log, keyPath, id, count] = process.argv.slice(2) as [string, string, string, string];
const audit = createAuditLog(log, undefined, { keyPath });
let appended = 0;
for (let i = 0; i < Number(count); i += 1) {
  await audit.append({ actor: `agent:w${id}`, action: 'get_secret', namespace: 'mp', key: `K${i}`, outcome: 'allowed' });
  appended += 1;
  // Every tenth record a pause, so that the lease changes hands both under load and after idling.
  if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, i % 20 === 19 ? 80 : 1));
}
await audit.close();
process.stdout.write(`${JSON.stringify({ id, appended })}\n`);
