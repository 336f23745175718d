/**
 * The one contract suite every `SecretBackend` adapter runs (see `src/adapters/backend.ts`).
 * An adapter's test file calls `runBackendContract('vault', async () => ({ backend, cleanup }))`.
 *
 * Every case writes under its own namespace `<prefix>/<run id>/<case>`, so suites may share a
 * server; what a case writes is deleted (force) after the suite. Sorting is code-unit order,
 * i.e. `Array.prototype.sort()` without a comparator.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretBackend } from '../../src/adapters/backend.js';
import { isAssError, type ErrorCode } from '../../src/shared/errors.js';
import { MAX_VALUE_BYTES, type SecretWrite } from '../../src/shared/types.js';

export interface ContractTarget {
  backend: SecretBackend;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Case name -> reason; the case is registered with `it.skip` and the reason printed. */
  skip?: Record<string, string>;
  /** First namespace segment of everything the suite writes (default `contract`). */
  namespacePrefix?: string;
}

type CaseContext = { skip: (note?: string) => void };
type Case = (backend: SecretBackend, ns: string, ctx: CaseContext) => Promise<void>;

export function runBackendContract(name: string, factory: () => Promise<ContractTarget>, options: ContractOptions = {}): void {
  const runId = randomBytes(4).toString('hex');
  const base = `${options.namespacePrefix ?? 'contract'}/${runId}`;
  const written: Array<[string, string]> = [];
  let target: ContractTarget | undefined;

  const backend = (): SecretBackend => {
    if (!target) throw new Error('contract factory did not produce a backend');
    return target.backend;
  };
  /** `put` that records what to clean up afterwards. */
  const put: SecretBackend['put'] = (write, putOptions) => {
    written.push([write.namespace, write.key]);
    return backend().put(write, putOptions);
  };
  // Methods are bound to the real backend so adapters with `#private` fields work through the proxy.
  const tracked = (): SecretBackend =>
    new Proxy(backend(), {
      get: (b, prop) => {
        if (prop === 'put') return put;
        const value: unknown = Reflect.get(b, prop, b);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(b) : value;
      },
    });

  describe(name, () => {
    beforeAll(async () => {
      target = await factory();
    });
    afterAll(async () => {
      if (!target) return;
      for (const [ns, key] of written) await target.backend.delete(ns, key, { force: true }).catch(() => undefined);
      await target.backend.close();
      await target.cleanup();
    });

    for (const [caseName, body] of Object.entries(CASES)) {
      const reason = options.skip?.[caseName];
      if (reason !== undefined) {
        console.warn(`[contract ${name}] skipping "${caseName}": ${reason}`);
        it.skip(`${caseName} (skipped: ${reason})`, () => undefined);
        continue;
      }
      it(caseName, async (ctx) => {
        const slug = caseName.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase();
        await body(tracked(), `${base}/${slug}`, {
          skip: (note) => {
            console.warn(`[contract ${name}] skipping "${caseName}": ${note}`);
            ctx.skip(note);
          },
        });
      });
    }
  });
}

function write(namespace: string, key: string, value: string, extra: Partial<SecretWrite> = {}): SecretWrite {
  return { namespace, key, value, secret_type: 'api_key', access_tier: 'standard', metadata: {}, ...extra };
}

