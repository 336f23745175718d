/**
 * The one contract suite every OAuth store runs (src/server/oauth/store.ts): `oauth.json` and
 * PostgreSQL. A target opens as many store instances over one storage as a case asks for (each
 * its own pool, as replicas have), so the once-only cases race several instances, not one:
 * a code redeemed once, a refresh token rotated once, a pending sign-in answered once.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { OAuthClientRecord, OAuthCodeRecord, OAuthGrantRecord, OAuthPendingRecord, OAuthStore } from '../../src/server/oauth/store.js';
import { openOidcPending, sealOidcPending } from '../../src/server/oauth/oidc-pending.js';

export interface OAuthStoreTarget {
  /** A new store instance over the same storage (another replica, as far as the store can tell). */
  open(): Promise<OAuthStore>;
  /** Everything stored, as text (file contents or every table's rows): to look for raw secrets. */
  dump(): Promise<string>;
  cleanup(): Promise<void>;
}

const T0 = Date.parse('2026-06-01T10:00:00Z');
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const clientRecord = (over: Partial<OAuthClientRecord> = {}): OAuthClientRecord => ({ client_id: randomUUID(), client_name: 'app', redirect_uris: ['http://127.0.0.1:9/cb'], kind: 'dynamic', registered_at: new Date(T0).toISOString(), ...over });

const grantRecord = (over: Partial<OAuthGrantRecord> = {}): OAuthGrantRecord => ({
  id: randomUUID(), client_id: 'c1', client_name: 'app', redirect_host: '127.0.0.1:9', agent_id: 'bot', human: 'admin:alice', scopes: ['secrets:read:a/**'], resource: 'http://127.0.0.1:1/mcp',
  created_at: new Date(T0).toISOString(), refresh_sha256: sha256(randomUUID()), refresh_expires_at: new Date(T0 + 3_600_000).toISOString(), used_refresh_sha256: [], ...over,
});

const codeRecord = (over: Partial<OAuthCodeRecord> = {}): OAuthCodeRecord => ({
  clientId: 'c1', redirectUri: 'http://127.0.0.1:9/cb', codeChallenge: 'x'.repeat(43), resource: 'http://127.0.0.1:1/mcp', issuer: 'http://127.0.0.1:1', human: 'admin:alice', agentId: 'bot', scopes: ['secrets:read:a/**'], clientName: 'app', expiresAt: T0 + 60_000, ...over,
});

const pendingRecord = (over: Partial<OAuthPendingRecord> = {}): OAuthPendingRecord => ({
  client: clientRecord(), redirectUri: 'http://127.0.0.1:9/cb', state: 's', codeChallenge: 'y'.repeat(43), resource: 'http://127.0.0.1:1/mcp', issuer: 'http://127.0.0.1:1', createdAt: T0, expiresAt: T0 + 600_000, ...over,
});

/** Opens each instance's connections first, so the race below is between warm replicas, not between connection set-ups. */
async function warm(stores: OAuthStore[]): Promise<void> {
  await Promise.all(stores.flatMap((s) => [1, 2, 3].map(() => s.code(sha256('warm-up'), T0))));
}

/** A refresh rotation as the service does it: the live hash moves to the used ones; an already used hash is reuse. */
function rotate(presented: string) {
  return (grant: OAuthGrantRecord): 'rotated' | 'reused' => {
    if (grant.used_refresh_sha256.includes(presented)) {
      grant.revoked_at ??= new Date(T0).toISOString();
      return 'reused';
    }
    grant.used_refresh_sha256 = [...grant.used_refresh_sha256, presented];
    grant.refresh_sha256 = sha256(randomUUID());
    return 'rotated';
  };
}

