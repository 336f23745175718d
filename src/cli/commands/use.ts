import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseDotenv } from 'dotenv';
import { AssError, isAssError } from '../../shared/errors.js';
import { authenticateAgent } from '../../server/authenticate.js';
import { humanUseSession } from '../../server/human-use.js';
import type { Runtime } from '../../server/runtime.js';
import type { UseSession, UseTool } from '../../server/secret-service.js';
import { ENV_NAME, INHERITED_ENV } from '../../server/use-calls.js';
import { allowCommand } from '../../use/command-allowlist.js';
import { writeFileAtomic } from '../../shared/durable-file.js';
import { parseReference, placeholderReferences, renderPlaceholders, REFERENCE_PREFIX, type SecretReference } from '../../use/reference.js';
import { runMasked } from '../../use/runner.js';
import { scratchHomeEnv, withScratchHome } from '../../use/scratch-home.js';
import { adminFor, settingsFor, withRuntime, type GlobalOptions } from '../context.js';

/** `run` / `inject` exit with this when a secret needs a human approval (and --wait was not given). */
export const EXIT_APPROVAL_REQUIRED = 75;
/** The command could not be found / started (as shells do). */
const EXIT_NOT_FOUND = 127;
const EXIT_CANNOT_RUN = 126;
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
const WAIT_POLL_MS = 1000;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** NAME=value lines: `ass://…` values are references, others are passed as they are. */
function parseAssignment(text: string, where: string): [string, string] {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !ENV_NAME.test(name)) throw new AssError('INVALID_ARGUMENT', `${where}: expected NAME=ass://<namespace>/<key> (got ${JSON.stringify(text.slice(0, 60))}).`);
  return [name, text.slice(eq + 1)];
}

/** An env file as dotenv reads it (`#` comments, quotes, `export`); names are checked as for --env. */
async function envFileAssignments(file: string): Promise<Array<[string, string]>> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new AssError('INVALID_ARGUMENT', `--env-file ${JSON.stringify(file)} cannot be read.`);
  });
  return Object.entries(parseDotenv(text)).map(([name, value]) => parseAssignment(`${name}=${value}`, file));
}

/** Where an agent's command looks up other programs: fixed, never the caller's PATH (H12-1). */
const AGENT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * As an agent, `run` is run_with_secrets from a shell (H12-1): the command, its arguments and its
 * variables must pass use.commands.allow (refused when use.commands is absent), and the command
 * gets the tool's environment (LANG, LC_ALL, TZ, a fixed PATH, the requested variables), never
 * the caller's (an agent could set NODE_OPTIONS, PATH or LD_PRELOAD there); HOME and the working
 * directory are an empty private directory unless --cwd names one the rule allows.
 * Throws POLICY_DENIED.
 */
