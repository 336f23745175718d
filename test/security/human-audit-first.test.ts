/**
 * "Every human decision is audited before it takes effect", as a human meets it: the audit log
 * is made unwritable, then a human denies, approves, deletes, rotates and revokes through the
 * built CLI and through REST on a running `serve --http` (admin key), and each of them must fail
 * AND leave nothing changed: approvals still pending, secrets still there at their version, the
 * revoked agent's key, token and approval still alive, the audit log unchanged and verifying.
 *
 * Two ways of breaking the log, each a real failure of the file system, not a mock:
 * - the log replaced by a directory (any user);
 * - the log on a tiny tmpfs whose inodes are all used, so the append's lock file cannot be
 *   created (ENOSPC). The audit lock is a lease a server keeps for a moment after its last record
 *   (src/shared/file-lease.ts): inodes are filled again until no lock (or want) file is left
 *   whose removal would free one, or the next append would find a free inode and succeed. Needs the right to mount (root with CAP_SYS_ADMIN); elsewhere that
 *   variant is skipped with the reason printed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addAgent, admin, approvalIdOf, connectAgent, fails, initHome, ok, removeHome, tempDir, type AgentConnection, type Home,
} from '../helpers/cli.js';
import { raw } from '../helpers/remote-http.js';
import { spawnHttpServer, type SpawnedServer } from '../helpers/remote-server.js';

interface Breaker {
  /** Makes the audit log unwritable. */
  brk(): void | Promise<void>;
  /** Makes it writable again, exactly as it was. */
  restore(): void;
  /** Frees what `setup` took (mounts). */
  dispose(): void;
}

interface Mode {
  name: string;
  /** Why this mode cannot run here, if it cannot. */
  unavailable(): string | undefined;
  /** The directory the audit log should live in, and how to break it. */
  setup(root: string): { auditDir: string; breaker: (auditFile: string) => Breaker };
}

const isRoot = process.getuid?.() === 0;

