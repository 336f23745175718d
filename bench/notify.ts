import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createKeyFile } from '../src/adapters/file/index.js';
import { authenticateAgent } from '../src/server/authenticate.js';
import { generateAdminKey, generateAgentKey, hashKey } from '../src/server/keys.js';
import { openRuntime } from '../src/server/runtime.js';
import { loadSettings } from '../src/server/settings.js';
import { figure, measure, ms, ratio, table } from './stats.js';

/**
 * What a webhook costs the agent: opening an approval request (request_token beyond the
 * grants, a new scope each call) with no notifications, beside the same with a webhook whose
 * receiver accepts every connection and never answers (the slow receiver). Same run, same
 * machine; the ratio is the figure.
 */
async function setup(webhookUrl: string | null) {
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-notify-'));
  await createKeyFile(join(dir, 'store.key'));
  const agentKey = generateAgentKey();
  const hook = webhookUrl ? `notifications:\n  webhooks:\n    - { url: "${webhookUrl}", format: generic, secret_env: ASS_BENCH_HOOK }\n  queue_size: 100000\n` : '';
  writeFileSync(join(dir, 'config.yaml'), `version: 1
backend: { type: file, path: ./secrets, key_file: ./store.key }
admins: [{ id: admin, key_sha256: ${hashKey(generateAdminKey())} }]
agents: [{ id: bot, key_sha256: ${hashKey(agentKey)}, grants: ["secrets:read:granted/**"] }]
# The benchmark opens hundreds of requests; it measures the webhook, not the per-agent caps.
approvals: { max_pending_per_agent: 1000, max_pending_bytes_per_agent: 16777216 }
${hook}`);
  const settings = loadSettings(join(dir, 'config.yaml'), {});
  const runtime = await openRuntime(settings, pino({ level: 'silent' }), { env: { ...process.env, ASS_BENCH_HOOK: randomBytes(16).toString('hex') } });
  const agent = authenticateAgent(settings, agentKey);
  let n = 0;
  const ask = async () => {
    const answer = await runtime.service.requestToken(agent, { scopes: [`secrets:read:asked/n${n++}/K`] });
    if (!answer.requires_approval) throw new Error('expected an approval request');
  };
  return { runtime, ask, close: async () => { await runtime.close(); rmSync(dir, { recursive: true, force: true }); } };
}

export async function runNotifyBench(options: { calls?: number } = {}): Promise<string> {
  const calls = options.calls ?? 200;
  const held: ServerResponse[] = [];
  const receiver = createServer((_req, res) => held.push(res));
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const plain = await setup(null);
  const hooked = await setup(url);
  const rounds = 4;
  const p: number[] = [];
  const h: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = await measure(calls / rounds, 10, plain.ask);
    const b = await measure(calls / rounds, 10, hooked.ask);
    p.push(a.p50);
    h.push(b.p50);
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const heldCount = held.length;
  for (const res of held) res.destroy();
  await hooked.runtime.notifier?.close(0);
  await Promise.all([plain.close(), hooked.close()]);
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  return [
    '## Webhooks: what a slow receiver costs the agent',
    '',
    `Opening an approval request (request_token beyond the grants), p50 of ${calls} calls each, in-process on the file state store; the receiver never answers (${heldCount} deliveries held open at the end).`,
    '',
    table([
      ['case', 'p50', 'ratio to no webhook'],
      ['no notifications (baseline)', ms(med(p)), '1.00×'],
      ['webhook, receiver never answers', ms(med(h)), figure('approval request p50, webhook receiver never answers, vs no notifications', med(h), med(p), 'ms')],
    ]),
  ].join('\n');
}

if (process.argv[1]?.endsWith('notify.ts')) process.stdout.write(`${await runNotifyBench()}\n`);
