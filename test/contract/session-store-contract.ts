/**
 * One contract for dashboard sign-in sessions over every place they are kept (sessions.json,
 * PostgreSQL): several SessionStore instances on one store behave as the replicas of one
 * deployment do (each its own rows instance: its own file cache or pool), with an injected clock.
 *
 * Checked against one-line bugs (each failed this suite):
 *  - SessionStore.find without `opened.adminId !== row.adminId` (the edited-row case passed a session to another admin)
 *  - the idle clock written on every touch (`>= touchEveryMs` → `>= 0`: the granularity case saw a write)
 *  - FileSessionRows.add / PgSessionRows.add without the per-admin cap (the fourth session kept the first alive)
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionRowsOpened } from '../../src/server/session-rows-open.js';
import { sealSession, sessionKey } from '../../src/dashboard/session-seal.js';
import { SessionStore, type SessionLimits } from '../../src/dashboard/sessions.js';
import type { SessionRowStore } from '../../src/state/session-rows.js';

export interface SessionRowsHarness {
  /** A new rows instance on the same store (another replica, or the same one after a restart). */
  open(): Promise<SessionRowStore>;
  /** Everything stored, as text (to look for what must not be there). */
  dump(): Promise<string>;
  cleanup(): Promise<void>;
}

const MIN = 60_000;
const LIMITS: SessionLimits = { idleMs: 10 * MIN, absoluteMs: 60 * MIN, touchEveryMs: MIN, perAdmin: 3, total: 6 };

