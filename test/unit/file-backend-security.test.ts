/**
 * Security properties of the file backend and the durable-file helpers: tamper detection,
 * key handling, kdf bounds, file modes, no plaintext on disk, lock behaviour.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/** Counts scrypt runs (the real scrypt still does the work), to prove bounds come first. */
const scryptSpy = vi.hoisted(() => ({ calls: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const scrypt = (...args: unknown[]) => {
    scryptSpy.calls += 1;
    return (real.scrypt as (...a: unknown[]) => void)(...args);
  };
  return { ...real, scrypt, default: { ...real, scrypt } };
});
import type { SecretBackend } from '../../src/adapters/backend.js';
import { createFileBackend, createKeyFile, loadKeyFile } from '../../src/adapters/file/index.js';
import { DecodedCache } from '../../src/adapters/file/file-backend.js';
import { decodeSecretFile, encodeSecretFile, secretFileName } from '../../src/adapters/file/secret-file.js';
import { ensurePrivateDir, withFileLock, writeFileAtomic } from '../../src/shared/durable-file.js';
import { AssError, isAssError, type ErrorCode } from '../../src/shared/errors.js';
import { caught, write } from '../helpers/backend-fixtures.js';

const posix = process.platform !== 'win32';
let root: string;
let storeDir: string;
let keyFile: string;
let backend: SecretBackend;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(tmpdir(), 'ass-file-sec-'));
  storeDir = path.join(root, 'store');
  keyFile = path.join(root, 'store.key');
  await createKeyFile(keyFile);
  backend = await createFileBackend({ type: 'file', path: storeDir, key_file: keyFile });
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});


async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<AssError> {
  const error = await caught(promise);
  expect(error.code).toBe(code);
  return error;
}

function secretPath(namespace: string, key: string): string {
  return path.join(storeDir, 'secrets', secretFileName(namespace, key));
}

/** The JSON lines of a secret file: a v1 file is one line; a v2 file its header, then one line per version. */
async function readJsonLines(file: string): Promise<Record<string, string>[]> {
  return (await fs.readFile(file, 'utf8')).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, string>);
}

async function writeJsonLines(file: string, lines: Record<string, unknown>[]): Promise<void> {
  await fs.writeFile(file, lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
}

/** Puts a v1 file (the format before append-a-version, written by its own encoder) in place of `namespace/key`. */
async function writeV1File(namespace: string, key: string, value: string): Promise<void> {
  const now = new Date().toISOString();
  const secret = { id: randomUUID(), created_at: now, manifested: true as const, versions: [{ version: 1, value, secret_type: 'api_key' as const, access_tier: 'standard' as const, metadata: {}, updated_at: now }] };
  await fs.writeFile(secretPath(namespace, key), encodeSecretFile(await loadKeyFile(keyFile), namespace, key, secret));
}

function flipBase64(text: string, byteIndex = 0): string {
  const bytes = Buffer.from(text, 'base64');
  bytes[byteIndex] = (bytes[byteIndex] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

/**
 * What a secret file means, independent of its spelling: every line's fields, with base64 fields
 * (iv, tag, ciphertext) as their decoded bytes, as one comparable string; null when the text is
 * not complete JSON lines (a line that does not parse, or a last line without its newline).
 */
function fileFields(bytes: Buffer): string | null {
  const text = bytes.toString('utf8');
  if (!text.endsWith('\n')) return null;
  const b64 = (v: unknown) => (typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) ? Buffer.from(v, 'base64').toString('hex') : `invalid:${String(v)}`);
  const lines: unknown[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return null;
    }
    if (typeof parsed !== 'object' || parsed === null) return null;
    const f = parsed as Record<string, unknown>;
    lines.push(Object.keys(f).sort().map((k) => [k, ['iv', 'tag', 'ciphertext'].includes(k) ? b64(f[k]) : f[k]]));
  }
  return JSON.stringify(lines);
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await allFiles(full)));
    else out.push(full);
  }
  return out;
}