/** undefined when this process may mount a tmpfs (root without CAP_SYS_ADMIN may not), else why not. */
function canMountTmpfs(): string | undefined {
  const probe = mkdtempSync(path.join(tmpdir(), 'ass-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed here: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const modes: Mode[] = [
  {
    name: 'the audit log replaced by a directory',
    unavailable: () => undefined,
    setup: (root) => {
      const auditDir = path.join(root, 'audit');
      mkdirSync(auditDir, { recursive: true, mode: 0o700 });
      return {
        auditDir,
        breaker: (file) => ({
          brk: () => {
            renameSync(file, `${file}.aside`);
            mkdirSync(file);
          },
          restore: () => {
            rmSync(file, { recursive: true, force: true });
            renameSync(`${file}.aside`, file);
          },
          dispose: () => undefined,
        }),
      };
    },
  },
  {
    name: 'the audit log on a tmpfs with no free inode',
    unavailable: () => (isRoot ? canMountTmpfs() : 'mounting a tmpfs needs root'),
    setup: (root) => {
      const auditDir = path.join(root, 'audit-tmpfs');
      mkdirSync(auditDir, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=64,mode=0700', 'tmpfs', auditDir]);
      const fillers = path.join(auditDir, 'fill');
      return {
        auditDir,
        breaker: () => ({
          brk: async () => {
            mkdirSync(fillers);
            // Use up every inode: then no lock file (nor anything else) can be created there.
            let next = 0;
            const fill = () => {
              for (;; next++) {
                try {
                  writeFileSync(path.join(fillers, String(next)), '');
                } catch (error) {
                  expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
                  return;
                }
              }
            };
            // A server that appended just now still holds the audit lease, its lock file taking
            // an inode; when it lets go (idle, milliseconds) that inode is free again and the
            // next append takes the lock and writes its record, so the log was not unwritable at
            // all. Fill again until only the log and the fillers are left (bounded, event-driven).
            const others = () => readdirSync(auditDir).filter((name) => name !== 'audit.log' && name !== 'fill');
            fill();
            for (let tries = 0; others().length > 0; tries++) {
              expect(tries, `left in the audit folder: ${others().join(', ')}`).toBeLessThan(3000);
              await new Promise((resolve) => setTimeout(resolve, 10));
              fill();
            }
            fill();
          },
          restore: () => rmSync(fillers, { recursive: true, force: true }),
          dispose: () => execFileSync('umount', ['-l', auditDir]),
        }),
      };
    },
  },
];

const SECRETS = ['DEL_CLI', 'DEL_REST', 'ROT_CLI', 'ROT_REST'] as const;
const NS = 'prod/app';

for (const mode of modes) {
  const reason = mode.unavailable();
  if (reason) {
    console.warn(`[human-audit-first] SKIPPED "${mode.name}": ${reason}`);
    describe.skip(`${mode.name} (skipped: ${reason})`, () => {
      it('needs root', () => undefined);
    });
    continue;
  }

  describe(`a human decision is audited before it takes effect: ${mode.name}`, () => {
    let root: string;
    let home: Home;
    let agent: AgentConnection;
    let server: SpawnedServer;
    let breaker: Breaker | undefined;
    let auditFile: string;
    let victimKey: string;
    const rest = (method: string, urlPath: string, bearer: string, body?: unknown) =>
      raw({
        url: server.url, method, path: urlPath,
        headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });

    beforeAll(async () => {
      root = await tempDir('ass-audit-first-');
      const { auditDir, breaker: makeBreaker } = mode.setup(root);
      auditFile = path.join(auditDir, 'audit.log');
      home = await initHome({ 'audit.path': auditFile });
      breaker = makeBreaker(auditFile);
      // Added before the servers start, which read the agents once.
      victimKey = await addAgent(home, 'victim', ['secrets:read:prod/app/*']);
      agent = await connectAgent(home.configPath, home.agentKey);
      server = await spawnHttpServer(home.configPath);
    }, 120_000);

    afterAll(async () => {
      await agent?.close();
      await server?.stop();
      breaker?.dispose();
      removeHome(home);
      rmSync(root, { recursive: true, force: true });
    });

    it('deny, approve, delete, rotate and revoke all fail while the log cannot be written, and change nothing', { timeout: 240_000 }, async () => {
      // Before: what the humans will try to change.
      for (const key of SECRETS) await ok(agent.client, 'set_secret', { namespace: NS, key, value: `value-${key}` });
      // One critical secret per decision: the agent's repeated request would reuse one approval.
      const pending = async (key: string) => {
        const seeded = await admin(home, ['secrets', 'set', 'prod/db', key, '--tier', 'critical'], { input: `critical-${key}` });
        expect(seeded.code, seeded.stderr).toBe(0);
        return approvalIdOf((await fails(agent.client, 'get_secret', { namespace: 'prod/db', key })).error);
      };
      const [denyCli, denyRest, approveCli, approveRest] = [await pending('A'), await pending('B'), await pending('C'), await pending('D')];
      expect(new Set([denyCli, denyRest, approveCli, approveRest]).size).toBe(4);
      const tokenRes = await rest('POST', '/v1/tokens', victimKey, { scopes: ['secrets:read:prod/app/*'], ttl: '1h' });
      expect(tokenRes.status, tokenRes.body).toBe(200);
      const victimToken = JSON.parse(tokenRes.body).token as string;
      const victimApproval = await rest('POST', '/v1/tokens', victimKey, { scopes: ['secrets:read:prod/db/*'] });
      const victimApprovalId = JSON.parse(victimApproval.body).approval_id as string;
      expect(victimApprovalId).toMatch(/^[0-9a-f-]{36}$/);
      const auditBefore = readFileSync(auditFile, 'utf8');

      await breaker!.brk();
      try {
        const cli = {
          denied: await admin(home, ['approvals', 'deny', denyCli]),
          approved: await admin(home, ['approvals', 'approve', approveCli]),
          deleted: await admin(home, ['secrets', 'delete', NS, 'DEL_CLI']),
          rotated: await admin(home, ['secrets', 'rotate', NS, 'ROT_CLI', '--generate']),
          revoked: await admin(home, ['agents', 'revoke', 'victim']),
        };
        for (const [what, result] of Object.entries(cli)) {
          expect(result.code, `${what}: ${result.stdout}`).not.toBe(0);
          expect(result.stderr, what).toMatch(/audit log could not be written/);
        }
        const viaRest = {
          denied: await rest('POST', `/v1/approvals/${denyRest}/deny`, home.adminKey),
          approved: await rest('POST', `/v1/approvals/${approveRest}/approve`, home.adminKey),
          deleted: await rest('DELETE', `/v1/secrets/${NS}/DEL_REST`, home.adminKey),
          rotated: await rest('POST', `/v1/secrets/${NS}/ROT_REST/rotate`, home.adminKey, { generate: true }),
        };
        for (const [what, res] of Object.entries(viaRest)) {
          expect(res.status, `${what}: ${res.body}`).toBe(503);
          expect(JSON.parse(res.body).error.code, what).toBe('AUDIT_UNAVAILABLE');
        }
      } finally {
        breaker!.restore();
      }

      // Nothing took effect, and nothing was recorded.
      expect(readFileSync(auditFile, 'utf8')).toBe(auditBefore);
      for (const id of [denyCli, denyRest, approveCli, approveRest]) {
        expect((await ok(agent.client, 'get_approval_status', { approval_id: id })).status, id).toBe('pending');
      }
      for (const key of SECRETS) {
        expect(await ok(agent.client, 'get_secret', { namespace: NS, key }), key).toMatchObject({ value: `value-${key}`, version: 1 });
      }
      const victimRead = await rest('GET', `/v1/secrets/${NS}/DEL_CLI`, victimToken);
      expect(victimRead.status, victimRead.body).toBe(200);
      const stillPending = JSON.parse((await rest('GET', '/v1/approvals', home.adminKey)).body) as { items: { approval_id: string; status: string }[] };
      expect(stillPending.items.find((a) => a.approval_id === victimApprovalId)?.status).toBe('pending');
      const agents = await admin(home, ['agents', 'list', '--json']);
      expect((JSON.parse(agents.stdout) as { id: string }[]).map((a) => a.id)).toContain('victim');
      const verified = await admin(home, ['audit', 'verify']);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);

      // Writable again, the same decisions go through (so the failures above were the log's).
      expect((await admin(home, ['approvals', 'deny', denyCli])).code).toBe(0);
      expect((await rest('DELETE', `/v1/secrets/${NS}/DEL_REST`, home.adminKey)).status).toBe(200);
      const revoked = await admin(home, ['agents', 'revoke', 'victim']);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect((await rest('GET', `/v1/secrets/${NS}/DEL_CLI`, victimToken)).status).toBe(401);
    });
  });
}
