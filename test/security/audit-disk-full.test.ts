/**
 * Finding 3 of issue 9: when the disk fills in the middle of an audit record, the request fails
 * closed (no value served), and the torn tail it leaves is kept aside (`audit.log.torn`, reported
 * by `audit verify`) once there is room again, instead of blocking every request or being
 * deleted by hand.
 *
 * Reproduced on a real 64 KiB tmpfs holding the audit log (mounting needs root; without it the
 * test is reported skipped with the reason, never passed). Before the fix, the short write
 * "succeeded": the value was returned although its record was cut in half.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminJson, call, connectAgent, initHome, ok, removeHome, setConfig, type AgentConnection, type Home } from '../helpers/cli.js';

const SECRET = { namespace: 'staging/app', key: 'DISK_FULL' };
const VALUE = `disk-full-value-${process.pid}-${Date.now()}`;
const PAGE = 4096;

let mountDir = '';
let mounted = false;
let cannotMount = '';
let home: Home;
let agent: AgentConnection;

beforeAll(async () => {
  mountDir = mkdtempSync(path.join(tmpdir(), 'ass-tmpfs-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mountDir], { encoding: 'utf8' });
  if (mount.status !== 0) {
    cannotMount = `cannot mount a 64 KiB tmpfs here (needs root; \`npm test\` runs as root on the CI machine): ${(mount.stderr || mount.error?.message || `exit ${mount.status}`).trim()}`;
    return;
  }
  mounted = true;
  home = await initHome();
  await setConfig(home.configPath, { 'audit.path': path.join(mountDir, 'audit.log') });
  agent = await connectAgent(home.configPath, home.agentKey);
  await ok(agent.client, 'set_secret', { ...SECRET, value: VALUE });
});

afterAll(async () => {
  await agent?.close();
  if (mounted) spawnSync('umount', [mountDir]);
  rmSync(mountDir, { recursive: true, force: true });
  removeHome(home);
});

/** Fills the tmpfs with whole pages until not one more fits; returns the filler's descriptor. */
function fillDisk(): number {
  const fd = openSync(path.join(mountDir, 'filler'), 'w');
  const page = Buffer.alloc(PAGE, 0x2e);
  for (let i = 0; i < 64; i++) {
    try {
      if (writeSync(fd, page) < PAGE) break;
    } catch {
      break;
    }
  }
  return fd;
}

const logText = () => readFileSync(path.join(mountDir, 'audit.log'), 'utf8');

describe('audit log on a full disk', () => {
  it('a read whose record is cut short is refused without its value; the torn tail is kept aside and reported', async (ctx) => {
    if (!mounted) ctx.skip(cannotMount);
    const filler = fillDisk();
    let served = 0;
    let refusals = 0;
    try {
      // Read until the log cannot grow. A record that ends exactly on a page boundary gives a
      // clean ENOSPC instead of a short write: then free one page and go on until a write is torn.
      for (let attempt = 0; attempt < 400; attempt++) {
        const read = await call(agent.client, 'get_secret', SECRET);
        if (read.ok) {
          expect(read.data.value).toBe(VALUE);
          served++;
          continue;
        }
        refusals++;
        expect(read).toMatchObject({ ok: false, code: 'AUDIT_UNAVAILABLE' });
        // Security: the value never comes back on a refused read.
        expect(JSON.stringify(read)).not.toContain(VALUE);
        if (!logText().endsWith('\n')) break;
        const size = fstatSync(filler).size;
        ftruncateSync(filler, Math.max(0, size - PAGE));
      }
      expect(refusals).toBeGreaterThan(0);
      expect(logText().endsWith('\n'), 'a write should have been cut short').toBe(false);
      // Every value served has its complete record: served reads == complete `allowed` records.
      const complete = logText().split('\n').slice(0, -1).map((line) => JSON.parse(line) as { action: string; key?: string; outcome: string });
      expect(complete.filter((r) => r.action === 'get_secret' && r.key === SECRET.key && r.outcome === 'allowed')).toHaveLength(served);
      // Still full: keeping the tail aside fails too, so the read is still refused.
      const stillFull = await call(agent.client, 'get_secret', SECRET);
      expect(stillFull).toMatchObject({ ok: false, code: 'AUDIT_UNAVAILABLE' });
    } finally {
      closeSync(filler);
      rmSync(path.join(mountDir, 'filler'));
    }
    // Room again: the next read keeps the torn tail aside, records the repair and is served.
    const torn = logText().slice(logText().lastIndexOf('\n') + 1);
    expect((await ok(agent.client, 'get_secret', SECRET)).value).toBe(VALUE);
    const kept = readFileSync(path.join(mountDir, 'audit.log.torn'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { partial: string; length: number });
    expect(kept).toHaveLength(1);
    expect(kept[0]!.partial).toBe(torn);
    expect(logText()).toContain('"action":"audit.repair"');
    expect(statSync(path.join(mountDir, 'audit.log.torn')).mode & 0o777).toBe(0o600);
    const verified = await adminJson<{ ok: boolean; tornTails?: { length: number }[] }>(home, ['audit', 'verify', '--json']);
    expect(verified.ok).toBe(true);
    expect(verified.tornTails).toEqual([expect.objectContaining({ length: Buffer.byteLength(torn) })]);
    expect(logText()).not.toContain(VALUE);
  });
});
