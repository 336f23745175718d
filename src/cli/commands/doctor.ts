/**
 * `agent-secret-store doctor`: checks a setup the way a server would use it and says what to
 * fix — the config (every problem with its YAML path), the file modes of the config, data
 * directory and keys, the backend (opens it: key file or passphrase, then reachability and
 * credentials through its health check), the audit chain (with its key) and the state file.
 * Read-only: it opens nothing for writing but what the backend's own health probe writes.
 * Exit 1 when any check fails. Never prints a value, key or token.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createBackend } from '../../adapters/registry.js';
import { readAuditKey } from '../../audit/audit-key.js';
import { verifyAuditLog } from '../../audit/verify.js';
import { verifyPgAuditLog } from '../../audit/pg-audit-log.js';
import { migrateAll, openStateDatabase, pgStateConnection, pgTargets } from '../../server/postgres-setup.js';
import { pgTarget, pgTlsFor } from '../../shared/pg/pool.js';
import { ConfigError, resolveConfigPath } from '../../config/load.js';
import { isAssError } from '../../shared/errors.js';
import { loadSettings, type Settings } from '../../server/settings.js';
import { print, type GlobalOptions } from '../context.js';

interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

function modeOf(path: string): number | undefined {
  const info = lstatSync(path, { throwIfNoEntry: false });
  return info ? info.mode & 0o777 : undefined;
}

/** A file or folder that must not be open to group or others (`want` is 0600 or 0700). */
function privateMode(what: string, path: string, want: number, required: boolean): Check {
  const mode = modeOf(path);
  if (mode === undefined) return { check: what, ok: !required, detail: `${path} does not exist${required ? '' : ' yet (made on first use)'}`, ...(required ? { fix: 'run `agent-secret-store init`, or point the config at the right place' } : {}) };
  const open = (mode & 0o077) !== 0;
  return { check: what, ok: !open, detail: `${path} (mode ${mode.toString(8).padStart(4, '0')})`, ...(open ? { fix: `chmod ${want.toString(8)} ${path}` } : {}) };
}

function message(error: unknown): string {
  return isAssError(error) ? `${error.message} [${error.code}]` : `${(error as Error)?.name ?? 'Error'}: ${String((error as Error)?.message ?? error).slice(0, 300)}`;
}

async function backendChecks(settings: Settings): Promise<Check[]> {
  let backend;
  try {
    backend = await createBackend(settings.backend);
  } catch (error) {
    return [{ check: 'backend', ok: false, detail: `the ${settings.backend.type} backend did not open: ${message(error)}`, fix: 'fix what the message names (key file, passphrase variable, address, credentials)' }];
  }
  try {
    const health = await backend.health();
    return [{ check: 'backend', ok: health.ok, detail: `${settings.backend.type}: ${health.detail}`, ...(health.ok ? {} : { fix: settings.backend.type === 'file' ? 'check the store folder and its key' : `see docs/${settings.backend.type}.md for the access the proxy needs` }) }];
  } finally {
    await backend.close();
  }
}

async function auditChecks(settings: Settings): Promise<Check[]> {
  const checks = [privateMode('audit key', settings.auditKeyPath, 0o600, false)];
  const state = pgStateConnection(settings);
  if (state) checks.push({ check: 'audit log', ok: true, detail: `in PostgreSQL (state.type: postgres) at ${pgTarget(state.url)}, one chain shared by every replica; every replica needs the same ${settings.auditKeyPath}` });
  try {
    const key = readAuditKey(settings.auditKeyPath);
    let result;
    if (state) {
      const db = openStateDatabase(settings);
      try {
        result = await verifyPgAuditLog(db, { key });
      } finally {
        await db.close();
      }
    } else result = await verifyAuditLog(settings.auditPath, undefined, { key });
    const torn = result.tornTails ? `; ${result.tornTails.length} torn line(s) kept aside in ${result.tornTails[0]!.file}` : '';
    checks.push(
      result.ok
        ? { check: 'audit chain', ok: true, detail: `${result.count} records, chain intact${result.keyed ? ' (keyed)' : ''}${torn}` }
        : { check: 'audit chain', ok: false, detail: result.problems.slice(0, 3).map((p) => `${p.file} line ${p.line}: ${p.problem}`).join('; '), fix: 'run `agent-secret-store audit verify` for the full report; keep the log as evidence' },
    );
  } catch (error) {
    const unreachable = isAssError(error) && error.code === 'STATE_UNAVAILABLE';
    checks.push({ check: 'audit chain', ok: false, detail: message(error), fix: unreachable ? 'check that PostgreSQL answers at the state url (see docs/postgres.md)' : 'restore audit.key or the log from a backup' });
  }
  return checks;
}

/** Whether every PostgreSQL database the config uses has its schema up to date (read-only). */
async function postgresSchemaChecks(settings: Settings): Promise<Check[]> {
  try {
    const reports = await migrateAll(settings, { dryRun: true });
    return reports.map((r) =>
      r.pending.length === 0
        ? { check: `postgres schema (${r.label})`, ok: true, detail: `${r.target}: up to date` }
        : { check: `postgres schema (${r.label})`, ok: false, detail: `${r.target}: ${r.pending.length} migration(s) pending`, fix: 'run `agent-secret-store migrate`, or set migrate_on_start: true' },
    );
  } catch (error) {
    return [{ check: 'postgres schema', ok: false, detail: message(error), fix: 'check the url, the server and the credentials; see docs/postgres.md' }];
  }
}