export function runSessionStoreContract(name: string, setup: () => Promise<SessionRowsHarness>): void {
  describe(`dashboard sessions on ${name}`, () => {
    let h: SessionRowsHarness | undefined;
    let t = Date.parse('2030-01-01T00:00:00Z');
    const clock = () => new Date(t);
    const deploymentKey = new Uint8Array(randomBytes(32));

    afterEach(async () => {
      await h?.cleanup();
      h = undefined;
    });

    async function replicas(n: number, limits: SessionLimits = LIMITS, key = deploymentKey) {
      h ??= await setup();
      const out: { store: SessionStore; rows: SessionRowStore }[] = [];
      for (let i = 0; i < n; i++) {
        const rows = await h.open();
        const opened: SessionRowsOpened = { rows, deploymentKey: key };
        out.push({ store: new SessionStore(clock, async () => opened, limits), rows });
      }
      return out;
    }

    it('a session opened on A works on B; the idle clock moved on either holds on both; idle ends it on all', async () => {
      const [a, b] = await replicas(2);
      const { id, session } = await a!.store.create('alice', 'k'.repeat(64));
      t += 9 * MIN;
      expect((await b!.store.touch(id))?.csrf).toBe(session.csrf);
      t += 9 * MIN;
      expect((await a!.store.touch(id))?.adminId).toBe('alice');
      t += 10 * MIN;
      expect(await b!.store.touch(id)).toBeNull();
      expect(await a!.store.touch(id)).toBeNull();
      expect(await a!.rows.get(sessionKey(id))).toBeUndefined();
    });

    it('the idle clock is written at most every touchEveryMs, and never moved back', async () => {
      const [a, b] = await replicas(2);
      const { id } = await a!.store.create('alice');
      const key = sessionKey(id);
      const start = t;
      t += 30_000;
      expect(await b!.store.touch(id)).not.toBeNull();
      expect((await a!.rows.get(key))?.lastSeenAt).toBe(start);
      t += 30_000;
      expect(await b!.store.touch(id)).not.toBeNull();
      expect((await a!.rows.get(key))?.lastSeenAt).toBe(start + MIN);
      await a!.rows.seen(key, start);
      expect((await a!.rows.get(key))?.lastSeenAt).toBe(start + MIN);
      // peek (an events stream) never moves it.
      t += 5 * MIN;
      expect(await b!.store.peek(id)).not.toBeNull();
      expect((await a!.rows.get(key))?.lastSeenAt).toBe(start + MIN);
    });

    it('the absolute limit holds across replicas however busy the session is', async () => {
      const [a, b] = await replicas(2);
      const { id } = await a!.store.create('alice');
      for (let i = 0; i < 11; i++) {
        t += 5 * MIN;
        expect(await (i % 2 ? a : b)!.store.touch(id)).not.toBeNull();
      }
      t += 5 * MIN;
      expect(await a!.store.touch(id)).toBeNull();
      expect(await b!.store.peek(id)).toBeNull();
    });

    it('sign-out on B ends the session on A at once; ending an admin ends only theirs, everywhere', async () => {
      const [a, b] = await replicas(2);
      const one = await a!.store.create('alice');
      const two = await a!.store.create('alice');
      const bobs = await b!.store.create('bob');
      expect(await b!.store.end(one.id)).toBe(true);
      expect(await a!.store.touch(one.id)).toBeNull();
      expect(await b!.store.end(one.id)).toBe(false);
      expect(await a!.store.touch(two.id)).not.toBeNull();
      await b!.store.endAllFor('alice');
      expect(await a!.store.touch(two.id)).toBeNull();
      expect((await a!.store.touch(bobs.id))?.adminId).toBe('bob');
      expect(await a!.store.touch(undefined)).toBeNull();
      expect(await a!.store.touch('x'.repeat(101))).toBeNull();
    });

    it('survives a restart: a new instance on the same store finds the session, person and CSRF token included', async () => {
      const [a] = await replicas(1);
      const person = { sub: 's1', human: 'oidc:s1 (jane@example.com)', label: 'jane@example.com', templates: ['reader'], issuerHash: 'h'.repeat(64) };
      const { id, session } = await a!.store.create('oidc:s1 (jane@example.com)', '', person);
      const [restarted] = await replicas(1);
      expect(await restarted!.store.touch(id)).toMatchObject({ adminId: person.human, csrf: session.csrf, person });
    });

    it('stores neither the cookie id nor the CSRF token nor the key hash, groups or subject sealed with it; only the sha256 of the id', async () => {
      const [a] = await replicas(1);
      const { id, session } = await a!.store.create('alice', 'f'.repeat(64), { sub: 'secret-sub', human: 'oidc:secret-sub', templates: ['reader'], issuerHash: 'i'.repeat(64), adminsGroup: 'admins-group-name' });
      const text = await h!.dump();
      expect(text).toContain(sessionKey(id));
      for (const hidden of [id, session.csrf, 'secret-sub', 'admins-group-name', 'f'.repeat(64)]) expect(text).not.toContain(hidden);
    });

    it('a forged, edited, swapped or foreign row gives no session', async () => {
      const [a] = await replicas(1);
      const [foreign] = await replicas(1, LIMITS, new Uint8Array(randomBytes(32)));
      const rows = a!.rows;
      // A writer of the store picks an id and seals a row with a key of their own: refused.
      const forgedId = randomBytes(32).toString('base64url');
      const now = t;
      await rows.add({ idSha256: sessionKey(forgedId), adminId: 'alice', createdAt: now, lastSeenAt: now, sealed: sealSession(forgedId, new Uint8Array(32), { adminId: 'alice', keySha256: '', csrf: 'c'.repeat(43), createdAt: now }) }, { now, idleMs: MIN, absoluteMs: MIN, perAdmin: 10, total: 10 });
      expect(await a!.store.touch(forgedId)).toBeNull();
      // A cookie of this deployment presented to another deployment on the same store: refused.
      const real = await a!.store.create('bob');
      expect(await foreign!.store.touch(real.id)).toBeNull();
      expect(await a!.store.touch(real.id)).not.toBeNull();
      // The admin column edited (bob's row made alice's): refused.
      const row = (await rows.get(sessionKey(real.id)))!;
      await rows.remove(row.idSha256);
      await rows.add({ ...row, adminId: 'alice' }, { now: t, idleMs: MIN, absoluteMs: MIN, perAdmin: 10, total: 10 });
      expect(await a!.store.touch(real.id)).toBeNull();
      // Its start moved later (to outlive the absolute limit): refused.
      await rows.remove(row.idSha256);
      await rows.add({ ...row, createdAt: row.createdAt + MIN }, { now: t, idleMs: MIN, absoluteMs: MIN, perAdmin: 10, total: 10 });
      expect(await a!.store.touch(real.id)).toBeNull();
      // Another session's sealed text moved under this key: refused.
      const other = await a!.store.create('bob');
      const otherRow = (await rows.get(sessionKey(other.id)))!;
      await rows.remove(row.idSha256);
      await rows.add({ ...row, sealed: otherRow.sealed, createdAt: otherRow.createdAt }, { now: t, idleMs: MIN, absoluteMs: MIN, perAdmin: 10, total: 10 });
      expect(await a!.store.touch(real.id)).toBeNull();
      expect(await a!.store.touch(other.id)).not.toBeNull();
    });

    it('bounded: a sign-in beyond perAdmin ends that admin\'s least recently used session; beyond total, anyone\'s; ended ones are swept', async () => {
      const [a, b] = await replicas(2);
      const alice: string[] = [];
      for (let i = 0; i < 3; i++) {
        alice.push((await (i % 2 ? a : b)!.store.create('alice')).id);
        t += 2 * MIN;
      }
      expect(await a!.store.touch(alice[0])).not.toBeNull();
      t += 1_000;
      const fourth = (await b!.store.create('alice')).id;
      // alice[1] was the least recently used (alice[0] was just touched).
      expect(await a!.store.touch(alice[1])).toBeNull();
      for (const id of [alice[0], alice[2], fourth]) expect(await b!.store.peek(id)).not.toBeNull();
      const others: string[] = [];
      for (const who of ['bob', 'carol', 'dave']) others.push((await a!.store.create(who)).id);
      // Six live in all: a seventh ends the least recently used of anyone's (alice[2], seen last 2 minutes before the rest).
      const seventh = (await b!.store.create('erin')).id;
      expect(await a!.store.peek(alice[2])).toBeNull();
      for (const id of [alice[0], fourth, ...others, seventh]) expect(await a!.store.peek(id)).not.toBeNull();
      // Everything idle past the limit is swept at the next sign-in, not left to pile up.
      t += 11 * MIN;
      const fresh = await a!.store.create('frank');
      const text = await h!.dump();
      for (const id of [alice[0]!, fourth, ...others, seventh]) expect(text).not.toContain(sessionKey(id));
      expect(text).toContain(sessionKey(fresh.id));
      expect(await a!.rows.sweep({ now: t + 11 * MIN, idleMs: LIMITS.idleMs, absoluteMs: LIMITS.absoluteMs })).toBe(1);
    });
  });
}
