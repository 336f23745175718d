/**
 * `audit rotate` under a running server: the old records move to `audit.log.<UTC time>`, the
 * server's next record continues the chain in the new file, and `audit verify` (and `--all`)
 * says the chain is intact across both files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { admin, adminJson, connectAgent, initHome, ok, removeHome, type Home } from '../helpers/cli.js';

let home: Home;
afterAll(() => removeHome(home));

describe('audit rotate', () => {
  it('moves the old records aside while a server runs, and the chain goes on', async () => {
    home = await initHome();
    const conn = await connectAgent(home.configPath, home.agentKey);
    try {
      await ok(conn.client, 'set_secret', { namespace: 'staging/app', key: 'K', value: 'rotate-canary-1' });
      await ok(conn.client, 'get_secret', { namespace: 'staging/app', key: 'K' });

      const rotated = await adminJson<{ rotated_to: string; last_seq: number; last_hash: string; first_seq: number }>(home, ['audit', 'rotate']);
      expect(rotated.first_seq).toBe(rotated.last_seq + 1);
      expect(rotated.rotated_to).toMatch(/audit\.log\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/);

      // The same server, still running, writes its next records into the new file.
      await ok(conn.client, 'get_secret', { namespace: 'staging/app', key: 'K' });
      const current = join(dirname(home.configPath), 'audit.log');
      const records = readFileSync(current, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
      expect(records[0]).toMatchObject({ seq: rotated.first_seq, prev: rotated.last_hash, action: 'audit.rotate', actor: 'admin:admin' });
      expect(records.at(-1)).toMatchObject({ seq: rotated.first_seq + records.length - 1, action: 'get_secret', actor: 'agent:default' });
      // Records only in the log and its rotated file; `audit.log.lock` is the running server's
      // audit lease (held while it appends, src/shared/file-lease.ts), not a record file.
      expect(readdirSync(dirname(home.configPath)).filter((name) => name.startsWith('audit.log') && name !== 'audit.log.lock').sort()).toEqual(['audit.log', rotated.rotated_to.split('/').at(-1)]);

      const verified = await admin(home, ['audit', 'verify']);
      expect(verified.code, verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/^OK: \d+ records, chain intact\. Head: [0-9a-f]{64}\nContinues from audit\.log\.\S+\.\n$/);
      const all = await admin(home, ['audit', 'verify', '--all']);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).toMatch(/^OK: \d+ records in 2 files, chain intact\./);
      for (const file of [current, rotated.rotated_to]) expect(readFileSync(file, 'utf8')).not.toContain('rotate-canary');
    } finally {
      await conn.close();
    }
  });
});
