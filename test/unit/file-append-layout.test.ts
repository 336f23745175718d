/**
 * The file backend's append-a-version layout (ass-file-v2, secret-file.ts): a write appends one
 * line rather than rewriting the secret's file, an older store (ass-file-v1, one sealed blob per
 * secret, written here by the v1 encoder the older writer used) still reads and is migrated on
 * its first write, and a line torn by a crash mid-append is neither served nor kept.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileBackend, createKeyFile, loadKeyFile } from '../../src/adapters/file/index.js';
import { StoreManifest } from '../../src/adapters/file/manifest.js';
import { decodeSecretFile, encodeSecretFile, secretFileName, type StoredSecret } from '../../src/adapters/file/secret-file.js';
import { caught, write } from '../helpers/backend-fixtures.js';

let root: string;
let storeDir: string;
let keyFile: string;
const NS = 'production/app';
const KEY = 'API_KEY';
const fileOf = (key = KEY) => path.join(storeDir, 'secrets', secretFileName(NS, key));
const open = (maxVersions = 20) => createFileBackend({ type: 'file', path: storeDir, key_file: keyFile, max_versions: maxVersions });
const lines = async (file = fileOf()) => (await fs.readFile(file, 'utf8')).split('\n').filter((l) => l !== '');

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(tmpdir(), 'ass-append-'));
  storeDir = path.join(root, 'store');
  keyFile = path.join(root, 'store.key');
  await createKeyFile(keyFile);
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A v1 secret as the older writer left it: one sealed file, its newest version in the manifest. */
async function writeOldSecret(key: string, values: string[], tier: 'standard' | 'critical' = 'standard'): Promise<StoredSecret> {
  const storeKey = await loadKeyFile(keyFile);
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  const secret: StoredSecret = {
    id: randomUUID(),
    created_at: at,
    manifested: true,
    versions: values.map((value, i) => ({ version: i + 1, value, secret_type: 'api_key', access_tier: tier, metadata: { n: String(i + 1) }, updated_at: at })),
  };
  await fs.writeFile(fileOf(key), encodeSecretFile(storeKey, NS, key, secret), { mode: 0o600 });
  if (values.length > 1) await new StoreManifest(storeDir, storeKey).setLive(secretFileName(NS, key), { id: secret.id, version: values.length, tier });
  return secret;
}