describe('tamper detection', () => {
  const ns = 'production/x';
  const canary = () => `sk-live-${randomBytes(12).toString('hex')}`;

  /** Each mutation changes the header (`h`) or the newest version's sealed line (`f`); in a v1 file they are one line. */
  const mutations: Record<string, (h: Record<string, string>, f: Record<string, string>) => void> = {
    'iv byte flipped': (_h, f) => (f.iv = flipBase64(f.iv!)),
    'tag byte flipped': (_h, f) => (f.tag = flipBase64(f.tag!)),
    'first ciphertext byte flipped': (_h, f) => (f.ciphertext = flipBase64(f.ciphertext!)),
    'last ciphertext byte flipped': (_h, f) => (f.ciphertext = flipBase64(f.ciphertext!, Buffer.from(f.ciphertext!, 'base64').length - 1)),
    'header namespace changed': (h) => (h.namespace = 'production/y'),
    'header key changed': (h) => (h.key = 'KEY2'),
    'header format changed': (h) => (h.format = h.format === 'ass-file-v2' ? 'ass-file-v1' : 'ass-file-v2'),
    'iv shortened': (_h, f) => (f.iv = Buffer.from(f.iv!, 'base64').subarray(0, 8).toString('base64')),
    'tag removed': (_h, f) => delete f.tag,
  };
  /** v2 only: the clear fields bound into every version's associated data, and the order of versions. */
  const v2Mutations: Record<string, (lines: Record<string, string>[]) => void> = {
    'header id changed': (lines) => (lines[0]!.id = randomUUID()),
    'header created_at changed': (lines) => (lines[0]!.created_at = new Date(0).toISOString()),
    'a version number changed': (lines) => ((lines[2] as unknown as { version: number }).version = 3),
    'a middle version removed': (lines) => void lines.splice(2, 1),
    'two versions swapped': (lines) => void lines.splice(2, 2, lines[3]!, lines[2]!),
    'a version line duplicated': (lines) => void lines.splice(2, 0, { ...lines[2]! }),
  };

  const layouts = {
    /** The current layout: written by put (two versions, so the newest is an appended line). */
    v2: async (value: string) => {
      await backend.put(write(ns, 'KEY', canary()));
      await backend.put(write(ns, 'KEY', value));
    },
    /** An older store's file, still read (written by the v1 encoder). */
    v1: (value: string) => writeV1File(ns, 'KEY', value),
  };

  for (const [layout, setUp] of Object.entries(layouts)) {
    for (const [label, mutate] of Object.entries(mutations)) {
      it(`${layout} file: ${label} -> INTEGRITY_ERROR, no plaintext in the error`, async () => {
        const value = canary();
        await setUp(value);
        const file = secretPath(ns, 'KEY');
        const lines = await readJsonLines(file);
        mutate(lines[0]!, lines.at(-1)!);
        await writeJsonLines(file, lines);
        const error = await expectCode(backend.get(ns, 'KEY'), 'INTEGRITY_ERROR');
        expect(error.message).toContain('The stored secret production/x/KEY failed its integrity check (tampered or truncated file).');
        expect(JSON.stringify({ message: error.message, details: error.details, stack: error.stack })).not.toContain(value);
        // A write on top of a damaged file is refused too, rather than silently replacing history.
        await expectCode(backend.put(write(ns, 'KEY', 'new')), 'INTEGRITY_ERROR');
        await expectCode(backend.list(ns), 'INTEGRITY_ERROR');
        await expectCode(backend.listNamespaces(), 'INTEGRITY_ERROR');
      });
    }
  }

  for (const [label, mutate] of Object.entries(v2Mutations)) {
    it(`v2 file: ${label} -> INTEGRITY_ERROR, and a write on top is refused`, async () => {
      for (let i = 0; i < 3; i += 1) await backend.put(write(ns, 'KEY', canary()));
      const value = canary();
      await backend.put(write(ns, 'KEY', value));
      const file = secretPath(ns, 'KEY');
      const lines = await readJsonLines(file);
      expect(lines).toHaveLength(5);
      mutate(lines);
      await writeJsonLines(file, lines);
      const error = await expectCode(backend.get(ns, 'KEY'), 'INTEGRITY_ERROR');
      expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(value);
      await expectCode(backend.put(write(ns, 'KEY', 'new')), 'INTEGRITY_ERROR');
    });
  }

  it('a raw byte flipped anywhere in the file -> INTEGRITY_ERROR, unless the flip left every field as it was', async () => {
    const value = canary();
    await backend.put(write(ns, 'KEY', value));
    const file = secretPath(ns, 'KEY');
    const original = await fs.readFile(file);
    const originalFields = fileFields(original);
    let refused = 0;
    for (let i = 0; i < original.length; i++) {
      const bytes = Buffer.from(original);
      bytes[i] = bytes[i]! ^ 0x04;
      await fs.writeFile(file, bytes);
      const outcome = await backend.get(ns, 'KEY').then(
        (record) => record,
        (e: unknown) => e,
      );
      const fields = fileFields(bytes);
      // Only a flip that decodes to the very same header and sealed bytes (JSON whitespace, a
      // base64 padding bit) may be served, and then with the value intact; any other flip —
      // in particular one inside the ciphertext, which GCM without its tag check would decrypt
      // to a changed value — must be refused.
      if (fields !== null && fields === originalFields) {
        expect(outcome, `byte ${i}`).toMatchObject({ value, version: 1 });
      } else {
        expect(isAssError(outcome) ? outcome.code : outcome, `byte ${i}`).toBe('INTEGRITY_ERROR');
        refused += 1;
      }
    }
    // The sweep changed the sealed bytes many times, so the refusals above are the GCM check at work.
    expect(refused).toBeGreaterThan(original.length / 2);
  });

  it('a truncated file -> INTEGRITY_ERROR', async () => {
    await backend.put(write(ns, 'KEY', canary()));
    const file = secretPath(ns, 'KEY');
    const original = await fs.readFile(file);
    for (const length of [0, 1, Math.floor(original.length / 2), original.length - 3]) {
      await fs.writeFile(file, original.subarray(0, length));
      await expectCode(backend.get(ns, 'KEY'), 'INTEGRITY_ERROR');
    }
  });

  it("a file copied over another secret's name -> INTEGRITY_ERROR", async () => {
    await backend.put(write(ns, 'KEY', canary()));
    await backend.put(write(ns, 'OTHER', canary()));
    await fs.copyFile(secretPath(ns, 'OTHER'), secretPath(ns, 'KEY'));
    await expectCode(backend.get(ns, 'KEY'), 'INTEGRITY_ERROR');
    await expectCode(backend.list(ns), 'INTEGRITY_ERROR');
  });

  it('a swapped file with its header rewritten is caught by the associated data', async () => {
    await backend.put(write(ns, 'KEY', canary()));
    await backend.put(write(ns, 'OTHER', canary()));
    const [header, ...versions] = await readJsonLines(secretPath(ns, 'OTHER'));
    await writeJsonLines(secretPath(ns, 'KEY'), [{ ...header, key: 'KEY' }, ...versions]);
    await expectCode(backend.get(ns, 'KEY'), 'INTEGRITY_ERROR');
    await expectCode(backend.list(ns), 'INTEGRITY_ERROR');
  });

  it('listing reports garbage files and skips temp files and lock dirs', async () => {
    await backend.put(write(ns, 'KEY', 'v'));
    const secrets = path.join(storeDir, 'secrets');
    await fs.writeFile(path.join(secrets, `.${secretFileName(ns, 'KEY')}.0123abcd.tmp`), 'half-written');
    await fs.mkdir(path.join(secrets, `${secretFileName(ns, 'ZZZ')}.lock`));
    expect((await backend.list(ns)).map((s) => s.key)).toEqual(['KEY']);
    const garbage = secretFileName('elsewhere', 'G');
    await fs.writeFile(path.join(secrets, garbage), 'not json at all');
    const error = await expectCode(backend.list(ns), 'INTEGRITY_ERROR');
    expect(error.message).toContain(garbage);
    await expectCode(backend.listNamespaces(), 'INTEGRITY_ERROR');
  });
});

