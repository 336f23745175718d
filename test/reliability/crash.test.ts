/**
 * Crashes: a file-backend writer is SIGKILLed at a random moment, 300 times (ASS_CRASH_ROUNDS),
 * alternating two real writers on each of a few homes (ASS_CRASH_LANES, default 3) at once:
 *  - the agent side: the built stdio server under a pipelined stream of set_secret writes,
 *    request_token within the grants (a token record) and beyond them (a pending approval);
 *  - the human side (helpers/crash-human-worker.mjs on dist/): `secrets rotate` steps,
 *    `audit rotate` and approval decisions.
 * After every kill, with nothing running: the audit chain verifies (every rotated file too),
 * the state file loads, every secret decrypts and reads as the old or the new value — never an
 * older one than the last acknowledged write (that would be a lost write), never anything else —
 * and its version never goes back. The next round's writer must also get every lock a killed
 * process held. At the end the product's own `audit verify --all` and `approvals list --all`
 * agree, and a fresh server serves every secret. The kill points come from a seeded generator
 * (ASS_CRASH_SEED; printed) so a failure can be replayed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createFileBackend } from '../../src/adapters/file/index.js';
import type { FileBackendConfig } from '../../src/adapters/file/index.js';
import { createFileStateStore } from '../../src/state/file-store.js';
import { readAuditKey } from '../../src/audit/audit-key.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { loadSettings } from '../../src/server/settings.js';
import { addAgent, admin, adminJson, baseEnv, connectAgent, initHome, ok, REPO_ROOT, removeHome, type Home } from '../helpers/cli.js';
import { figure } from './helpers/process-probe.js';
import { spawnRawStdio, toolCallMessage } from './helpers/raw-stdio.js';

const ROUNDS = Number(process.env.ASS_CRASH_ROUNDS ?? 300);
const SEED = Number(process.env.ASS_CRASH_SEED ?? Date.now() % 2 ** 31);
const KEYS = Array.from({ length: 8 }, (_, i) => `crash/ns${i % 3}/KEY_${i}`);
const HUMAN_WORKER = path.join(import.meta.dirname, 'helpers/crash-human-worker.mjs');

/** mulberry32: a small seeded generator, so kill points replay from the printed seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Per secret: the value durable after the last check, and the one written since (if any). */
interface Expectation {
  durable: string;
  version: number;
  acked?: string;
  inFlight?: string;
}