async function expectAssError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected AssError ${code}`).toBeDefined();
  expect(isAssError(error) ? error.code : error).toBe(code);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const CASES: Record<string, Case> = {
  'get of an absent secret is null': async (b, ns) => {
    expect(await b.get(ns, 'NEVER_WRITTEN')).toBeNull();
  },

  'put v1 then get returns every field; created_at kept, updated_at moves': async (b, ns) => {
    const first = await b.put(write(ns, 'API_KEY', 'sk-v1', { secret_type: 'oauth_token', access_tier: 'sensitive', metadata: { team: 'ml' } }));
    expect('value' in first).toBe(false);
    expect(first).toMatchObject({ namespace: ns, key: 'API_KEY', version: 1, secret_type: 'oauth_token', access_tier: 'sensitive', metadata: { team: 'ml' } });
    const got = await b.get(ns, 'API_KEY');
    expect(got).toEqual({ ...first, value: 'sk-v1' });
    expect(got?.id).toEqual(expect.any(String));
    expect(got?.id.length).toBeGreaterThan(0);
    expect(got?.created_at).toMatch(ISO);
    expect(got?.updated_at).toMatch(ISO);
    expect(Date.parse(got!.updated_at)).toBeGreaterThanOrEqual(Date.parse(got!.created_at));

    // Bounded loop, no sleeps: write new versions until the clock visibly moves (≤ 10 s).
    let latest = await b.put(write(ns, 'API_KEY', 'sk-v2', { access_tier: 'critical' }));
    const deadline = Date.now() + 10_000;
    while (latest.updated_at === first.updated_at && Date.now() < deadline) {
      latest = await b.put(write(ns, 'API_KEY', 'sk-v2', { access_tier: 'critical' }));
    }
    expect(latest.updated_at).not.toBe(first.updated_at);
    expect(Date.parse(latest.updated_at)).toBeGreaterThan(Date.parse(first.updated_at));
    const again = await b.get(ns, 'API_KEY');
    expect(again).toMatchObject({ value: 'sk-v2', version: latest.version, access_tier: 'critical', metadata: {}, id: first.id });
    expect(again?.created_at).toBe(first.created_at);
    expect(latest.created_at).toBe(first.created_at);
  },

  'versions increment by one per put': async (b, ns) => {
    for (let v = 1; v <= 3; v += 1) {
      expect((await b.put(write(ns, 'COUNTER', `v${v}`))).version).toBe(v);
    }
    expect(await b.get(ns, 'COUNTER')).toMatchObject({ version: 3, value: 'v3' });
  },

  'check-and-set: expectedVersion is enforced': async (b, ns, ctx) => {
    if (!b.capabilities.checkAndSet) return ctx.skip('backend declares checkAndSet: false');
    expect((await b.put(write(ns, 'CAS', 'one'), { expectedVersion: 0 })).version).toBe(1);
    await expectAssError(b.put(write(ns, 'CAS', 'dup'), { expectedVersion: 0 }), 'CONFLICT');
    await expectAssError(b.put(write(ns, 'CAS', 'stale'), { expectedVersion: 7 }), 'CONFLICT');
    expect(await b.get(ns, 'CAS')).toMatchObject({ version: 1, value: 'one' });
    expect((await b.put(write(ns, 'CAS', 'two'), { expectedVersion: 1 })).version).toBe(2);
    await expectAssError(b.put(write(ns, 'CAS', 'stale'), { expectedVersion: 1 }), 'CONFLICT');
    await expectAssError(b.put(write(ns, 'CAS_ABSENT', 'x'), { expectedVersion: 1 }), 'CONFLICT');
    expect(await b.get(ns, 'CAS')).toMatchObject({ version: 2, value: 'two' });
    expect(await b.get(ns, 'CAS_ABSENT')).toBeNull();
  },

  'list returns the exact namespace only, sorted by key, never values': async (b, ns) => {
    const secretValue = `list-canary-${randomBytes(6).toString('hex')}`;
    await b.put(write(ns, 'B_KEY', secretValue));
    await b.put(write(ns, 'A_KEY', secretValue, { metadata: { owner: 'x' } }));
    await b.put(write(`${ns}/child`, 'C_KEY', secretValue));
    await b.put(write(`${ns}-sibling`, 'D_KEY', secretValue));
    const items = await b.list(ns);
    expect(items.map((item) => item.key)).toEqual(['A_KEY', 'B_KEY']);
    for (const item of items) {
      expect('value' in item).toBe(false);
      expect(item.namespace).toBe(ns);
    }
    expect(items[0]).toMatchObject({ version: 1, metadata: { owner: 'x' }, secret_type: 'api_key' });
    expect(JSON.stringify(items)).not.toContain(secretValue);
    expect((await b.list(`${ns}/child`)).map((item) => item.key)).toEqual(['C_KEY']);
    expect(await b.list(`${ns}/nothing-here`)).toEqual([]);
  },

  'listNamespaces includes ancestors, sorted and distinct': async (b, ns) => {
    await b.put(write(`${ns}/a/b/c`, 'K1', 'v'));
    await b.put(write(`${ns}/a/x`, 'K2', 'v'));
    await b.put(write(`${ns}/a/x`, 'K3', 'v'));
    const all = await b.listNamespaces();
    expect(all).toEqual([...all].sort());
    expect(new Set(all).size).toBe(all.length);
    const mine = all.filter((n) => n === ns || n.startsWith(`${ns}/`));
    expect(mine).toEqual([ns, `${ns}/a`, `${ns}/a/b`, `${ns}/a/b/c`, `${ns}/a/x`]);
    const segments = ns.split('/');
    for (let i = 1; i < segments.length; i += 1) expect(all).toContain(segments.slice(0, i).join('/'));
  },

  'delete removes every version; a second delete returns false': async (b, ns) => {
    await b.put(write(ns, 'DOOMED', 'v1'));
    await b.put(write(ns, 'DOOMED', 'v2'));
    expect(await b.delete(ns, 'DOOMED', { force: true })).toBe(true);
    expect(await b.get(ns, 'DOOMED')).toBeNull();
    expect(await b.list(ns)).toEqual([]);
    expect(await b.delete(ns, 'DOOMED', { force: true })).toBe(false);
    expect(await b.delete(ns, 'NEVER_WRITTEN', { force: true })).toBe(false);
  },

  'value size: 65,536 bytes ok, 65,537 bytes VALUE_TOO_LARGE': async (b, ns) => {
    const max = 'x'.repeat(MAX_VALUE_BYTES);
    expect((await b.put(write(ns, 'BIG', max))).version).toBe(1);
    expect((await b.get(ns, 'BIG'))?.value).toBe(max);
    await expectAssError(b.put(write(ns, 'BIGGER', `${max}x`)), 'VALUE_TOO_LARGE');
    // Counted in UTF-8 bytes, not characters: 32,768 two-byte characters plus one byte.
    await expectAssError(b.put(write(ns, 'BIGGER', `${'é'.repeat(MAX_VALUE_BYTES / 2)}x`)), 'VALUE_TOO_LARGE');
    expect(await b.get(ns, 'BIGGER')).toBeNull();
  },

  'unicode value roundtrip': async (b, ns) => {
    const value = 'pässwörd 🔑 鍵 ключ\nline2\t"quoted" \\ back e\u0301 \u{1F468}\u200D\u{1F469}\u200D\u{1F467}';
    await b.put(write(ns, 'UNICODE', value));
    expect((await b.get(ns, 'UNICODE'))?.value).toBe(value);
  },

  'metadata roundtrip': async (b, ns) => {
    const metadata = { team: 'ml', 'owner email': 'a@example.com', note: 'ünïcode ✓', empty: '' };
    await b.put(write(ns, 'META', 'v', { metadata }));
    expect((await b.get(ns, 'META'))?.metadata).toEqual(metadata);
    expect((await b.list(ns))[0]?.metadata).toEqual(metadata);
    await b.put(write(ns, 'META', 'v2', { metadata: {} }));
    expect((await b.get(ns, 'META'))?.metadata).toEqual({});
  },

  '20 concurrent puts on one key all land (final version 20)': async (b, ns, ctx) => {
    if (!b.capabilities.versioning) return ctx.skip('backend declares versioning: false');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => b.put(write(ns, 'RACE', `value-${i}`))));
    expect(results.map((r) => r.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const final = await b.get(ns, 'RACE');
    expect(final?.version).toBe(20);
    expect(final?.value).toMatch(/^value-\d+$/);
  },

  'health is ok': async (b) => {
    const health = await b.health();
    expect(health.ok).toBe(true);
    expect(typeof health.detail).toBe('string');
  },
};
