/**
 * The two use-without-reveal calls, shared by the MCP tools and REST: run_with_secrets and
 * http_request. Each runs inside SecretService.withUse (the one pipeline: policy with action
 * `use`, approvals, audit), and returns only masked output.
 */
import { AssError } from '../shared/errors.js';
import { parseTtl } from '../policy/index.js';
import { allowCommand } from '../use/command-allowlist.js';
import { scratchHomeEnv, withScratchHome } from '../use/scratch-home.js';
import { destinationOf, planRequest, requestReferences, sendRequest, type HttpAnswer, type HttpRequestInput } from '../use/http-broker.js';
import { parseReference, type SecretReference } from '../use/reference.js';
import { runMasked } from '../use/runner.js';
import type { SecretService, TokenRestriction, UseSession } from './secret-service.js';
import type { AgentSettings } from './settings.js';

export interface RunWithSecretsInput {
  command: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Seconds; at most use.commands.timeout. */
  timeout?: number;
}

export interface RunWithSecretsResult {
  exit_code: number | null;
  signal?: string;
  timed_out: boolean;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

/** Variables a command gets from the server's own environment (nothing else: it may hold keys). */
export const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ'];

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** `{NAME: "ass://…"}` → parsed references, names checked. */
export function envReferences(env: Record<string, string>): Array<[string, SecretReference]> {
  return Object.entries(env).map(([name, text]) => {
    if (!ENV_NAME.test(name)) throw new AssError('INVALID_ARGUMENT', `${JSON.stringify(name.slice(0, 40))} is not an environment variable name (letters, digits, _; not starting with a digit).`);
    return [name, parseReference(text)];
  });
}

const cut = (text: string): string => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

/** Runs a check; a POLICY_DENIED from it is audited against each secret the call named. */
async function refusing<T>(use: UseSession, references: SecretReference[], how: string, check: () => T): Promise<T> {
  try {
    return check();
  } catch (error) {
    if (error instanceof AssError && error.code === 'POLICY_DENIED') return use.refuse(references, how, error);
    throw error;
  }
}

export async function runWithSecrets(service: SecretService, agent: AgentSettings, input: RunWithSecretsInput): Promise<RunWithSecretsResult> {
  return service.withUse(agent, 'run_with_secrets', async (use) => {
    const config = service.settings.config.use?.commands;
    if (!config) throw new AssError('POLICY_DENIED', 'run_with_secrets is not configured on this server (use.commands).');
    const named = envReferences(input.env ?? {});
    // Security: the allow-list is checked before any secret is resolved and before anything starts.
    const allowed = await refusing(use, named.map(([, ref]) => ref), `command ${cut(String(input.command[0] ?? ''))}`, () =>
      allowCommand(config.allow, input.command, input.cwd, named.map(([name, ref]) => [name, ref])),
    );
    const maxMs = parseTtl(config.timeout);
    const timeoutMs = input.timeout === undefined ? maxMs : Math.min(maxMs, input.timeout * 1000);
    const references = named.map(([, ref]) => ref);
    const how = `command ${allowed.executable}`;
    const values = await use.resolve(references, how);
    const env: NodeJS.ProcessEnv = {};
    for (const name of INHERITED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
    for (const [name, ref] of named) env[name] = values.get(ref.text)!;
    let result;
    try {
      // Security: HOME and the working directory are an empty private directory, never a place the agent writes.
      result = await withScratchHome((home) =>
        runMasked({ executable: allowed.executable, args: allowed.args, env: { ...env, ...scratchHomeEnv(home) }, cwd: allowed.cwd ?? home, values: [...values.values()], stdin: 'ignore', outputCap: config.output_cap, timeoutMs, merge: true, group: true }),
      );
    } catch (error) {
      const code = String((error as NodeJS.ErrnoException)?.code ?? 'error');
      await use.finished(references, how, false, `could not start (${code})`);
      throw new AssError('INVALID_ARGUMENT', `${allowed.executable} could not be started (${code}).`);
    }
    const ended = result.timedOut ? 'timed out' : result.signal ? `signal ${result.signal}` : `exit ${result.exitCode}`;
    await use.finished(references, how, !result.timedOut && result.exitCode === 0, ended);
    return { exit_code: result.exitCode, ...(result.signal ? { signal: result.signal } : {}), timed_out: result.timedOut, stdout: result.stdout, stderr: result.stderr, truncated: result.truncated };
  });
}

export async function httpRequest(service: SecretService, agent: AgentSettings, input: HttpRequestInput, token?: TokenRestriction): Promise<HttpAnswer> {
  return service.withUse(
    agent,
    'http_request',
    async (use) => {
      const config = service.settings.config.use?.http;
      if (!config) throw new AssError('POLICY_DENIED', 'http_request is not configured on this server (use.http).');
      // Security: where each secret may go is decided before anything is resolved or sent.
      const plan = await refusing(use, requestReferences(input), `${input.method} ${destinationOf(input.url)}`, () => planRequest(config.rules, input));
      const how = `${plan.method} ${plan.destination}`;
      const values = await use.resolve(plan.references, how);
      try {
        const answer = await sendRequest(plan, values, { timeoutMs: parseTtl(config.timeout), responseCap: config.response_cap });
        await use.finished(plan.references, how, true, `status ${answer.status}`);
        return answer;
      } catch (error) {
        await use.finished(plan.references, how, false, error instanceof AssError ? error.code : 'failed');
        throw error;
      }
    },
    token,
  );
}