function agentCommand(runtime: Runtime, command: string[], cwd: string | undefined, named: ReadonlyArray<readonly [string, string, SecretReference | null]>): NodeJS.ProcessEnv {
  const config = runtime.settings.config.use?.commands;
  if (!config) throw new AssError('POLICY_DENIED', 'run with an agent key needs use.commands in the config (the same allow-list as run_with_secrets); nothing was started.');
  allowCommand(config.allow, command, cwd, named.map(([name, value, ref]) => (ref ? [name, ref] : [name, null, value])));
  const env: NodeJS.ProcessEnv = { PATH: AGENT_PATH };
  for (const name of INHERITED_ENV) if (name !== 'PATH' && process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

/** Who resolves: the agent of ASS_AGENT_KEY (its grants, action `use`), else a human with the admin key. */
async function useAs(runtime: Runtime, tool: UseTool, fn: (session: UseSession, agentId: string | null) => Promise<void>): Promise<void> {
  const agentKey = process.env.ASS_AGENT_KEY;
  if (agentKey) {
    const agent = authenticateAgent(runtime.settings, agentKey);
    return runtime.service.withUse(agent, tool, (session) => fn(session, agent.config.id));
  }
  return fn(humanUseSession(runtime, await adminFor(runtime.settings)), null);
}

/**
 * Resolves, and with --wait waits out approvals: each APPROVAL_REQUIRED prints the request and
 * its link on stderr, then either ends the command (exit 75) or polls until a human decides.
 */
async function resolveWaiting(runtime: Runtime, session: UseSession, agentId: string | null, refs: SecretReference[], how: string, wait: boolean): Promise<Map<string, string> | null> {
  for (;;) {
    try {
      return await session.resolve(refs, how);
    } catch (error) {
      if (!isAssError(error) || error.code !== 'APPROVAL_REQUIRED') throw error;
      const id = String(error.details?.approval_id ?? '');
      process.stderr.write(`agent-secret-store: ${error.message}\n`);
      if (!wait || agentId === null) {
        process.exitCode = EXIT_APPROVAL_REQUIRED;
        return null;
      }
      process.stderr.write('agent-secret-store: waiting for the decision (--wait)…\n');
      for (;;) {
        await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
        const view = await runtime.approvals.viewForAgent(id, agentId);
        if (view.status === 'pending') continue;
        if (view.status !== 'approved') throw new AssError('POLICY_DENIED', `The approval ${id} was ${view.status}; nothing was run.`);
        break;
      }
    }
  }
}

export function registerUse(program: Command): void {
  program
    .command('run')
    .description('Run a command with secrets in its environment, its output masked: run [--env NAME=ass://ns/key]… [--env-file FILE] [--wait] -- <command> [args…]')
    .argument('<command...>', 'the command and its arguments (after --); started without a shell')
    .option('--env <NAME=ass://ns/key>', 'set NAME to the secret (repeatable)', collect, [])
    .option('--env-file <file>', 'NAME=ass://ns/key lines (# comments; other values are passed as they are)')
    .option('--wait', 'when a secret needs a human approval, wait for the decision instead of exiting 75')
    .option('--cwd <dir>', "the command's working directory (absolute; as an agent, one the rule's cwd list allows; default: an empty private directory)")
    .addHelpText('after', `\nAs ASS_AGENT_KEY's agent (action "use" in its grants), else as a human (ASS_ADMIN_KEY).\nExit: the command's own code (or its signal); ${EXIT_APPROVAL_REQUIRED} when approval is needed; 2 refused; 126/127 cannot start.\nSee docs/use.md for what masking cannot catch.`)
    .action(async (command: string[], options: { env: string[]; envFile?: string; wait?: boolean; cwd?: string }, cmd: Command) => {
      const settings = settingsFor(cmd.optsWithGlobals<GlobalOptions>());
      const assignments = [...(options.envFile ? await envFileAssignments(options.envFile) : []), ...options.env.map((e) => parseAssignment(e, '--env'))];
      const named = assignments.map(([name, value]) => [name, value, value.startsWith(REFERENCE_PREFIX) ? parseReference(value) : null] as const);
      const refs = named.flatMap(([, , ref]) => (ref ? [ref] : []));
      const [executable, ...args] = command;
      // The full path as given (an agent's must be absolute): the audit says exactly what ran.
      const how = `command ${executable!}`;
      let signal: NodeJS.Signals | null = null;
      await withRuntime(settings, (runtime) =>
        useAs(runtime, 'run', async (session, agentId) => {
          let env: NodeJS.ProcessEnv;
          if (agentId === null) {
            env = { ...process.env };
            // Security: the child gets the secrets it was given, never our own credentials.
            delete env.ASS_AGENT_KEY;
            delete env.ASS_ADMIN_KEY;
          } else {
            try {
              env = agentCommand(runtime, command, options.cwd, named);
            } catch (error) {
              if (error instanceof AssError && error.code === 'POLICY_DENIED') return session.refuse(refs, how, error);
              throw error;
            }
          }
          const values = await resolveWaiting(runtime, session, agentId, refs, how, Boolean(options.wait));
          if (!values) return;
          for (const [name, value, ref] of named) env[name] = ref ? values.get(ref.text)! : value;
          try {
            const start = (cwd: string | undefined, extra: NodeJS.ProcessEnv) =>
              runMasked({ executable: executable!, args, env: { ...env, ...extra }, cwd, values: [...values.values()], stdin: 'inherit', stdout: process.stdout, stderr: process.stderr, forwardSignals: FORWARDED, merge: agentId !== null });
            // An agent's command gets an empty private HOME (and working directory), never its own.
            const result = agentId === null ? await start(options.cwd, {}) : await withScratchHome((home) => start(options.cwd ?? home, scratchHomeEnv(home)));
            signal = result.signal;
            await session.finished(refs, how, result.exitCode === 0, signal ? `signal ${signal}` : `exit ${result.exitCode}`);
            process.exitCode = result.exitCode ?? 1;
          } catch (error) {
            const code = (error as NodeJS.ErrnoException)?.code;
            await session.finished(refs, how, false, `could not start (${code ?? 'error'})`);
            process.stderr.write(`agent-secret-store: ${JSON.stringify(executable)} could not be started (${code ?? 'error'}).\n`);
            process.exitCode = code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
          }
        }),
      );
      // A child ended by a signal ends us by the same signal, so the caller sees what a shell shows.
      if (signal) process.kill(process.pid, signal);
    });

  program
    .command('inject')
    .description('Render {{ ass://ns/key }} placeholders of a template into a file written 0600 atomically (or to stdout)')
    .requiredOption('-i, --in <template>', 'the template file')
    .option('-o, --out <file>', 'the file to write (0600, atomic rename); stdout when absent')
    .option('--wait', 'when a secret needs a human approval, wait for the decision instead of exiting 75')
    .action(async (options: { in: string; out?: string; wait?: boolean }, cmd: Command) => {
      const settings = settingsFor(cmd.optsWithGlobals<GlobalOptions>());
      const template = await readFile(options.in, 'utf8').catch(() => {
        throw new AssError('INVALID_ARGUMENT', `-i ${JSON.stringify(options.in)} cannot be read.`);
      });
      const refs = placeholderReferences(template);
      const how = `inject ${options.out ? path.basename(options.out) : 'stdout'}`;
      await withRuntime(settings, (runtime) =>
        useAs(runtime, 'inject', async (session, agentId) => {
          const values = await resolveWaiting(runtime, session, agentId, refs, how, Boolean(options.wait));
          if (!values) return;
          const rendered = renderPlaceholders(template, (ref) => values.get(ref.text)!);
          if (options.out) await writeFileAtomic(path.resolve(options.out), rendered, 0o600);
          else process.stdout.write(rendered);
          await session.finished(refs, how, true, options.out ? 'written' : 'printed');
        }),
      );
    });
}
