/**
 * Tampering is detected. Flipped bytes in a stored secret file (in the ciphertext, the tag,
 * the IV, the bound name, or anywhere in the raw file) and a truncated file make get_secret
 * answer a clear integrity error with no partial plaintext, while other secrets are still
 * served; `audit verify` finds an edited, an inserted and a deleted line (exit 1, naming it).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, connectAgent, initHome, ok, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';

const VICTIM = { namespace: 'production/db', key: 'PASSWORD' };
const BYSTANDER = { namespace: 'production/db', key: 'USER' };
const VALUE = `tamper-plaintext-${'p'.repeat(40)}`;

let home: Home;
let agent: AgentConnection;
let file: string;
let original: Buffer;

beforeAll(async () => {
  home = await initHome();
  agent = await connectAgent(home.configPath, home.agentKey);
  await ok(agent.client, 'set_secret', { ...VICTIM, value: VALUE });
  await ok(agent.client, 'set_secret', { ...BYSTANDER, value: 'app-user' });
  // The file backend names a file by sha256 of JSON [namespace, key] under <store>/secrets/.
  const name = createHash('sha256').update(JSON.stringify([VICTIM.namespace, VICTIM.key])).digest('hex');
  file = path.join(home.dir, 'secrets', 'secrets', name);
  original = await readFile(file);
});

afterAll(async () => {
  await agent?.close();
  removeHome(home);
});

/**
 * Flips one bit in the middle of a sealed field of the file's newest stored version. The file
 * backend writes `ass-file-v2` (a clear header line, then one sealed line per version, see
 * src/adapters/file/secret-file.ts); an older `ass-file-v1` file is one sealed JSON document.
 */
function flipBase64Field(text: string, field: 'ciphertext' | 'tag' | 'iv'): string {
  const flip = (doc: Record<string, string>) => {
    const bytes = Buffer.from(doc[field]!, 'base64');
    expect(bytes.length).toBeGreaterThan(0);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    doc[field] = bytes.toString('base64');
  };
  const lines = text.split('\n');
  const header = JSON.parse(lines[0]!) as { format: string };
  if (header.format === 'ass-file-v1') {
    flip(header as unknown as Record<string, string>);
    return `${JSON.stringify(header)}\n`;
  }
  expect(header.format).toBe('ass-file-v2');
  // Complete lines end in a newline: the last element after the split is the empty string.
  expect(lines.at(-1)).toBe('');
  const newest = lines.length - 2;
  expect(newest).toBeGreaterThanOrEqual(1);
  const version = JSON.parse(lines[newest]!) as Record<string, string>;
  expect(typeof version[field]).toBe('string');
  flip(version);
  lines[newest] = JSON.stringify(version);
  return lines.join('\n');
}

describe('flipped bytes in a stored secret', () => {
  const variants: [string, (buf: Buffer) => Buffer | string][] = [
    ['a flipped ciphertext bit', (b) => flipBase64Field(b.toString('utf8'), 'ciphertext')],
    ['a flipped tag bit', (b) => flipBase64Field(b.toString('utf8'), 'tag')],
    ['a flipped iv bit', (b) => flipBase64Field(b.toString('utf8'), 'iv')],
    ['a renamed key in the header', (b) => b.toString('utf8').replace('"PASSWORD"', '"PASSWORE"')],
    ['a flipped raw byte in the middle', (b) => { const c = Buffer.from(b); c[Math.floor(c.length / 2)]! ^= 0x20; return c; }],
    ['a truncated file', (b) => b.subarray(0, Math.floor(b.length * 0.6))],
    ['an empty file', () => ''],
  ];

  for (const [name, mutate] of variants) {
    it(`${name} → a clear integrity error, no plaintext, and the rest still served`, async () => {
      await writeFile(file, mutate(original));
      try {
        const outcome = await call(agent.client, 'get_secret', VICTIM);
        expect(outcome.ok).toBe(false);
        if (outcome.ok) return;
        expect(outcome.code).toBe('INTEGRITY_ERROR');
        expect(outcome.error).toMatch(/integrity|tampered|truncated/i);
        expect(outcome.error).not.toContain('tamper-plaintext');
        expect(outcome.error).not.toContain('pppp');
        expect((await ok(agent.client, 'get_secret', BYSTANDER)).value).toBe('app-user');
        // A write on top of a damaged file is refused too, rather than silently replacing history.
        const write = await call(agent.client, 'set_secret', { ...VICTIM, value: 'overwrite' });
        expect(write.ok).toBe(false);
      } finally {
        await writeFile(file, original);
      }
      expect((await ok(agent.client, 'get_secret', VICTIM)).value).toBe(VALUE);
    });
  }

  it('the server log never carries the plaintext either', () => {
    expect(agent.stderr()).not.toContain('tamper-plaintext');
  });
});

describe('audit verify', () => {
  let auditPath: string;
  let pristine: string;

  beforeAll(async () => {
    auditPath = path.join(home.dir, 'audit.log');
    pristine = await readFile(auditPath, 'utf8');
  });

  afterAll(async () => {
    await writeFile(auditPath, pristine);
  });

  async function verifyWith(text: string): Promise<{ code: number | null; out: string }> {
    await writeFile(auditPath, text);
    const result = await admin(home, ['audit', 'verify']);
    return { code: result.code, out: result.stdout + result.stderr };
  }

  it('is OK on the untouched log', async () => {
    const result = await verifyWith(pristine);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/^OK: \d+ records/);
  });

  it('finds an edited line', async () => {
    const lines = pristine.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(4);
    const record = JSON.parse(lines[2]!);
    record.outcome = record.outcome === 'allowed' ? 'denied' : 'allowed';
    lines[2] = JSON.stringify(record);
    const result = await verifyWith(`${lines.join('\n')}\n`);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/BROKEN/);
    expect(result.out).toMatch(/line 3: content does not match its hash/);
  });

  it('finds an inserted line', async () => {
    const lines = pristine.trimEnd().split('\n');
    lines.splice(2, 0, lines[1]!);
    const result = await verifyWith(`${lines.join('\n')}\n`);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/line 3: sequence/);
  });

  it('finds a deleted line', async () => {
    const lines = pristine.trimEnd().split('\n');
    lines.splice(2, 1);
    const result = await verifyWith(`${lines.join('\n')}\n`);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/line 3: (sequence|does not chain)/);
  });

  it('finds a line that is not JSON', async () => {
    const lines = pristine.trimEnd().split('\n');
    lines[1] = lines[1]!.slice(0, -5);
    const result = await verifyWith(`${lines.join('\n')}\n`);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/line 2: not valid JSON/);
  });
});