describe('the decrypted-secret cache', () => {
  const ns = 'production/cache';

  it('cannot mask tampering: a secret read before a flipped byte is refused after it, and served again once restored', async () => {
    const value = `sk-${randomBytes(8).toString('hex')}`;
    await backend.put(write(ns, 'KEY', value));
    expect((await backend.get(ns, 'KEY'))?.value).toBe(value);
    const file = secretPath(ns, 'KEY');
    const original = await fs.readFile(file, 'utf8');
    const lines = await readJsonLines(file);
    lines.at(-1)!.ciphertext = flipBase64(lines.at(-1)!.ciphertext!, 3);
    await writeJsonLines(file, lines);
    expect((await fs.readFile(file, 'utf8')).length).toBe(original.length);
    await expectCode(backend.get(ns, 'KEY'), 'INTEGRITY_ERROR');
    await expectCode(backend.list(ns), 'INTEGRITY_ERROR');
    await fs.writeFile(file, original);
    expect((await backend.get(ns, 'KEY'))?.value).toBe(value);
  });

  it("sees another process's write and delete on the very next read", async () => {
    const other = await createFileBackend({ type: 'file', path: storeDir, key_file: keyFile });
    await backend.put(write(ns, 'SHARED', 'one'));
    expect((await backend.get(ns, 'SHARED'))?.value).toBe('one');
    await other.put(write(ns, 'SHARED', 'two'));
    expect(await backend.get(ns, 'SHARED')).toMatchObject({ value: 'two', version: 2 });
    // A check-and-set write decides on the file as it is now, not on what was read before.
    await expectCode(backend.put(write(ns, 'SHARED', 'stale'), { expectedVersion: 1 }), 'CONFLICT');
    expect(await other.delete(ns, 'SHARED')).toBe(true);
    expect(await backend.get(ns, 'SHARED')).toBeNull();
  });

  it('keeps what decoding the file returns, not the object a writer built', async () => {
    const other = await createFileBackend({ type: 'file', path: storeDir, key_file: keyFile });
    // An own "__proto__" key, as JSON.parse makes it; the stored schema drops it.
    const metadata = JSON.parse('{"__proto__": "x", "team": "ml"}') as Record<string, string>;
    await backend.put({ ...write(ns, 'PROTO', 'v'), metadata });
    const mine = await backend.get(ns, 'PROTO');
    const theirs = await other.get(ns, 'PROTO');
    expect(Object.keys(mine!.metadata)).toEqual(Object.keys(theirs!.metadata));
  });

  it('a listing adds nothing to the cache and drops what another process deleted', async () => {
    const cache = (b: SecretBackend) => (b as unknown as { decoded: DecodedCache }).decoded;
    const other = await createFileBackend({ type: 'file', path: storeDir, key_file: keyFile });
    await other.put(write(ns, 'LISTED', 'listed-only'));
    await backend.put(write(ns, 'GONE', 'deleted-elsewhere'));
    expect(cache(backend).size).toBe(1);
    expect((await backend.list(ns)).map((s) => s.key)).toEqual(['GONE', 'LISTED']);
    await backend.listNamespaces();
    expect(cache(backend).size).toBe(1);
    await other.delete(ns, 'GONE');
    await backend.list(ns);
    expect(cache(backend).size).toBe(0);
  });

  it('a caller cannot change what the next read returns', async () => {
    await backend.put({ ...write(ns, 'META', 'v'), metadata: { team: 'ml' } });
    const first = await backend.get(ns, 'META');
    first!.metadata.team = 'changed';
    (first as { value: string }).value = 'changed';
    expect(await backend.get(ns, 'META')).toMatchObject({ value: 'v', metadata: { team: 'ml' } });
  });

  it('is bounded in entries and bytes, and a different text is a miss', () => {
    const secret = (v: string) => ({ id: 'i', created_at: 't', versions: [{ version: 1, value: v, secret_type: 'custom' as const, access_tier: 'standard' as const, metadata: {}, updated_at: 't' }] });
    const byEntries = new DecodedCache(2, 1_000_000);
    byEntries.set('a', 'A', secret('a'));
    byEntries.set('b', 'B', secret('b'));
    byEntries.set('c', 'C', secret('c'));
    expect(byEntries.get('a', 'A')).toBeUndefined();
    expect(byEntries.get('b', 'B')?.versions[0]?.value).toBe('b');
    expect(byEntries.get('c', 'C')?.versions[0]?.value).toBe('c');
    expect(byEntries.get('c', 'C2')).toBeUndefined();
    // 1000 bytes: ten texts of 50 characters (100 bytes each, counted twice for the plaintext).
    const byBytes = new DecodedCache(100, 1000);
    const text = (i: number) => String(i).padStart(50, '.');
    for (let i = 0; i < 10; i++) byBytes.set(`n${i}`, text(i), secret(`v${i}`));
    // A hit makes n0 the most recently used, so the eleventh text pushes out n1 instead.
    expect(byBytes.get('n0', text(0))).toBeDefined();
    byBytes.set('n10', text(10), secret('v10'));
    expect(byBytes.get('n1', text(1))).toBeUndefined();
    expect(byBytes.get('n0', text(0))).toBeDefined();
    expect(byBytes.get('n2', text(2))).toBeDefined();
    // One file over an eighth of the budget is not kept at all.
    byBytes.set('huge', 'h'.repeat(70), secret('h'));
    expect(byBytes.get('huge', 'h'.repeat(70))).toBeUndefined();
    expect(byBytes.get('n10', text(10))).toBeDefined();
  });
});

