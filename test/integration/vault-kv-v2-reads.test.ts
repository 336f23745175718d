/**
 * How many requests a KV v2 `get` costs, counted at the VaultClient seam around the real
 * node-vault client talking to a real Vault: one in the steady state, and created_at / the
 * access tier are still right when another tool changes the secret behind the proxy's back.
 * No peer → the suite FAILS naming the install script, unless ASS_ALLOW_MISSING_PEERS=1.
 */
import { randomBytes } from 'node:crypto';
import NodeVault from 'node-vault';
import { afterAll, describe, expect, it } from 'vitest';
import type { SecretBackend } from '../../src/adapters/backend.js';
import { createNodeVaultClient } from '../../src/adapters/vault/client.js';
import { createVaultBackend, VaultBackendConfigSchema, type VaultBackendConfigInput, type VaultClient } from '../../src/adapters/vault/index.js';
import { write } from '../helpers/backend-fixtures.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { startVaultPeer, type VaultPeer } from '../helpers/vault-peer.js';

const started = await startVaultPeer();
const peer: VaultPeer | undefined = 'skipReason' in started ? undefined : started;

afterAll(async () => {
  await peer?.stop();
});

const TOKEN_ENV = 'ASS_TEST_VAULT_TOKEN';

/** The real node-vault client behind the seam, with every read of a secret path recorded. */
function countingClient(config: VaultBackendConfigInput): { client: VaultClient; reads: string[] } {
  const inner = createNodeVaultClient(VaultBackendConfigSchema.parse(config));
  const reads: string[] = [];
  const client: VaultClient = {
    get token() {
      return inner.token;
    },
    set token(token: string) {
      inner.token = token;
    },
    read: (path) => {
      if (path.startsWith('secret/')) reads.push(path);
      return inner.read(path);
    },
    write: (path, data) => inner.write(path, data),
    list: (path) => inner.list(path),
    delete: (path) => inner.delete(path),
  };
  return { client, reads };
}

