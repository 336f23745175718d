/**
 * The dashboard's audit page on a long log (50,000 keyed records, written by the real audit
 * log): it reads the records it shows backwards from the end (bytes read, not time, are
 * asserted), and the chain's status is cached and checked only from where the last check
 * stopped — yet an edit of an already verified record, made after the cache was filled, is
 * still reported, on the page and by the verifier. The verifier's results agree with
 * `audit verify`'s full check.
 */
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditKey } from '../../src/audit/audit-key.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { IncrementalAuditVerifier } from '../../src/audit/incremental-verify.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/app.js';
import { readAuditRecords } from '../../src/dashboard/audit-reader.js';
import { createLogger } from '../../src/server/logger.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import { loadSettings } from '../../src/server/settings.js';
import { makeConfig, type RemoteConfig } from '../helpers/remote-server.js';
import { raw } from '../helpers/remote-http.js';

const RECORDS = 50_000;

/** Overwrites bytes in place (same length): what someone with write access to the log could do. */
function patch(file: string, find: string, replace: string, occurrence: 'first' | 'last' = 'first'): void {
  expect(replace.length).toBe(find.length);
  const text = readFileSync(file, 'latin1');
  const at = occurrence === 'first' ? text.indexOf(find) : text.lastIndexOf(find);
  expect(at).toBeGreaterThan(-1);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from(replace, 'latin1'), 0, replace.length, at);
  closeSync(fd);
}

describe('audit log: backwards reading and the incremental chain check', () => {
  let dir: string;
  let log: string;
  let keyPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ass-audit-large-'));
    log = path.join(dir, 'audit.log');
    keyPath = path.join(dir, 'audit.key');
    const audit = createAuditLog(log, () => new Date('2026-06-01T10:00:00Z'), { fsync: false, keyPath });
    for (let i = 1; i <= RECORDS; i++) {
      await audit.append({ actor: i % 10 === 0 ? 'agent:ten' : 'agent:bot', action: i === 7 ? 'rare.action' : 'get_secret', namespace: 'ns', key: `K${i}`, outcome: 'ok' });
    }
    await audit.close();
  }, 600_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the newest records by reading a small part of the file from its end', async () => {
    const size = statSync(log).size;
    const newest = await readAuditRecords(log, {}, 200);
    expect(newest.records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => RECORDS - i));
    expect(newest.more).toBe(true);
    expect(newest.bytesRead).toBeLessThanOrEqual(256 * 1024);
    expect(size).toBeGreaterThan(20 * newest.bytesRead);
    // A filter: every 10th record, still the newest first.
    const ten = await readAuditRecords(log, { agent: 'ten' }, 50);
    expect(ten.records.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => RECORDS - 10 * i));
    // A filter matching one early record reads back to it, and says nothing more exists.
    const rare = await readAuditRecords(log, { action: 'rare.action' }, 200);
    expect(rare.records.map((r) => r.seq)).toEqual([7]);
    expect(rare.more).toBe(false);
    expect(rare.bytesRead).toBe(size);
  });

  it('checks the chain once, then only what was appended; agrees with the full check', async () => {
    const key = readAuditKey(keyPath);
    const verifier = new IncrementalAuditVerifier();
    const first = await verifier.verify(log, key);
    expect(first).toMatchObject({ ok: true, count: RECORDS, keyed: true });
    expect(verifier.lastCheckedBytes).toBe(statSync(log).size);
    const full = await verifyAuditLog(log, undefined, { key });
    expect(first.head).toBe(full.head);

    // Unchanged: nothing read again.
    expect(await verifier.verify(log, key)).toMatchObject({ ok: true, count: RECORDS });
    expect(verifier.lastCheckedBytes).toBe(0);

    // Grown: only the new records are checked.
    const before = statSync(log).size;
    const audit = createAuditLog(log, () => new Date('2026-06-01T11:00:00Z'), { fsync: false, keyPath });
    for (let i = 0; i < 5; i++) await audit.append({ actor: 'agent:bot', action: 'list_namespaces', outcome: 'ok' });
    await audit.close();
    const grown = await verifier.verify(log, key);
    expect(grown).toMatchObject({ ok: true, count: RECORDS + 5 });
    expect(verifier.lastCheckedBytes).toBe(statSync(log).size - before);
    expect(grown.head).toBe((await verifyAuditLog(log, undefined, { key })).head);
  });

  it('an edit made after the result was cached is still reported: on the page, and in an appended part', async () => {
    const config: RemoteConfig = await makeConfig({ agents: [{ id: 'alpha', grants: ['secrets:*:**'] }] });
    const settings = loadSettings(config.configPath, {});
    // The page reads this test's long log (and its key) as the setup's audit log.
    const runtime: Runtime = await openRuntime({ ...settings, auditPath: log, auditKeyPath: keyPath }, createLogger('error'));
    const dashboard: Dashboard = createDashboard(runtime, { scheme: 'http' });
    const server: Server = createServer((req, res) => void dashboard.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const form = await raw({ url, path: '/dashboard/sign-in' });
      const pre = String(form.headers['set-cookie']).split(';')[0]!;
      const token = /name="_signin" value="([^"]+)"/.exec(form.body)![1]!;
      const signed = await raw({ url, method: 'POST', path: '/dashboard/sign-in', headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _signin: token, admin_key: config.adminKey }).toString() });
      const cookie = ([] as string[]).concat(signed.headers['set-cookie'] ?? []).find((c) => c.startsWith('ass_session='))!.split(';')[0]!;
      const view = async () => {
        const page = await raw({ url, path: '/dashboard/audit', headers: { cookie } });
        expect(page.status).toBe(200);
        return page.body;
      };
      // Signing in is audited into this same log: count what is there now.
      const lines = () => readFileSync(log, 'utf8').trim().split('\n').length;
      const total = lines();
      expect(total).toBeGreaterThan(RECORDS);
      const intact = await view();
      expect(intact).toContain(`<strong>Intact:</strong> ${total} records`);
      expect(intact).toMatch(/More than 200 records match/);
      expect(intact).toContain(`<td data-label="#">${total}</td>`);
      expect(intact).not.toContain(`<td data-label="#">${total - 200}</td>`);
      expect(await view()).toContain(`<strong>Intact:</strong> ${total} records`); // cached

      // An early record, long verified and cached, edited in place (same length).
      patch(log, '"key":"K123"', '"key":"K124"');
      const broken = await view();
      expect(broken).toMatch(/Broken:<\/strong>/);
      expect(broken).toMatch(/line 123: content does not match its hash/);
      patch(log, '"key":"K124","outcome"', '"key":"K123","outcome"');
      expect(await view()).toContain(`<strong>Intact:</strong> ${total} records`);

      // A record appended after the cache was filled, then edited: checked when it is new.
      const audit = createAuditLog(log, () => new Date('2026-06-01T12:00:00Z'), { fsync: false, keyPath });
      await audit.append({ actor: 'agent:bot', action: 'get_secret', namespace: 'ns', key: 'LATE', outcome: 'ok' });
      await audit.close();
      expect(await view()).toContain(`<strong>Intact:</strong> ${total + 1} records`);
      patch(log, '"key":"LATE"', '"key":"LATF"', 'last');
      expect(await view()).toContain(`line ${total + 1}: content does not match its hash`);
    } finally {
      await dashboard.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.close();
      await config.cleanup();
    }
  });
});