describe('keys and passphrases', () => {
  it('a wrong key file is refused with a message naming the key file', async () => {
    await backend.put(write('a', 'K', 'v'));
    const otherKey = path.join(root, 'other.key');
    await createKeyFile(otherKey);
    const error = await expectCode(createFileBackend({ type: 'file', path: storeDir, key_file: otherKey }), 'INTEGRITY_ERROR');
    expect(error.message).toContain(otherKey);
    expect(error.message).toMatch(/not the key this store was written with/);
  });

  it('a wrong key without a key check: the agent hears to check the key, without any server path', async () => {
    await backend.put(write('a', 'K', 'v'));
    await fs.rm(path.join(storeDir, 'key-check.json'));
    const otherKey = path.join(root, 'other.key');
    await createKeyFile(otherKey);
    const wrong = await createFileBackend({ type: 'file', path: storeDir, key_file: otherKey });
    const error = await expectCode(wrong.get('a', 'K'), 'INTEGRITY_ERROR');
    expect(error.message).toMatch(/check that its key \(key file or passphrase\) is the one it was written with/);
    expect(error.message).not.toContain(root);
  });

  it('a wrong passphrase says "wrong passphrase", not "tampered"', async () => {
    const dir = path.join(root, 'pp');
    const good = await createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'right one' });
    await good.put(write('a', 'K', 'v'));
    const error = await expectCode(createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'wrong one' }), 'INTEGRITY_ERROR');
    expect(error.message).toMatch(/^Wrong passphrase: the passphrase in \$PP does not unlock this store/);
    expect(error.message).not.toMatch(/tampered/);
    expect(error.message).not.toContain('wrong one');
    const again = await createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'right one' });
    expect((await again.get('a', 'K'))?.value).toBe('v');
  });

  it('a missing passphrase variable is CONFIG_INVALID naming the variable', async () => {
    const error = await expectCode(createFileBackend({ type: 'file', path: path.join(root, 'pp'), passphrase_env: 'ASS_NOPE' }, {}), 'CONFIG_INVALID');
    expect(error.message).toContain('ASS_NOPE');
  });

  it('config needs exactly one of key_file / passphrase_env', async () => {
    await expectCode(createFileBackend({ type: 'file', path: storeDir }), 'CONFIG_INVALID');
    await expectCode(createFileBackend({ type: 'file', path: storeDir, key_file: keyFile, passphrase_env: 'X' }, { X: 'p' }), 'CONFIG_INVALID');
  });

  it('a tampered kdf.json (N=2^40 and other out-of-bounds values) is refused before any scrypt runs', async () => {
    const dir = path.join(root, 'pp');
    await createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'pass' });
    const kdfPath = path.join(dir, 'kdf.json');
    const original = JSON.parse(await fs.readFile(kdfPath, 'utf8')) as Record<string, unknown>;
    expect(original).toMatchObject({ N: 2 ** 15, r: 8, p: 1 });
    // The spy sees scrypt: opening the untampered store runs it once.
    const before = scryptSpy.calls;
    await createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'pass' });
    expect(scryptSpy.calls).toBe(before + 1);
    const tampered: Array<Record<string, unknown>> = [
      { N: 2 ** 40 },
      { N: 2 ** 21 },
      { N: 3000 },
      { r: 17 },
      { p: 5 },
      { N: 2 ** 20, r: 16 },
      { salt: randomBytes(8).toString('base64') },
      { salt: randomBytes(65).toString('base64') },
      { N: 'big' },
    ];
    for (const change of tampered) {
      await fs.writeFile(kdfPath, JSON.stringify({ ...original, ...change }));
      const scryptRuns = scryptSpy.calls;
      const error = await expectCode(createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'pass' }), 'INTEGRITY_ERROR');
      // "Fast" without a stopwatch: refused before any scrypt work started.
      expect(scryptSpy.calls, JSON.stringify(change)).toBe(scryptRuns);
      expect(error.message).toMatch(/kdf\.json/);
    }
  });

  it('a passphrase store whose kdf.json vanished is refused instead of re-keyed', async () => {
    const dir = path.join(root, 'pp');
    const good = await createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'pass' });
    await good.put(write('a', 'K', 'v'));
    await fs.rm(path.join(dir, 'kdf.json'));
    const error = await expectCode(createFileBackend({ type: 'file', path: dir, passphrase_env: 'PP' }, { PP: 'pass' }), 'INTEGRITY_ERROR');
    expect(error.message).toMatch(/kdf\.json is missing/);
  });

  it('createKeyFile refuses to overwrite; loadKeyFile checks length and mode', async () => {
    await expectCode(createKeyFile(keyFile), 'CONFIG_INVALID');
    expect((await loadKeyFile(keyFile)).length).toBe(32);
    const short = path.join(root, 'short.key');
    await fs.writeFile(short, randomBytes(16), { mode: 0o600 });
    expect((await expectCode(loadKeyFile(short), 'CONFIG_INVALID')).message).toMatch(/exactly 32 bytes/);
    if (posix) {
      await fs.chmod(keyFile, 0o644);
      const error = await expectCode(loadKeyFile(keyFile), 'CONFIG_INVALID');
      expect(error.message).toMatch(/readable by group or others \(mode 0644\)/);
      expect(error.message).toContain(`chmod 600 ${keyFile}`);
    }
    await expectCode(loadKeyFile(path.join(root, 'absent.key')), 'CONFIG_INVALID');
  });
});