export function runOAuthStoreContract(name: string, factory: () => Promise<OAuthStoreTarget>): void {
  describe(`OAuth store contract: ${name}`, () => {
    let target: OAuthStoreTarget | null = null;
    const setup = async (): Promise<OAuthStoreTarget> => (target = await factory());
    afterEach(async () => {
      await target?.cleanup();
      target = null;
    });

    it('clients: registered on one instance, found on another; at the cap the oldest client without a grant goes; all with grants refuses', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const old = clientRecord({ registered_at: new Date(T0).toISOString() });
      const withGrant = clientRecord({ registered_at: new Date(T0 - 1000).toISOString() });
      expect(await a.addClient(withGrant, 3)).toBe(true);
      expect(await a.addClient(old, 3)).toBe(true);
      expect(await b.client(old.client_id)).toEqual(old);
      expect(await b.client('__proto__')).toBeUndefined();
      expect(await b.client(randomUUID())).toBeUndefined();
      await b.redeemCode(sha256('none'), T0, grantRecord()); // unknown code: stores nothing
      expect(await b.listGrants()).toEqual([]);
      expect(await a.clientHasGrant(withGrant.client_id)).toBe(false);
      await a.addCode(sha256('c'), codeRecord({ clientId: withGrant.client_id }));
      expect(await b.redeemCode(sha256('c'), T0, grantRecord({ client_id: withGrant.client_id }))).toEqual({ issued: true });
      expect(await a.clientHasGrant(withGrant.client_id)).toBe(true);
      const third = clientRecord({ registered_at: new Date(T0 + 1000).toISOString() });
      expect(await b.addClient(third, 3)).toBe(true);
      // At the cap: `old` (no grant) makes room, `withGrant` stays although older.
      const fourth = clientRecord({ registered_at: new Date(T0 + 2000).toISOString() });
      expect(await a.addClient(fourth, 3)).toBe(true);
      expect(await b.client(old.client_id)).toBeUndefined();
      expect(await b.client(withGrant.client_id)).toBeDefined();
      expect(Object.keys((await b.read()).clients).sort()).toEqual([withGrant.client_id, third.client_id, fourth.client_id].sort());
      // Every client has a grant: nothing is dropped and the new one is refused.
      for (const c of [third, fourth]) {
        await a.addCode(sha256(`code-${c.client_id}`), codeRecord({ clientId: c.client_id }));
        await a.redeemCode(sha256(`code-${c.client_id}`), T0, grantRecord({ client_id: c.client_id }));
      }
      expect(await b.addClient(clientRecord(), 3)).toBe(false);
      expect(Object.keys((await a.read()).clients)).toHaveLength(3);
    });

    it('a code is redeemed once: 12 redemptions racing over 4 instances issue one grant; the rest learn which grant to revoke', async () => {
      const t = await setup();
      const stores = await Promise.all([1, 2, 3, 4].map(() => t.open()));
      const code = randomBytes(32).toString('base64url');
      await stores[0]!.addCode(sha256(code), codeRecord());
      await warm(stores);
      const grants = Array.from({ length: 12 }, () => grantRecord());
      const results = await Promise.all(grants.map((g, i) => stores[i % 4]!.redeemCode(sha256(code), T0 + 1000, g)));
      const issued = results.map((r, i) => ('issued' in r ? grants[i]!.id : null)).filter((x) => x !== null);
      expect(issued).toHaveLength(1);
      for (const r of results) if (!('issued' in r)) expect(r).toEqual({ reusedGrantId: issued[0] });
      expect((await stores[3]!.listGrants()).map((g) => g.id)).toEqual(issued);
      expect(await stores[2]!.code(sha256(code), T0 + 1000)).toMatchObject({ grantId: issued[0] });
      // Expired: unknown, stores nothing.
      const late = randomBytes(32).toString('base64url');
      await stores[1]!.addCode(sha256(late), codeRecord({ expiresAt: T0 + 10 }));
      expect(await stores[2]!.code(sha256(late), T0 + 10)).toBeUndefined();
      expect(await stores[2]!.redeemCode(sha256(late), T0 + 10, grantRecord())).toEqual({ unknown: true });
      expect(await stores[0]!.listGrants()).toHaveLength(1);
      // Security: the raw code is nowhere in storage, only its hash.
      const stored = await t.dump();
      expect(stored).toContain(sha256(code));
      expect(stored).not.toContain(code);
    });

    it('a refresh token rotates once: 12 presentations racing over 4 instances rotate it once, every other one is reuse', async () => {
      const t = await setup();
      const stores = await Promise.all([1, 2, 3, 4].map(() => t.open()));
      const live = sha256('refresh-1');
      const grant = grantRecord({ refresh_sha256: live });
      await stores[0]!.addCode(sha256('code'), codeRecord());
      await stores[0]!.redeemCode(sha256('code'), T0, grant);
      await warm(stores);
      const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => stores[i % 4]!.updateGrant({ refreshSha256: live }, rotate(live))));
      expect(outcomes.filter((o) => o === 'rotated')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'reused')).toHaveLength(11);
      const after = (await stores[1]!.grant(grant.id))!;
      expect(after.used_refresh_sha256).toEqual([live]);
      expect(after.refresh_sha256).not.toBe(live);
      expect(after.revoked_at).toBeDefined();
      // The new live hash finds the grant too; an unknown hash finds nothing and changes nothing.
      expect(await stores[2]!.updateGrant({ refreshSha256: after.refresh_sha256 }, (g) => g.id)).toBe(grant.id);
      expect(await stores[2]!.updateGrant({ refreshSha256: sha256('unknown') }, () => 'touched')).toBeUndefined();
      expect(await stores[2]!.updateGrant({ id: 'no-such-grant' }, () => 'touched')).toBeUndefined();
    });

    it('a revocation on one instance is what every other reads next (no cache)', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const grant = grantRecord();
      await a.addCode(sha256('code'), codeRecord());
      await a.redeemCode(sha256('code'), T0, grant);
      expect((await b.grant(grant.id))!.revoked_at).toBeUndefined();
      expect(await a.updateGrant({ id: grant.id }, (g) => { g.revoked_at = new Date(T0 + 5).toISOString(); g.revoked_by = 'admin:alice: test'; return true; })).toBe(true);
      expect(await b.grant(grant.id)).toMatchObject({ revoked_at: new Date(T0 + 5).toISOString(), revoked_by: 'admin:alice: test' });
      expect((await b.listGrants())[0]!.revoked_at).toBeDefined();
    });

    it('a pending sign-in: kept by the hash of its id, read on another instance, answered once (10 racing), then gone; expired is gone', async () => {
      const t = await setup();
      const stores = await Promise.all([1, 2, 3].map(() => t.open()));
      const id = randomBytes(24).toString('base64url');
      const record = pendingRecord();
      await stores[0]!.addPending(id, record, 10);
      expect(await stores[1]!.pending(id, T0 + 1)).toEqual(record);
      expect(await stores[1]!.pending('other', T0 + 1)).toBeUndefined();
      const stored = await t.dump();
      expect(stored).not.toContain(id);
      await warm(stores);
      const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 3]!.takePending(id, T0 + 2)));
      expect(taken.filter((x) => x !== undefined)).toEqual([record]);
      expect(await stores[2]!.pending(id, T0 + 3)).toBeUndefined();
      const expiring = randomBytes(24).toString('base64url');
      await stores[0]!.addPending(expiring, pendingRecord({ expiresAt: T0 + 100 }), 10);
      expect(await stores[1]!.pending(expiring, T0 + 100)).toBeUndefined();
      expect(await stores[1]!.takePending(expiring, T0 + 100)).toBeUndefined();
    });

    it('the pending cap counts live sign-ins of every instance (expired ones do not count); at the cap the oldest live one makes room', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      await a.addPending('p1', pendingRecord({ expiresAt: T0 + 50 }), 2);
      await b.addPending('p2', pendingRecord({ createdAt: T0 + 10, expiresAt: T0 + 600_010 }), 2);
      // p1 has expired by T0 + 60: it does not count, p2 stays.
      await a.addPending('p3', pendingRecord({ createdAt: T0 + 60, expiresAt: T0 + 600_060 }), 2);
      expect(await a.pending('p2', T0 + 61)).toBeDefined();
      expect(await a.pending('p3', T0 + 61)).toBeDefined();
      // Two live: the next one (on another instance) pushes out the oldest live one, p2.
      await b.addPending('p4', pendingRecord({ createdAt: T0 + 70, expiresAt: T0 + 600_070 }), 2);
      expect(await a.pending('p2', T0 + 71)).toBeUndefined();
      expect(await a.pending('p3', T0 + 71)).toBeDefined();
      expect(await b.pending('p4', T0 + 71)).toBeDefined();
    });

    it('a sign-in through the identity provider: kept by the hash of its id and sealed, taken once of 10 racing callbacks on 3 instances; expired is gone; the cap makes room', async () => {
      const t = await setup();
      const stores = await Promise.all([1, 2, 3].map(() => t.open()));
      const id = randomBytes(32).toString('base64url');
      const secrets = { issuer: 'http://127.0.0.1:1', clientId: 'rp', verifier: randomBytes(32).toString('base64url'), state: randomBytes(16).toString('base64url'), nonce: randomBytes(16).toString('base64url'), redirectUri: 'http://127.0.0.1:2/dashboard/sign-in/oidc/callback', next: '/dashboard/sign-ins' };
      await stores[0]!.addOidcPending(id, { sealed: sealOidcPending(id, secrets), createdAt: T0, expiresAt: T0 + 600_000 }, 10);
      const stored = await t.dump();
      // Neither the id (the cookie) nor the PKCE verifier, state or nonce is in the store.
      for (const secret of [id, secrets.verifier, secrets.state, secrets.nonce]) expect(stored).not.toContain(secret);
      await warm(stores);
      const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 3]!.takeOidcPending(id, T0 + 2)));
      const got = taken.filter((x) => x !== undefined);
      expect(got).toHaveLength(1);
      expect(openOidcPending(id, got[0]!.sealed)).toEqual(secrets);
      expect(await stores[1]!.takeOidcPending(id, T0 + 3)).toBeUndefined();
      // Expired: gone, even to the first taker.
      const expiring = randomBytes(32).toString('base64url');
      await stores[0]!.addOidcPending(expiring, { sealed: sealOidcPending(expiring, secrets), createdAt: T0, expiresAt: T0 + 100 }, 10);
      expect(await stores[1]!.takeOidcPending(expiring, T0 + 100)).toBeUndefined();
      // The cap (2): live ones of every instance count; the soonest to expire makes room.
      await stores[0]!.addOidcPending('o1', { sealed: 'x', createdAt: T0, expiresAt: T0 + 600_000 }, 2);
      await stores[1]!.addOidcPending('o2', { sealed: 'x', createdAt: T0 + 10, expiresAt: T0 + 600_010 }, 2);
      await stores[2]!.addOidcPending('o3', { sealed: 'x', createdAt: T0 + 20, expiresAt: T0 + 600_020 }, 2);
      expect(await stores[0]!.takeOidcPending('o1', T0 + 30)).toBeUndefined();
      expect(await stores[0]!.takeOidcPending('o2', T0 + 30)).toBeDefined();
      expect(await stores[1]!.takeOidcPending('o3', T0 + 30)).toBeDefined();
      // The consent sign-ins are another table: an id of one kind finds nothing of the other.
      await stores[0]!.addPending('shared-id', pendingRecord(), 10);
      expect(await stores[0]!.takeOidcPending('shared-id', T0 + 1)).toBeUndefined();
      expect(await stores[0]!.pending('shared-id', T0 + 1)).toBeDefined();
    });

    it('prune drops grants ended before the cutoff, pending sign-ins and codes expired before it, and never-used dynamic clients registered before it; keeps the rest', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const ended = grantRecord({ revoked_at: new Date(T0).toISOString() });
      const alive = grantRecord({ refresh_expires_at: new Date(T0 + 10_000).toISOString() });
      for (const [i, g] of [ended, alive].entries()) {
        await a.addCode(sha256(`c${i}`), codeRecord({ expiresAt: T0 + 100 }));
        await a.redeemCode(sha256(`c${i}`), T0, g);
      }
      await a.addPending('old', pendingRecord({ expiresAt: T0 + 100 }), 10);
      await a.addPending('new', pendingRecord({ expiresAt: T0 + 10_000 }), 10);
      await a.addOidcPending('old', { sealed: 'x', createdAt: T0, expiresAt: T0 + 100 }, 10);
      await a.addOidcPending('new', { sealed: 'y', createdAt: T0, expiresAt: T0 + 10_000 }, 10);
      const unused = clientRecord();
      const used = clientRecord({ client_id: 'c1' });
      const recent = clientRecord({ registered_at: new Date(T0 + 2000).toISOString() });
      const document = clientRecord({ client_id: 'https://app.example/client.json', kind: 'metadata_document' });
      for (const c of [unused, used, recent, document]) await a.addClient(c, 10);
      await b.prune({ grantsEndedBefore: T0 + 1, expiredBefore: T0 + 1000, clientsUnusedBefore: T0 + 1000 });
      expect(Object.keys((await a.read()).clients).sort()).toEqual([used, recent, document].map((c) => c.client_id).sort());
      expect((await a.listGrants()).map((g) => g.id)).toEqual([alive.id]);
      expect(await a.pending('new', T0)).toBeDefined();
      expect(await a.pending('old', T0)).toBeUndefined();
      expect(await a.takeOidcPending('old', T0)).toBeUndefined();
      expect(await a.takeOidcPending('new', T0)).toMatchObject({ sealed: 'y' });
      expect(await a.code(sha256('c1'), T0)).toBeUndefined();
    });

    it('read and transact: a whole-state change on one instance is read by another', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const client = clientRecord();
      await a.addClient(client, 10);
      await a.transact((state) => {
        state.clients[client.client_id]!.client_name = 'renamed';
      });
      expect((await b.read()).clients[client.client_id]!.client_name).toBe('renamed');
      await b.transact((state) => {
        delete state.clients[client.client_id];
      });
      expect(await a.client(client.client_id)).toBeUndefined();
    });
  });
}