if (!peer) {
  describeMissingPeer('vault kv v2 reads', (started as { skipReason: string }).skipReason);
} else {
  describe(`vault kv v2 reads: requests per get (${peer.via})`, () => {
    const root = NodeVault({ endpoint: peer.address, token: peer.token, pathPrefix: '', namespace: '' });
    root.token = peer.token;
    const backends: SecretBackend[] = [];
    afterAll(async () => {
      for (const b of backends) await b.close();
    });

    /** A backend over a fresh prefix, its read log, and root-client helpers for one secret. */
    const setup = async () => {
      const prefix = `ass-reads-${randomBytes(4).toString('hex')}`;
      const config: VaultBackendConfigInput = {
        type: 'vault',
        address: peer.address,
        kv_version: 2,
        prefix,
        auth: { method: 'token', token_env: TOKEN_ENV },
        request_timeout_ms: 5_000,
      };
      const { client, reads } = countingClient(config);
      const backend = await createVaultBackend(config, { [TOKEN_ENV]: peer.token }, { client });
      backends.push(backend);
      const dataPath = `secret/data/${prefix}/ns/KEY`;
      const metaPath = `secret/metadata/${prefix}/ns/KEY`;
      /** Writes `n` versions as another tool would, with our fields in custom_metadata. */
      const writeOutside = async (n: number, tier = 'sensitive') => {
        await root.write(metaPath, { custom_metadata: { ass_secret_type: 'api_key', ass_access_tier: tier } });
        for (let i = 0; i < n; i++) await root.write(dataPath, { data: { value: `outside-${i + 1}` } });
      };
      /** Version 1's created_time as Vault reports it, in our ISO form. */
      const version1Time = async () => new Date((await root.read(metaPath)).data.versions['1'].created_time as string).toISOString();
      /** A get, and the reads of secret paths it cost. */
      const get = async () => {
        reads.length = 0;
        const record = await backend.get('ns', 'KEY');
        return { record, reads: [...reads] };
      };
      return { backend, root, dataPath, metaPath, writeOutside, version1Time, get };
    };

    it('a steady-state get reads Vault once; created_at is version 1 created_time', async () => {
      const s = await setup();
      await s.writeOutside(2);
      const created = await s.version1Time();

      const first = await s.get();
      expect(first.reads.length).toBeLessThanOrEqual(2);
      expect(first.record).toMatchObject({ value: 'outside-2', version: 2, access_tier: 'sensitive', created_at: created });
      for (let i = 0; i < 3; i++) {
        const next = await s.get();
        expect(next.reads).toEqual([s.dataPath]);
        expect(next.record).toMatchObject({ value: 'outside-2', version: 2, created_at: created });
      }

      // Our own write keeps the secret's created_at and leaves nothing to look up.
      const put = await s.backend.put(write('ns', 'KEY', 'ours'));
      expect(put).toMatchObject({ version: 3, created_at: created });
      const afterPut = await s.get();
      expect(afterPut.reads).toEqual([s.dataPath]);
      expect(afterPut.record).toMatchObject({ value: 'ours', version: 3, created_at: created, updated_at: put.updated_at });

      // Another tool's newer version of the same secret: still one read, same created_at.
      await s.root.write(s.dataPath, { data: { value: 'outside-4' } });
      const newer = await s.get();
      expect(newer.reads).toEqual([s.dataPath]);
      expect(newer.record).toMatchObject({ value: 'outside-4', version: 4, created_at: created });
    });

    it('a secret destroyed and recreated outside the proxy gets its new created_at', async () => {
      const s = await setup();
      await s.writeOutside(3);
      await s.get();
      expect((await s.get()).reads).toEqual([s.dataPath]);

      // Recreated at a lower version: the remembered created_at no longer applies.
      await s.root.delete(s.metaPath);
      await s.writeOutside(2);
      const recreated = await s.version1Time();
      const lower = await s.get();
      expect(lower.record).toMatchObject({ value: 'outside-2', version: 2, created_at: recreated });
      expect(lower.reads).toEqual([s.dataPath, s.metaPath]);
      expect((await s.get()).reads).toEqual([s.dataPath]);

      // Recreated at the same version: that version's created_time differs from the remembered one
      // (compared to the millisecond, hence the short pause).
      await new Promise((r) => setTimeout(r, 5));
      await s.root.delete(s.metaPath);
      await s.writeOutside(2);
      const again = await s.version1Time();
      expect(again).not.toBe(recreated);
      expect((await s.get()).record).toMatchObject({ version: 2, created_at: again });

      // Recreated with one version: the data read itself says when version 1 was written.
      await s.root.delete(s.metaPath);
      await s.writeOutside(1);
      const single = await s.get();
      expect(single.record).toMatchObject({ value: 'outside-1', version: 1, created_at: await s.version1Time() });
      expect(single.reads).toEqual([s.dataPath]);
    });

    it('deleting through the proxy forgets created_at', async () => {
      const s = await setup();
      await s.backend.put(write('ns', 'KEY', 'a'));
      await s.backend.put(write('ns', 'KEY', 'b'));
      expect((await s.get()).reads).toEqual([s.dataPath]);
      expect(await s.backend.delete('ns', 'KEY')).toBe(true);

      // Recreated outside at a higher version than the proxy last saw (no get in between, which
      // would also forget it).
      await s.writeOutside(3);
      expect((await s.get()).record).toMatchObject({ value: 'outside-3', version: 3, created_at: await s.version1Time() });
    });

    it('a tier or type change made outside the proxy is seen on the very next get', async () => {
      const s = await setup();
      await s.backend.put(write('ns', 'KEY', 'a'));
      await s.backend.put(write('ns', 'KEY', 'b'));
      const warm = await s.get();
      expect(warm.reads).toEqual([s.dataPath]);
      expect(warm.record).toMatchObject({ access_tier: 'sensitive', secret_type: 'api_key' });

      const custom = (await s.root.read(s.metaPath)).data.custom_metadata as Record<string, string>;
      await s.root.write(s.metaPath, { custom_metadata: { ...custom, ass_access_tier: 'critical', ass_secret_type: 'db_credential' } });
      const tightened = await s.get();
      expect(tightened.reads).toEqual([s.dataPath]);
      expect(tightened.record).toMatchObject({ value: 'b', version: 2, access_tier: 'critical', secret_type: 'db_credential' });

      // Another tool replacing custom_metadata without our keys: no tier, also at once.
      await s.root.write(s.metaPath, { custom_metadata: { owner: 'platform' } });
      expect((await s.get()).record).toMatchObject({ access_tier: null, secret_type: 'custom' });
    });
  });
}
