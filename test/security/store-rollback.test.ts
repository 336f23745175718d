/**
 * Finding 6 of issue 9: someone who can write the store directory but holds no key puts back an
 * older copy of one secret's file. Before the store manifest, the old value and its old, lower
 * tier came back (a critical secret was served as standard). Now every such rollback is an
 * INTEGRITY_ERROR; a store without a manifest gets one when opened.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretBackend } from '../../src/adapters/backend.js';
import { createFileBackend, createKeyFile } from '../../src/adapters/file/index.js';
import { encodeSecretFile, secretFileName } from '../../src/adapters/file/secret-file.js';
import { caught, write } from '../helpers/backend-fixtures.js';

let root: string;
let storeDir: string;
let keyFile: string;
let backend: SecretBackend;
const NS = 'production/stripe';
const KEY = 'STRIPE_SECRET_KEY';
const fileOf = () => path.join(storeDir, 'secrets', secretFileName(NS, KEY));
const open = () => createFileBackend({ type: 'file', path: storeDir, key_file: keyFile });

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(tmpdir(), 'ass-rollback-'));
  storeDir = path.join(root, 'store');
  keyFile = path.join(root, 'store.key');
  await createKeyFile(keyFile);
  backend = await open();
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function rolledBack(): Promise<string> {
  const error = await caught(backend.get(NS, KEY));
  expect(error.code).toBe('INTEGRITY_ERROR');
  expect(error.message).not.toContain('sk_live');
  return error.message;
}

describe('store manifest', () => {
  it('refuses an older copy of a secret file put back (the critical secret is not served as standard)', async () => {
    await backend.put(write(NS, KEY, 'sk_live_old', { access_tier: 'standard' }));
    const old = await fs.readFile(fileOf());
    await backend.put(write(NS, KEY, 'sk_live_new', { access_tier: 'critical' }));
    await fs.writeFile(fileOf(), old);
    expect(await rolledBack()).toMatch(/at version 1 but the store manifest records version 2 \(its file was rolled back/);
    // Every process sees it, not only the one that wrote.
    backend = await open();
    await rolledBack();
    await expect(backend.list(NS)).rejects.toMatchObject({ code: 'INTEGRITY_ERROR' });
  });

  it('refuses a deleted secret\'s file put back, and an old incarnation after delete and re-create', async () => {
    await backend.put(write(NS, KEY, 'sk_live_deleted', { access_tier: 'standard' }));
    const old = await fs.readFile(fileOf());
    expect(await backend.delete(NS, KEY)).toBe(true);
    await fs.writeFile(fileOf(), old);
    expect(await rolledBack()).toMatch(/was deleted, according to the store manifest/);
    await fs.rm(fileOf());
    await backend.put(write(NS, KEY, 'sk_live_again', { access_tier: 'critical' }));
    await fs.writeFile(fileOf(), old);
    expect(await rolledBack()).toMatch(/was deleted, according to the store manifest/);
    // A human deletes the bad file and sets the secret again: that works.
    expect(await backend.delete(NS, KEY)).toBe(true);
    await backend.put(write(NS, KEY, 'sk_live_fixed', { access_tier: 'critical' }));
    expect(await backend.get(NS, KEY)).toMatchObject({ value: 'sk_live_fixed', version: 1 });
  });

  it('refuses an edited manifest', async () => {
    await backend.put(write(NS, KEY, 'sk_live_v1'));
    await backend.put(write(NS, KEY, 'sk_live_v2'));
    const file = path.join(storeDir, 'manifest.json');
    const manifest = JSON.parse(await fs.readFile(file, 'utf8'));
    manifest.entries[secretFileName(NS, KEY)].version = 1;
    manifest.entries[secretFileName(NS, KEY)].tier = 'standard';
    await fs.writeFile(file, JSON.stringify(manifest));
    const error = await caught(backend.get(NS, KEY));
    expect(error).toMatchObject({ code: 'INTEGRITY_ERROR', message: expect.stringMatching(/store manifest \(manifest\.json\) failed its integrity check/) });
  });

  it('accepts a file newer than the manifest (a crash between the file and the manifest write)', async () => {
    const empty = await fs.readFile(path.join(storeDir, 'manifest.json'));
    await backend.put(write(NS, KEY, 'sk_live_v1'));
    const manifest = await fs.readFile(path.join(storeDir, 'manifest.json'));
    await backend.put(write(NS, KEY, 'sk_live_v2'));
    await fs.writeFile(path.join(storeDir, 'manifest.json'), manifest);
    expect(await backend.get(NS, KEY)).toMatchObject({ value: 'sk_live_v2', version: 2 });
    // A create whose manifest update was lost: its id was never seen, so it is accepted.
    await fs.writeFile(path.join(storeDir, 'manifest.json'), empty);
    expect(await backend.get(NS, KEY)).toMatchObject({ value: 'sk_live_v2', version: 2 });
  });

  it('a store written before the manifest gets one when opened, and rollbacks are caught from then on', async () => {
    // Files as a store before the manifest wrote them: no `manifested` mark in the sealed plaintext.
    const storeKey = await fs.readFile(keyFile);
    const version = (n: number, value: string, tier: 'standard' | 'critical') => ({ version: n, value, secret_type: 'api_key' as const, access_tier: tier, metadata: {}, updated_at: new Date().toISOString() });
    const v1 = encodeSecretFile(storeKey, NS, KEY, { id: 'pre-manifest', created_at: new Date().toISOString(), versions: [version(1, 'sk_live_v1', 'standard')] });
    const v2 = encodeSecretFile(storeKey, NS, KEY, { id: 'pre-manifest', created_at: new Date().toISOString(), versions: [version(1, 'sk_live_v1', 'standard'), version(2, 'sk_live_v2', 'critical')] });
    await fs.rm(path.join(storeDir, 'manifest.json'), { force: true });
    await fs.writeFile(fileOf(), v2, { mode: 0o600 });
    backend = await open();
    const manifest = JSON.parse(await fs.readFile(path.join(storeDir, 'manifest.json'), 'utf8'));
    expect(manifest.entries[secretFileName(NS, KEY)]).toMatchObject({ version: 2, tier: 'critical' });
    expect(await backend.get(NS, KEY)).toMatchObject({ value: 'sk_live_v2' });
    await fs.writeFile(fileOf(), v1);
    await rolledBack();
  });

  it('a removed manifest does not switch detection off: files written under one refuse to be read without it, and it is not rebuilt', async () => {
    await backend.put(write(NS, KEY, 'sk_live_v1', { access_tier: 'standard' }));
    const old = await fs.readFile(fileOf());
    await backend.put(write(NS, KEY, 'sk_live_v2', { access_tier: 'critical' }));
    await fs.rm(path.join(storeDir, 'manifest.json'));
    await fs.writeFile(fileOf(), old);
    expect(await rolledBack()).toMatch(/manifest\.json\) is missing/);
    await expect(open()).rejects.toMatchObject({ code: 'INTEGRITY_ERROR' });
    await expect(fs.stat(path.join(storeDir, 'manifest.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
