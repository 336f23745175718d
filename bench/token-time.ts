/**
 * The cost of deciding approval at token time (src/server/token-tier-approval.ts): POST
 * /v1/tokens / request_token now lists the secrets the scopes reach. Measured in-process on the
 * file backend against a same-run baseline that skips the listing: a `namespaces:read` token,
 * which goes through the same pipeline (grants, state store, audit, signing) and reaches no
 * secret. Rounds are interleaved so both see the same state-file growth.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyFile } from '../src/adapters/file/index.js';
import { generateAdminKey, generateAgentKey, hashKey } from '../src/server/keys.js';
import { createLogger } from '../src/server/logger.js';
import { openRuntime } from '../src/server/runtime.js';
import { loadSettings } from '../src/server/settings.js';
import { authenticateAgent } from '../src/server/authenticate.js';
import { figure, measure, ms, ratio, table, type Summary } from './stats.js';

const NAMESPACES = 8;
const PER_NAMESPACE = 20;
const ROUNDS = 3;
const CALLS = 20;

export async function runTokenTimeBench(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-token-'));
  try {
    await createKeyFile(join(dir, 'store.key'));
    const agentKey = generateAgentKey();
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify({
      version: 1, data_dir: '.', backend: { type: 'file', path: './secrets', key_file: './store.key' }, server: { log_level: 'error' },
      // The benchmark issues thousands of tokens; it measures the listing, not the live-token cap.
      tokens: { max_active_per_agent: 100_000 },
      admins: [{ id: 'admin', key_sha256: hashKey(generateAdminKey()) }],
      agents: [{ id: 'bench', key_sha256: hashKey(agentKey), grants: ['secrets:*:**'], deny: [] }],
    }), { mode: 0o600 });
    const settings = loadSettings(join(dir, 'config.yaml'), {});
    const runtime = await openRuntime(settings, createLogger('error'));
    for (let n = 0; n < NAMESPACES; n++) {
      for (let k = 0; k < PER_NAMESPACE; k++) {
        await runtime.backend.put({ namespace: `team${n}/app`, key: `KEY_${k}`, value: 'x'.repeat(32), secret_type: 'custom', access_tier: 'standard', metadata: {} });
      }
    }
    const agent = authenticateAgent(settings, agentKey);
    const ask = (scopes: string[]) => () => runtime.service.requestToken(agent, { scopes, ttl: '5m' });
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['baseline: namespaces:read (no listing)', ask(['namespaces:read'])],
      [`one exact secret (secrets:read:team0/app/KEY_0)`, ask(['secrets:read:team0/app/KEY_0'])],
      [`one namespace of ${PER_NAMESPACE} (secrets:read:team0/app/*)`, ask(['secrets:read:team0/app/*'])],
      [`everything: ${NAMESPACES} namespaces × ${PER_NAMESPACE} (secrets:read:**)`, ask(['secrets:read:**'])],
    ];
    const samples = cases.map(() => [] as Summary[]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [, fn]] of cases.entries()) samples[i]!.push(await measure(CALLS, round === 0 ? 5 : 0, fn));
    }
    await runtime.close();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const p50 = samples.map((s) => median(s.map((x) => x.p50)));
    const p99 = samples.map((s) => median(s.map((x) => x.p99)));
    const rows = [['request_token', 'p50', 'p99', 'ratio p50 to baseline', 'ratio p99 to baseline']];
    for (const [i, [label]] of cases.entries()) rows.push([label, ms(p50[i]!), ms(p99[i]!), figure(`request_token p50, ${label}, vs baseline`, p50[i]!, p50[0]!, 'ms'), ratio(p99[i]!, p99[0]!)]);
    return [`### Approval at token time: request_token in-process, file backend (${ROUNDS} interleaved rounds × ${CALLS} calls; medians of the rounds)`, '', table(rows)].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('token-time.ts')) process.stdout.write(`${await runTokenTimeBench()}\n`);
