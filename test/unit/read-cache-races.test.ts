/**
 * The read cache's orderings that a real remote peer cannot be made to produce on demand: a
 * backend read that answers only after a write has finished, and the exact eviction order.
 * The cache wraps a real encrypted file backend; the only thing added is a gate on `get`
 * (named `GatedBackend`), which holds a read's answer until the test releases it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SecretBackend } from '../../src/adapters/backend.js';
import { ReadCacheConfigSchema } from '../../src/adapters/cache/config.js';
import { CachedBackend } from '../../src/adapters/cache/read-cache.js';
import { createFileBackend, createKeyFile } from '../../src/adapters/file/index.js';
import type { SecretRecord } from '../../src/shared/types.js';
import { write } from '../helpers/backend-fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A real file backend whose reads' answers (`hold`) or writes (`holdWrites`) can be held, and whose reads are counted. */
class GatedBackend {
  reads = 0;
  private gate: Promise<void> | null = null;
  private writeGate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  private openWrites: (() => void) | null = null;
  constructor(readonly real: SecretBackend) {}
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open?.();
    this.gate = null;
  }
  holdWrites(): void {
    this.writeGate = new Promise((resolve) => (this.openWrites = resolve));
  }
  releaseWrites(): void {
    this.openWrites?.();
    this.writeGate = null;
  }
  backend(): SecretBackend {
    return new Proxy(this.real, {
      get: (target, prop, receiver) => {
        if (prop === 'get') {
          return async (namespace: string, key: string): Promise<SecretRecord | null> => {
            this.reads++;
            const record = await target.get(namespace, key);
            if (this.gate) await this.gate;
            return record;
          };
        }
        if (prop === 'put') {
          return async (...args: Parameters<SecretBackend['put']>) => {
            if (this.writeGate) await this.writeGate;
            return target.put(...args);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
  }
}

async function setUp(cache: Record<string, unknown>): Promise<{ gated: GatedBackend; cached: CachedBackend }> {
  const dir = mkdtempSync(join(tmpdir(), 'ass-cache-race-'));
  dirs.push(dir);
  await createKeyFile(join(dir, 'store.key'));
  const real = await createFileBackend({ type: 'file', path: join(dir, 'secrets'), key_file: join(dir, 'store.key'), max_versions: 20 });
  const gated = new GatedBackend(real);
  return { gated, cached: new CachedBackend(gated.backend(), ReadCacheConfigSchema.parse(cache)) };
}

describe('read cache orderings', () => {
  it('a read that answers after a write finished is not cached', async () => {
    const { gated, cached } = await setUp({ ttl: '1m' });
    await cached.put(write('app', 'KEY', 'old', { access_tier: 'sensitive' }));
    gated.hold();
    const early = cached.get('app', 'KEY');
    await new Promise((r) => setImmediate(r));
    await cached.put(write('app', 'KEY', 'new', { access_tier: 'sensitive' }));
    gated.release();
    expect((await early)?.value).toBe('old');
    expect((await cached.get('app', 'KEY'))?.value).toBe('new');
  });

  it('a read made while a write is under way is dropped when the write finishes', async () => {
    const { gated, cached } = await setUp({ ttl: '1m' });
    await cached.put(write('app', 'KEY', 'old', { access_tier: 'sensitive' }));
    gated.holdWrites();
    const writing = cached.put(write('app', 'KEY', 'new', { access_tier: 'sensitive' }));
    expect((await cached.get('app', 'KEY'))?.value).toBe('old');
    gated.releaseWrites();
    await writing;
    expect((await cached.get('app', 'KEY'))?.value).toBe('new');
  });

  it('a read in flight during a write is not shared with readers that start after the write', async () => {
    const { gated, cached } = await setUp({ ttl: '1m' });
    await cached.put(write('app', 'KEY', 'old', { access_tier: 'sensitive' }));
    gated.hold();
    const early = cached.get('app', 'KEY');
    await new Promise((r) => setImmediate(r));
    await cached.put(write('app', 'KEY', 'new', { access_tier: 'sensitive' }));
    // Started after the write: must not join the early read, whose answer is the old value.
    const late = cached.get('app', 'KEY');
    gated.release();
    expect((await early)?.value).toBe('old');
    expect((await late)?.value).toBe('new');
    expect((await cached.get('app', 'KEY'))?.value).toBe('new');
  });

  it('a CONFLICT on write drops the entry, so the retry reads the backend', async () => {
    const { gated, cached } = await setUp({ ttl: '1m' });
    await cached.put(write('app', 'KEY', 'v1', { access_tier: 'sensitive' }));
    await cached.get('app', 'KEY');
    // Another writer moves the secret on behind the cache's back.
    await gated.real.put(write('app', 'KEY', 'v2', { access_tier: 'sensitive' }));
    await expect(cached.put(write('app', 'KEY', 'mine', { access_tier: 'sensitive' }), { expectedVersion: 1 })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await cached.get('app', 'KEY'))?.version).toBe(2);
  });

  it('evicts the least recently read, and a read makes an entry recent', async () => {
    const { gated, cached } = await setUp({ ttl: '1m', max_entries: 3 });
    for (const k of ['A', 'B', 'C', 'D']) await gated.real.put(write('app', k, k, { access_tier: 'standard' }));
    for (const k of ['A', 'B', 'C']) await cached.get('app', k);
    await cached.get('app', 'A'); // A is now the most recent; B the least.
    await cached.get('app', 'D');
    const reads = gated.reads;
    await cached.get('app', 'A');
    await cached.get('app', 'C');
    expect(gated.reads).toBe(reads);
    await cached.get('app', 'B');
    expect(gated.reads).toBe(reads + 1);
    expect(cached.stats()).toMatchObject({ entries: 3, evictions: 2 });
  });

  it('keeps within max_bytes and never holds a value larger than it', async () => {
    const { gated, cached } = await setUp({ ttl: '1m', max_bytes: 4096 });
    await gated.real.put(write('app', 'BIG', 'x'.repeat(5000), { access_tier: 'standard' }));
    for (let i = 0; i < 5; i++) await gated.real.put(write('app', `K${i}`, 'y'.repeat(1000), { access_tier: 'standard' }));
    await cached.get('app', 'BIG');
    expect(cached.stats().entries).toBe(0);
    for (let i = 0; i < 5; i++) await cached.get('app', `K${i}`);
    expect(cached.stats().bytes).toBeLessThanOrEqual(4096);
    expect(cached.stats().entries).toBeLessThan(5);
  });

  it('what a caller gets is a copy: changing it does not change what the cache serves', async () => {
    const { cached } = await setUp({ ttl: '1m' });
    await cached.put(write('app', 'KEY', 'v', { access_tier: 'standard', metadata: { team: 'a' } }));
    await cached.get('app', 'KEY');
    const first = (await cached.get('app', 'KEY'))!;
    first.metadata.team = 'changed';
    first.value = 'changed';
    const second = (await cached.get('app', 'KEY'))!;
    expect(second.value).toBe('v');
    expect(second.metadata.team).toBe('a');
  });

  it('refuses a bad cache block with a clear error', () => {
    expect(ReadCacheConfigSchema.safeParse({ ttl: '2h' }).error?.issues[0]?.message).toMatch(/at most 1h/);
    expect(ReadCacheConfigSchema.safeParse({ ttl: '30' }).error?.issues[0]?.message).toMatch(/duration such as/);
    expect(ReadCacheConfigSchema.safeParse({ ttl: '30s', tiers: ['secret'] }).success).toBe(false);
    expect(ReadCacheConfigSchema.safeParse({ ttl: '30s', extra: 1 }).success).toBe(false);
  });
});