describe('append-a-version layout', () => {
  it('an older (v1) store still reads, and the first write migrates the file to v2 keeping its history', async () => {
    const backend = await open();
    const old = await writeOldSecret(KEY, ['sk_old_1', 'sk_old_2', 'sk_old_3'], 'critical');
    await writeOldSecret('OTHER', ['sk_other_1']);
    expect((await fs.readFile(fileOf(), 'utf8')).startsWith('{"format":"ass-file-v1"')).toBe(true);

    // Read as it is, by this process and by a fresh one.
    expect(await backend.get(NS, KEY)).toMatchObject({ value: 'sk_old_3', version: 3, access_tier: 'critical', id: old.id, created_at: old.created_at });
    expect(await (await open()).get(NS, 'OTHER')).toMatchObject({ value: 'sk_other_1', version: 1 });
    expect((await backend.list(NS)).map((s) => [s.key, s.version])).toEqual([['API_KEY', 3], ['OTHER', 1]]);
    const v1Copy = await fs.readFile(fileOf());

    const summary = await backend.put(write(NS, KEY, 'sk_new_4', { access_tier: 'critical' }));
    expect(summary).toMatchObject({ version: 4, id: old.id, created_at: old.created_at });
    const text = await fs.readFile(fileOf(), 'utf8');
    expect(text.startsWith('{"format":"ass-file-v2"')).toBe(true);
    expect(await lines()).toHaveLength(1 + 4);
    const decoded = decodeSecretFile(await loadKeyFile(keyFile), NS, KEY, text);
    expect(decoded.versions.map((v) => [v.version, v.value, v.metadata.n])).toEqual([
      [1, 'sk_old_1', '1'],
      [2, 'sk_old_2', '2'],
      [3, 'sk_old_3', '3'],
      [4, 'sk_new_4', undefined],
    ]);
    expect(await (await open()).get(NS, KEY)).toMatchObject({ value: 'sk_new_4', version: 4 });
    // The next write appends to the migrated file.
    await backend.put(write(NS, KEY, 'sk_new_5', { access_tier: 'critical' }));
    expect(await lines()).toHaveLength(1 + 5);
    // Putting the pre-migration (v1) file back is a rollback the manifest catches.
    await fs.writeFile(fileOf(), v1Copy);
    expect((await caught((await open()).get(NS, KEY))).code).toBe('INTEGRITY_ERROR');
  });

  it('a write appends one line: same file (inode), every earlier byte unchanged', async () => {
    const backend = await open();
    await backend.put(write(NS, KEY, 'sk_1'));
    const before = await fs.readFile(fileOf());
    const { ino } = await fs.stat(fileOf());
    await backend.put(write(NS, KEY, 'sk_2'));
    await backend.put(write(NS, KEY, 'sk_3'));
    const after = await fs.readFile(fileOf());
    expect((await fs.stat(fileOf())).ino).toBe(ino);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    expect(await lines()).toHaveLength(1 + 3);
    expect(after.toString('utf8')).not.toContain('sk_');
    expect(await (await open()).get(NS, KEY)).toMatchObject({ value: 'sk_3', version: 3 });
  });

  it('a line torn by a crash mid-append is not served, and the next write cuts it and goes on', async () => {
    const backend = await open();
    await backend.put(write(NS, KEY, 'sk_1'));
    await backend.put(write(NS, KEY, 'sk_2'));
    const fileAt2 = await fs.readFile(fileOf());
    const manifest = path.join(storeDir, 'manifest.json');
    const manifestAt2 = await fs.readFile(manifest);
    await backend.put(write(NS, KEY, 'sk_lost'));
    const third = (await fs.readFile(fileOf())).subarray(fileAt2.length);
    // What a crash in the middle of the third append leaves: half its line, the manifest not yet updated.
    await fs.writeFile(fileOf(), Buffer.concat([fileAt2, third.subarray(0, Math.floor(third.length / 2))]));
    await fs.writeFile(manifest, manifestAt2);

    const fresh = await open();
    expect(await fresh.get(NS, KEY)).toMatchObject({ value: 'sk_2', version: 2 });
    expect(await fresh.list(NS)).toMatchObject([{ key: KEY, version: 2 }]);
    await fresh.put(write(NS, KEY, 'sk_3'));
    const text = await fs.readFile(fileOf(), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(await lines()).toHaveLength(1 + 3);
    expect(decodeSecretFile(await loadKeyFile(keyFile), NS, KEY, text).versions.map((v) => v.value)).toEqual(['sk_1', 'sk_2', 'sk_3']);
    expect(await (await open()).get(NS, KEY)).toMatchObject({ value: 'sk_3', version: 3 });
  });

  it('removing the last newline (the newest line read as torn) is a rollback the manifest catches', async () => {
    const backend = await open();
    await backend.put(write(NS, KEY, 'sk_1', { access_tier: 'standard' }));
    await backend.put(write(NS, KEY, 'sk_2', { access_tier: 'critical' }));
    const text = await fs.readFile(fileOf(), 'utf8');
    await fs.writeFile(fileOf(), text.slice(0, -1));
    const error = await caught((await open()).get(NS, KEY));
    expect(error.code).toBe('INTEGRITY_ERROR');
    expect(error.message).toMatch(/at version 1 but the store manifest records version 2/);
  });

  it('compaction keeps the newest max_versions and appending resumes after it, across processes sharing the file', async () => {
    const a = await open(2);
    const b = await open(2);
    for (let i = 1; i <= 9; i += 1) await (i % 2 ? a : b).put(write(NS, KEY, `sk_${i}`));
    // 1..4 appended (twice max_versions), 5 compacts to [4,5], 6 and 7 append, 8 compacts to [7,8], 9 appends.
    const decoded = decodeSecretFile(await loadKeyFile(keyFile), NS, KEY, await fs.readFile(fileOf(), 'utf8'));
    expect(decoded.versions.map((v) => v.version)).toEqual([7, 8, 9]);
    expect(await a.get(NS, KEY)).toMatchObject({ value: 'sk_9', version: 9 });
    expect(await b.get(NS, KEY)).toMatchObject({ value: 'sk_9', version: 9 });
  });
});