describe('at rest', () => {
  it.runIf(posix)('files are 0600 and directories 0700', async () => {
    await backend.put(write('ns', 'K', 'v'));
    const pp = path.join(root, 'pp');
    await createFileBackend({ type: 'file', path: pp, passphrase_env: 'PP' }, { PP: 'pass' });
    const mode = async (p: string) => (await fs.stat(p)).mode & 0o777;
    expect(await mode(keyFile)).toBe(0o600);
    expect(await mode(storeDir)).toBe(0o700);
    expect(await mode(path.join(storeDir, 'secrets'))).toBe(0o700);
    expect(await mode(secretPath('ns', 'K'))).toBe(0o600);
    expect(await mode(path.join(storeDir, 'key-check.json'))).toBe(0o600);
    expect(await mode(path.join(pp, 'kdf.json'))).toBe(0o600);
    expect(await mode(path.join(pp, 'secrets'))).toBe(0o700);
  });

  it('no file under the store holds a written value (plain, base64 or hex)', async () => {
    const canary = `canary-${randomBytes(24).toString('hex')}`;
    for (let i = 0; i < 3; i += 1) await backend.put(write('prod/app', 'TOKEN', canary, { metadata: { v: String(i) } }));
    await backend.put(write('prod/app', 'OTHER', `${canary}-2`));
    const needles = [Buffer.from(canary)];
    for (let shift = 0; shift < 3; shift += 1) {
      // Base64 of the canary at each alignment; drop the edges that depend on neighbours.
      const b64 = Buffer.concat([Buffer.alloc(shift), Buffer.from(canary)]).toString('base64');
      needles.push(Buffer.from(b64.slice(4, -4)));
    }
    needles.push(Buffer.from(Buffer.from(canary).toString('hex')));
    const files = await allFiles(root);
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const content = await fs.readFile(file);
      for (const needle of needles) expect(content.includes(needle), `${file} holds the canary`).toBe(false);
    }
    expect(JSON.stringify(await backend.list('prod/app'))).not.toContain(canary);
  });

  it('keeps the newest max_versions versions (appending up to twice that, then compacting) while version numbers keep growing', async () => {
    const small = await createFileBackend({ type: 'file', path: storeDir, key_file: keyFile, max_versions: 3 });
    const key = await loadKeyFile(keyFile);
    const versionsOnDisk = async () => decodeSecretFile(key, 'ns', 'K', await fs.readFile(secretPath('ns', 'K'), 'utf8')).versions.map((v) => [v.version, v.value]);
    for (let i = 1; i <= 6; i += 1) await small.put(write('ns', 'K', `v${i}`));
    // Appended: six lines, twice max_versions, the most a file holds.
    expect(await versionsOnDisk()).toEqual([1, 2, 3, 4, 5, 6].map((n) => [n, `v${n}`]));
    await small.put(write('ns', 'K', 'v7'));
    expect(await small.get('ns', 'K')).toMatchObject({ version: 7, value: 'v7' });
    // The seventh would exceed it: the file is rewritten with the newest three.
    expect(await versionsOnDisk()).toEqual([
      [5, 'v5'],
      [6, 'v6'],
      [7, 'v7'],
    ]);
    await small.put(write('ns', 'K', 'v8'));
    expect(await versionsOnDisk()).toEqual([5, 6, 7, 8].map((n) => [n, `v${n}`]));
  });

  it('oversized values are refused before any I/O; NUL in names is refused', async () => {
    await expectCode(backend.put(write('big', 'K', 'x'.repeat(65_537))), 'VALUE_TOO_LARGE');
    expect(await fs.readdir(path.join(storeDir, 'secrets'))).toEqual([]);
    await expectCode(backend.put(write('a\0b', 'K', 'v')), 'INVALID_ARGUMENT');
    await expectCode(backend.get('a', 'K\0'), 'INVALID_ARGUMENT');
  });

  it('a check-and-set conflict says what happened', async () => {
    await backend.put(write('ns', 'K', 'v'));
    const error = await expectCode(backend.put(write('ns', 'K', 'v'), { expectedVersion: 0 }), 'CONFLICT');
    expect(error.message).toBe('ns/K is at version 1, not 0: someone else wrote it. Read it again before writing.');
    expect(error.retryable).toBe(true);
  });

  it('health reports a key that does not unlock the store', async () => {
    expect(await backend.health()).toMatchObject({ ok: true });
    await fs.rm(path.join(storeDir, 'key-check.json'));
    expect((await backend.health()).ok).toBe(false);
  });
});