/** What the writers got through before their kills, for the printed figure. */
const totals = { sent: 0, acked: 0, inFlightAtKill: 0, auditRotations: 0, decisions: 0, tokenRequests: 0 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One home and its writers, killed round after round. Several lanes run at once on separate
 * homes so that one lane's wait for its kill point overlaps another's process start.
 */
class Lane {
  home!: Home;
  agentKey!: string;
  readonly expected = new Map<string, Expectation>();

  constructor(readonly index: number) {}

  async setUp(): Promise<void> {
    this.home = await initHome();
    this.agentKey = await addAgent(this.home, 'crasher', ['secrets:*:crash/**']);
    const seedClient = await connectAgent(this.home.configPath, this.agentKey);
    try {
      for (const full of KEYS) {
        const i = full.lastIndexOf('/');
        const stored = await ok(seedClient.client, 'set_secret', { namespace: full.slice(0, i), key: full.slice(i + 1), value: 'seed' });
        this.expected.set(full, { durable: 'seed', version: stored.version });
      }
    } finally {
      await seedClient.close();
    }
  }

  record(full: string, kind: 'sent' | 'ack', value: string): void {
    const e = this.expected.get(full)!;
    if (kind === 'sent') {
      e.inFlight = value;
      totals.sent++;
    } else {
      totals.acked++;
      e.acked = value;
      if (e.inFlight === value) e.inFlight = undefined;
    }
  }

  /** The agent side: pipelined writes to the stdio server, killed `delayMs` after they start. */
  async agentRound(round: number, delayMs: number): Promise<void> {
    const server = spawnRawStdio(this.home.configPath, this.agentKey, { ASS_LOG_LEVEL: 'warn' });
    try {
      await server.initialize();
      let next = 0;
      let inFlight = 0;
      let stop = false;
      const pump = (): void => {
        while (!stop && inFlight < 4) {
          const i = next++;
          const id = `r${round}-${i}`;
          let message: unknown;
          let full: string | undefined;
          let value: string | undefined;
          // The first message of a round opens an approval (beyond the grants), so the human
          // rounds have decisions to make even when a kill comes early.
          if (i % 6 <= 1) totals.tokenRequests++;
          if (i % 6 === 0) message = toolCallMessage(id, 'request_token', { scopes: [`secrets:read:elsewhere/X${round}_${i}`], ttl: '15m' });
          else if (i % 6 === 1) message = toolCallMessage(id, 'request_token', { scopes: [`secrets:read:crash/ns${i % 3}/*`], ttl: '15m' });
          else {
            // Round-robin over 8 keys with at most 4 requests in flight: one write per secret at a time.
            full = KEYS[(round * 5 + i) % KEYS.length]!;
            value = `a${round}-${i}`;
            const cut = full.lastIndexOf('/');
            message = toolCallMessage(id, 'set_secret', { namespace: full.slice(0, cut), key: full.slice(cut + 1), value });
            this.record(full, 'sent', value);
          }
          inFlight++;
          server.send(message);
          server.answer(id, 120_000).then(
            (answer) => {
              inFlight--;
              if (full && value && answer.result && !answer.result.isError) this.record(full, 'ack', value);
              pump();
            },
            () => undefined,
          );
        }
      };
      pump();
      await sleep(delayMs);
      stop = true;
    } finally {
      await server.kill('SIGKILL');
    }
  }

  /** The human side: the worker's rotations, audit rotations and decisions, killed `delayMs` after ready. */
  async humanRound(round: number, delayMs: number): Promise<void> {
    const child = spawn(process.execPath, [HUMAN_WORKER, this.home.configPath, String(round), KEYS.join(',')], { cwd: REPO_ROOT, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ready: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const [kind, full, value] = out.slice(0, nl).split(' ');
        out = out.slice(nl + 1);
        if (kind === 'ready') ready();
        else if (kind === 'op' && full === 'audit-rotate') totals.auditRotations++;
        else if (kind === 'op' && full === 'decision') totals.decisions++;
        else if ((kind === 'sent' || kind === 'ack') && full && value) this.record(full, kind, value);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
    // 'close', not 'exit': every line the worker wrote is read before the checks run.
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const timeout = sleep(60_000).then(() => 'timeout' as const);
    const first = await Promise.race([readyP.then(() => 'ready' as const), closed.then(() => 'exited' as const), timeout]);
    if (first !== 'ready') {
      child.kill('SIGKILL');
      throw new Error(`human worker round ${round} (lane ${this.index}) did not get ready (${first}): ${err}`);
    }
    await sleep(delayMs);
    if (child.exitCode !== null) throw new Error(`human worker round ${round} (lane ${this.index}) died on its own (${child.exitCode}): ${err}`);
    child.kill('SIGKILL');
    await closed;
  }

  /** Everything that must hold after a kill, with no process of this lane running. */
  async checkAfterKill(round: number, kind: string): Promise<void> {
    const where = `lane ${this.index}, round ${round} (${kind})`;
    const settings = loadSettings(this.home.configPath, baseEnv());
    // The chain is keyed: verified with audit.key, as `audit verify` does.
    const audit = await verifyAuditLog(settings.auditPath, undefined, { all: true, key: readAuditKey(settings.auditKeyPath) });
    expect(audit.problems, `audit chain after the kill in ${where}`).toEqual([]);
    expect(audit.ok).toBe(true);
    // The state opens (a journal a kill left is applied) and every record reads.
    const state = createFileStateStore({ dir: settings.stateDir, legacyFile: settings.statePath });
    await state.transactOutbox(() => undefined);
    await state.listApprovals();
    await state.listTokens();
    const backend = await createFileBackend(settings.backend as FileBackendConfig, baseEnv());
    try {
      for (const full of KEYS) {
        const cut = full.lastIndexOf('/');
        const secret = await backend.get(full.slice(0, cut), full.slice(cut + 1));
        const e = this.expected.get(full)!;
        if (e.inFlight) totals.inFlightAtKill++;
        const allowed = e.inFlight ? [e.acked ?? e.durable, e.inFlight] : [e.acked ?? e.durable];
        expect(allowed, `${full} after the kill in ${where}: read ${secret?.value} v${secret?.version}`).toContain(secret?.value);
        expect(secret!.version, `${full} version went back in ${where}`).toBeGreaterThanOrEqual(e.version);
        this.expected.set(full, { durable: secret!.value, version: secret!.version });
      }
    } finally {
      await backend.close();
    }
  }

  /** The product's own checks at the end: `audit verify --all`, `approvals list --all`, a fresh server. */
  async finalCheck(): Promise<number> {
    const verify = await admin(this.home, ['audit', 'verify', '--all']);
    expect(verify.code, `lane ${this.index}: audit verify --all: ${verify.stdout}${verify.stderr}`).toBe(0);
    const approvals = await adminJson<unknown[]>(this.home, ['approvals', 'list', '--all']);
    const fresh = await connectAgent(this.home.configPath, this.agentKey);
    try {
      for (const full of KEYS) {
        const cut = full.lastIndexOf('/');
        const got = await ok(fresh.client, 'get_secret', { namespace: full.slice(0, cut), key: full.slice(cut + 1) });
        expect(got.value).toBe(this.expected.get(full)!.durable);
      }
    } finally {
      await fresh.close();
    }
    return approvals.length;
  }
}

const LANES = Math.max(1, Number(process.env.ASS_CRASH_LANES ?? 3));
const lanes = Array.from({ length: LANES }, (_, i) => new Lane(i));

beforeAll(async () => {
  for (const lane of lanes) await lane.setUp();
});

afterAll(() => {
  for (const lane of lanes) removeHome(lane.home);
});

test(`crashes: ${ROUNDS} SIGKILLs of file-backend writers leave store, state and audit verifiable`, { timeout: 1_200_000 }, async () => {
  const random = seeded(SEED);
  figure('crash', `seed ${SEED} (replay with ASS_CRASH_SEED=${SEED}), ${LANES} lanes`);
  // The kill points are drawn up front, in round order, so a seed replays whatever the lanes' timing.
  const delays = Array.from({ length: ROUNDS }, () => Math.floor(random() * 400));
  const started = performance.now();
  await Promise.all(
    lanes.map(async (lane) => {
      for (let round = lane.index; round < ROUNDS; round += LANES) {
        // Kill points spread from "at once" to well into the work; agent and human writers alternate.
        const kind = Math.floor(round / LANES) % 2 === 0 ? 'agent' : 'human';
        if (kind === 'agent') await lane.agentRound(round, delays[round]!);
        else await lane.humanRound(round, delays[round]!);
        await lane.checkAfterKill(round, kind);
      }
    }),
  );
  let approvalRecords = 0;
  for (const lane of lanes) approvalRecords += await lane.finalCheck();
  figure(
    'crash',
    `${ROUNDS} SIGKILLs (agent and human writers alternating, ${LANES} homes at once), every check passed; ${totals.sent} secret writes started, ` +
      `${totals.acked} acknowledged, ${totals.inFlightAtKill} in flight at a kill; ${totals.tokenRequests} token requests, ${totals.auditRotations} audit rotations ` +
      `and ${totals.decisions} approval decisions started; ${approvalRecords} approval records; ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
});