/**
 * How each PostgreSQL database is reached (security review H10-1). Plain TCP off this machine
 * (an explicit `ssl.mode: disable`) and TLS whose certificate is not tied to your CA are allowed
 * but said here: an impostor on the path would receive the database password.
 */
function postgresTlsChecks(settings: Settings): Check[] {
  return pgTargets(settings).map((t): Check => {
    const check = `postgres tls (${t.label})`;
    const target = pgTarget(t.connection.url);
    let decision: ReturnType<typeof pgTlsFor>;
    try {
      decision = pgTlsFor(t.connection);
    } catch (error) {
      return { check, ok: false, detail: message(error), fix: 'fix ssl.ca_file / cert_file / key_file (see docs/postgres.md#tls)' };
    }
    if (decision.warning) return { check, ok: true, detail: `warning: ${decision.warning}` };
    const ssl = t.connection.ssl;
    if (ssl?.mode === 'require') return { check, ok: true, detail: `warning: ${target} is encrypted but its certificate is not checked (ssl.mode require): an impostor on the path still receives the password; prefer mode verify-full with ca_file` };
    if (ssl?.mode === 'verify-ca' && !ssl.ca_file) return { check, ok: true, detail: `warning: ${target} accepts any certificate from a public CA, for any host name (ssl.mode verify-ca without ca_file); set ca_file, or use verify-full` };
    const how = { 'ssl block': `ssl.mode ${ssl?.mode ?? ''}`, url: 'sslmode in the URL', loopback: 'plain TCP on loopback', 'default verify-full': 'verify-full (the default for a non-loopback host)' }[decision.source];
    return { check, ok: true, detail: `${target}: ${how}` };
  });
}

function stateCheck(settings: Settings): Check {
  const shared = pgStateConnection(settings);
  if (shared) return { check: 'state', ok: true, detail: `in PostgreSQL (state.type: postgres) at ${pgTarget(shared.url)}, shared by every replica (its schema: see 'postgres schema'); every replica needs the same ${settings.signingKeyPath}` };
  // A state.json of an earlier version: migrated by the first command that opens the state.
  if (existsSync(settings.statePath)) {
    try {
      JSON.parse(readFileSync(settings.statePath, 'utf8'));
      return { check: 'state', ok: true, detail: `${settings.statePath} (an earlier version's state) is migrated into ${settings.stateDir} when the server next starts` };
    } catch {
      return { check: 'state', ok: false, detail: `${settings.statePath} is not valid JSON`, fix: 'restore it from a backup (pending approvals and issued tokens are in it)' };
    }
  }
  const dir = join(settings.stateDir, 'approvals');
  if (!existsSync(dir)) return { check: 'state', ok: true, detail: `${settings.stateDir} does not exist yet (made on first use)` };
  const files = readdirSync(dir).filter((name) => name.endsWith('.json') && !name.startsWith('.'));
  const broken = files.filter((name) => {
    try {
      JSON.parse(readFileSync(join(dir, name), 'utf8'));
      return false;
    } catch {
      return true;
    }
  });
  if (broken.length > 0) return { check: 'state', ok: false, detail: `${broken.length} approval record(s) in ${dir} are not valid JSON (e.g. ${broken[0]})`, fix: 'restore the state directory from a backup' };
  return { check: 'state', ok: true, detail: `${settings.stateDir}: ${files.length} approval record(s)` };
}

export async function runDoctor(configFlag: string | undefined): Promise<Check[]> {
  const configPath = resolveConfigPath(configFlag);
  let settings: Settings;
  try {
    settings = loadSettings(configPath);
  } catch (error) {
    const detail = error instanceof ConfigError ? error.message : message(error);
    return [{ check: 'config', ok: false, detail, fix: 'fix the config (each problem names its YAML path and line); nothing else was checked' }];
  }
  const checks: Check[] = [{ check: 'config', ok: true, detail: `${configPath} is valid (${settings.agents.length} agent(s), ${settings.config.admins.length} admin(s), backend ${settings.backend.type})` }];
  const configMode = modeOf(configPath) ?? 0;
  // Security: whoever can write the config can add an agent with any grant.
  checks.push({ check: 'config mode', ok: (configMode & 0o022) === 0, detail: `${configPath} (mode ${configMode.toString(8).padStart(4, '0')})`, ...((configMode & 0o022) !== 0 ? { fix: `chmod 600 ${configPath}` } : {}) });
  checks.push(privateMode('data folder', settings.dataDir, 0o700, true));
  checks.push(privateMode('token signing key', settings.signingKeyPath, 0o600, false));
  if (settings.backend.type === 'file' && settings.backend.key_file) checks.push(privateMode('store key file', settings.backend.key_file, 0o600, true));
  checks.push(...(await backendChecks(settings)));
  checks.push(...postgresTlsChecks(settings));
  checks.push(...(await postgresSchemaChecks(settings)));
  checks.push(...(await auditChecks(settings)));
  checks.push(stateCheck(settings));
  return checks;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('Check the setup and say what to fix: config, file modes, keys, backend reachability and credentials, audit chain, state (exit 1 on a problem)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const checks = await runDoctor(command.optsWithGlobals<GlobalOptions>().config);
      const failed = checks.filter((c) => !c.ok);
      print(Boolean(options.json), { ok: failed.length === 0, checks }, () =>
        [
          ...checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.check}: ${c.detail}${c.fix ? `\n        fix: ${c.fix}` : ''}`),
          failed.length === 0 ? 'All checks passed.' : `${failed.length} problem(s) found.`,
        ].join('\n'),
      );
      if (failed.length > 0) process.exitCode = 1;
    });
}