describe('durable-file helpers', () => {
  it.runIf(posix)('writeFileAtomic writes with the mode and leaves no temp file; cleans up on failure', async () => {
    const dir = path.join(root, 'd');
    await fs.mkdir(dir);
    const target = path.join(dir, 'f.json');
    await writeFileAtomic(target, 'one');
    await writeFileAtomic(target, new Uint8Array([116, 119, 111]), 0o640);
    expect(await fs.readFile(target, 'utf8')).toBe('two');
    expect((await fs.stat(target)).mode & 0o777).toBe(0o640);
    expect(await fs.readdir(dir)).toEqual(['f.json']);
    const blocked = path.join(dir, 'sub');
    await fs.mkdir(path.join(blocked, 'child'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'x')).rejects.toThrow();
    expect((await fs.readdir(dir)).sort()).toEqual(['f.json', 'sub']);
  });

  it.runIf(posix)('ensurePrivateDir creates nested dirs 0700 and tightens an existing one', async () => {
    const nested = path.join(root, 'a', 'b');
    await ensurePrivateDir(nested);
    expect((await fs.stat(nested)).mode & 0o777).toBe(0o700);
    const loose = path.join(root, 'loose');
    await fs.mkdir(loose, { mode: 0o755 });
    await fs.chmod(loose, 0o755);
    await ensurePrivateDir(loose);
    expect((await fs.stat(loose)).mode & 0o777).toBe(0o700);
  });

  it('withFileLock serializes concurrent callers in one process and releases after a throw', async () => {
    const target = path.join(root, 'counter');
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        withFileLock(target, async () => {
          active += 1;
          maxActive = Math.max(maxActive, active);
          await fs.writeFile(path.join(root, 'scratch'), String(i));
          order.push(i);
          active -= 1;
        }),
      ),
    );
    expect(maxActive).toBe(1);
    expect(order).toEqual(Array.from({ length: 25 }, (_, i) => i));
    await expect(withFileLock(target, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await withFileLock(target, async () => 'free again', { timeoutMs: 2000 })).toBe('free again');
    await expect(fs.stat(`${target}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('withFileLock times out with BACKEND_UNAVAILABLE while another holder keeps the lock', async () => {
    const target = path.join(root, 'held');
    // Another process's lock: the file exists and is fresh.
    await fs.writeFile(`${target}.lock`, '');
    try {
      // On an injected clock: it gives up at its deadline (not before), whatever the machine's speed.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      let attempt: Promise<unknown>;
      let settled = false;
      try {
        attempt = withFileLock(target, async () => 'never', { timeoutMs: 300 }).finally(() => (settled = true));
        attempt.catch(() => undefined);
        await vi.advanceTimersByTimeAsync(299);
        expect(settled, 'still waiting before its deadline').toBe(false);
        await vi.advanceTimersByTimeAsync(30);
        expect(settled, 'given up just after its deadline').toBe(true);
      } finally {
        vi.useRealTimers();
      }
      const error = await expectCode(attempt, 'BACKEND_UNAVAILABLE');
      expect(error.message).toMatch(/^Timed out waiting for the lock on the store; another process holds it\./);
      // The in-process queue times out too when the holder is one of ours.
      let unblock!: () => void;
      const blocker = new Promise<void>((resolve) => (unblock = resolve));
      const mine = path.join(root, 'mine');
      const holder = withFileLock(mine, () => blocker);
      await expectCode(withFileLock(mine, async () => 'never', { timeoutMs: 200 }), 'BACKEND_UNAVAILABLE');
      unblock();
      await holder;
      expect(await withFileLock(mine, async () => 'ok', { timeoutMs: 2000 })).toBe('ok');
    } finally {
      await fs.rm(`${target}.lock`);
    }
  });

  it('withFileLock takes over a stale lock left by a dead process (a lock file, or an older version\'s lock directory)', async () => {
    const old = new Date(Date.now() - 60_000);
    for (const kind of ['file', 'dir'] as const) {
      const target = path.join(root, `stale-${kind}`);
      if (kind === 'file') await fs.writeFile(`${target}.lock`, '');
      else await fs.mkdir(`${target}.lock`);
      await fs.utimes(`${target}.lock`, old, old);
      expect(await withFileLock(target, async () => 'recovered', { timeoutMs: 2000 })).toBe('recovered');
      await expect(fs.stat(`${target}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });

  it('withFileLock waits for a fresh lock directory of an older version instead of taking it', async () => {
    const target = path.join(root, 'old-holder');
    await fs.mkdir(`${target}.lock`);
    await expectCode(withFileLock(target, async () => 'never', { timeoutMs: 200 }), 'BACKEND_UNAVAILABLE');
    expect((await fs.stat(`${target}.lock`)).isDirectory()).toBe(true);
  });

  it('withFileLock keeps a long-held lock fresh, so no other process takes it over', async () => {
    const target = path.join(root, 'long');
    const staleMs = 400;
    const ages: number[] = [];
    // An injected clock: the refresh timer and Date are fake, so the ages below are what the
    // code did at each simulated instant, not how fast this machine happened to be.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    try {
      await withFileLock(target, async () => {
        // Hold for three stale periods, sampling the lock's age as another process would see it.
        for (let i = 0; i < 12; i++) {
          await vi.advanceTimersByTimeAsync(100);
          ages.push(Date.now() - (await fs.stat(`${target}.lock`)).mtimeMs);
        }
      }, { staleMs });
    } finally {
      vi.useRealTimers();
    }
    // Refreshed every staleMs / 2: never older than that (a little slack for mtime rounding).
    expect(Math.max(...ages)).toBeLessThanOrEqual(staleMs / 2 + 5);
    expect(ages).toHaveLength(12);
    await expect(fs.stat(`${target}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('withFileLock reports a lock taken over while it was held, and leaves the new holder\'s lock alone', async () => {
    const target = path.join(root, 'taken');
    // What a process that judged us stale does: remove our lock and create its own.
    const takeOver = async () => {
      await fs.rm(`${target}.lock`);
      await fs.writeFile(`${target}.lock`, 'theirs');
    };
    const error = await expectCode(withFileLock(target, async () => {
      await takeOver();
      return 'written';
    }), 'BACKEND_UNAVAILABLE');
    expect(error.message).toMatch(/lock on the store was lost while writing: another process took it over/);
    expect(await fs.readFile(`${target}.lock`, 'utf8')).toBe('theirs');
    await fs.rm(`${target}.lock`);

    // Also when the work itself failed: the lost lock is what the caller must hear, the failure its cause.
    const failed = await expectCode(withFileLock(target, async () => {
      await takeOver();
      throw new AssError('CONFLICT', 'someone else wrote it');
    }), 'BACKEND_UNAVAILABLE');
    expect((failed.cause as AssError).code).toBe('CONFLICT');
    expect(await fs.readFile(`${target}.lock`, 'utf8')).toBe('theirs');
  });
});
