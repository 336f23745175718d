/**
 * KvV2Engine's created_at memory against a scripted KV v2 answer: what the real-Vault suite
 * (test/integration/vault-kv-v2-reads.test.ts) cannot reach cheaply — an old Vault without
 * custom_metadata in data reads, the age bound, and the size bound.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { VaultClient } from '../../src/adapters/vault/client.js';
import { CREATED_AT_MAX_ENTRIES, CREATED_AT_TTL_MS } from '../../src/adapters/vault/created-at-cache.js';
import { KvV2Engine } from '../../src/adapters/vault/kv-v2.js';
import { VaultPaths } from '../../src/adapters/vault/paths.js';

interface FakeSecret {
  /** created_time of versions 1..n. */
  times: string[];
  custom: Record<string, string> | null;
}

/** A KV v2 mount in memory: `secret/{data,metadata}/p/<name>`; `legacy` answers like Vault < 1.9. */
function fakeKv(legacy = false) {
  const secrets = new Map<string, FakeSecret>();
  const reads: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client: VaultClient = {
    token: '',
    read: async (path) => {
      reads.push(path);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      const [, kind, , ...name] = path.split('/');
      const secret = secrets.get(name.join('/'));
      if (!secret) throw Object.assign(new Error('not found'), { response: { statusCode: 404 } });
      const n = secret.times.length;
      if (kind === 'data') {
        const metadata = { version: n, created_time: secret.times[n - 1], deletion_time: '', destroyed: false };
        return { data: { data: { value: `value-${n}` }, metadata: legacy ? metadata : { ...metadata, custom_metadata: secret.custom } } };
      }
      const versions = Object.fromEntries(secret.times.map((t, i) => [String(i + 1), { created_time: t, deletion_time: '', destroyed: false }]));
      return { data: { created_time: secret.times[0], current_version: n, custom_metadata: secret.custom, versions } };
    },
    write: () => Promise.reject(new Error('unused')),
    list: () => Promise.reject(new Error('unused')),
    delete: () => Promise.reject(new Error('unused')),
  };
  const engine = new KvV2Engine(client, new VaultPaths('secret', 'p', 2), 'value');
  /** Reads of one get, and how many were in flight at once. */
  const get = async (namespace: string, key: string) => {
    reads.length = 0;
    maxInFlight = 0;
    const record = await engine.read(namespace, key);
    return { record, reads: reads.length, parallel: maxInFlight };
  };
  return { secrets, get };
}

const T1 = '2025-01-01T00:00:00.123456789Z';
const T2 = '2025-01-02T00:00:00.5Z';

afterEach(() => {
  vi.useRealTimers();
});

describe('KvV2Engine created_at memory', () => {
  it('on a Vault without custom_metadata in data reads, every get reads the metadata too, in parallel', async () => {
    const kv = fakeKv(true);
    kv.secrets.set('ns/K', { times: [T1, T2], custom: { ass_access_tier: 'sensitive', ass_secret_type: 'api_key' } });
    for (let i = 0; i < 3; i++) {
      const got = await kv.get('ns', 'K');
      expect(got).toMatchObject({ reads: 2, parallel: 2 });
      expect(got.record).toMatchObject({ version: 2, access_tier: 'sensitive', created_at: new Date(T1).toISOString() });
    }
    kv.secrets.get('ns/K')!.custom = { ass_access_tier: 'critical' };
    expect((await kv.get('ns', 'K')).record).toMatchObject({ access_tier: 'critical' });
  });

  it('a cold get reads data and metadata in parallel; version 1 needs no metadata after that', async () => {
    const kv = fakeKv();
    kv.secrets.set('ns/K', { times: [T1], custom: null });
    expect(await kv.get('ns', 'K')).toMatchObject({ reads: 2, parallel: 2 });
    const warm = await kv.get('ns', 'K');
    expect(warm).toMatchObject({ reads: 1 });
    expect(warm.record).toMatchObject({ version: 1, access_tier: null, created_at: new Date(T1).toISOString(), updated_at: new Date(T1).toISOString() });
  });

  it(`trusts a remembered created_at for ${CREATED_AT_TTL_MS / 60_000} minutes, then reads the metadata again`, async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const kv = fakeKv();
    kv.secrets.set('ns/K', { times: [T1, T2], custom: null });
    expect((await kv.get('ns', 'K')).reads).toBe(2);
    vi.setSystemTime(Date.now() + CREATED_AT_TTL_MS - 1);
    expect((await kv.get('ns', 'K')).reads).toBe(1);
    vi.setSystemTime(Date.now() + 1);
    const expired = await kv.get('ns', 'K');
    expect(expired).toMatchObject({ reads: 2, parallel: 2 });
    expect(expired.record?.created_at).toBe(new Date(T1).toISOString());
    expect((await kv.get('ns', 'K')).reads).toBe(1);
  });

  it(`remembers at most ${CREATED_AT_MAX_ENTRIES} secrets, dropping the oldest`, async () => {
    const kv = fakeKv();
    for (let i = 0; i <= CREATED_AT_MAX_ENTRIES; i++) kv.secrets.set(`ns/K${i}`, { times: [T1, T2], custom: null });
    for (let i = 0; i <= CREATED_AT_MAX_ENTRIES; i++) await kv.get('ns', `K${i}`);
    expect((await kv.get('ns', `K${CREATED_AT_MAX_ENTRIES}`)).reads).toBe(1);
    expect((await kv.get('ns', 'K1')).reads).toBe(1);
    expect((await kv.get('ns', 'K0')).reads).toBe(2);
  });
});
