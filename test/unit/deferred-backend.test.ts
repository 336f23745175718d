/**
 * The remote backend opened on first use (src/adapters/deferred-backend.ts): one opening at a
 * time, a retryable failure tried again by the next use, any other kept and answered to every use,
 * health saying why without throwing, close after or during the opening.
 */
import { describe, expect, it } from 'vitest';
import { DeferredBackend } from '../../src/adapters/deferred-backend.js';
import type { SecretBackend } from '../../src/adapters/backend.js';
import { AssError } from '../../src/shared/errors.js';

function stubBackend(): SecretBackend & { closed: number } {
  // A minimal stand-in for an opened backend (named as such): only what these tests call.
  return {
    kind: 'vault',
    capabilities: { versioning: true, checkAndSet: true, softDelete: false },
    closed: 0,
    get: async () => null,
    put: async () => { throw new Error('not used'); },
    list: async () => [],
    listNamespaces: async () => ['ns'],
    delete: async () => false,
    health: async () => ({ ok: true, detail: 'fine' }),
    async close() { this.closed += 1; },
  };
}

describe('DeferredBackend', () => {
  it('opens once for concurrent first uses, and not before the first use', async () => {
    let opens = 0;
    const inner = stubBackend();
    const backend = new DeferredBackend('vault', async () => { opens += 1; return inner; });
    expect(opens).toBe(0);
    expect(backend.opened).toBeNull();
    const results = await Promise.all([backend.listNamespaces(), backend.get('a', 'b'), backend.list('ns'), backend.health()]);
    expect(opens).toBe(1);
    expect(results[0]).toEqual(['ns']);
    expect(backend.opened).toBe(inner);
    expect(backend.capabilities.versioning).toBe(true);
    await backend.close();
    expect(inner.closed).toBe(1);
  });

  it('a retryable failure is tried again by the next use; health says why without throwing', async () => {
    let opens = 0;
    const inner = stubBackend();
    const backend = new DeferredBackend('vault', async () => {
      opens += 1;
      if (opens === 1) throw new AssError('BACKEND_UNAVAILABLE', 'Vault is unreachable.');
      return inner;
    });
    expect(await backend.health()).toEqual({ ok: false, detail: 'Vault is unreachable. [BACKEND_UNAVAILABLE]', code: 'BACKEND_UNAVAILABLE' });
    expect(await backend.listNamespaces()).toEqual(['ns']);
    expect(opens).toBe(2);
  });

  it('any other failure is kept: every use gets the same error and it is not opened again', async () => {
    let opens = 0;
    const refused = new AssError('CONFIG_INVALID', 'Invalid Vault backend config: backend.auth.role_id: required');
    const backend = new DeferredBackend('vault', async () => { opens += 1; throw refused; });
    await expect(backend.get('a', 'b')).rejects.toBe(refused);
    await expect(backend.listNamespaces()).rejects.toBe(refused);
    expect(await backend.health()).toEqual({ ok: false, detail: `${refused.message} [CONFIG_INVALID]`, code: 'CONFIG_INVALID' });
    expect(opens).toBe(1);
    await backend.close();
  });

  it('closed while opening: the backend it opened is closed too', async () => {
    const inner = stubBackend();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const backend = new DeferredBackend('aws', async () => { await gate; return inner; });
    const pending = backend.listNamespaces();
    const closing = backend.close();
    release();
    await pending;
    await closing;
    expect(inner.closed).toBe(1);
  });
});
