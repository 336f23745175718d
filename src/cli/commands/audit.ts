import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { fileLines } from '../../shared/file-lines.js';
import { AssError } from '../../shared/errors.js';
import type { Command } from 'commander';
import { rotateAuditLog } from '../../audit/audit-log.js';
import { readAuditKey } from '../../audit/audit-key.js';
import { verifyAuditLog, type AuditVerification } from '../../audit/verify.js';
import { pgAuditLines, verifyPgAuditLog } from '../../audit/pg-audit-log.js';
import { openStateDatabase, pgStateConnection } from '../../server/postgres-setup.js';
import type { Settings } from '../../server/settings.js';
import { adminFor, print, settingsFor, type GlobalOptions } from '../context.js';

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('The audit log');

  audit
    .command('verify')
    .description('Check the keyed hash chain (with audit.key): finds an edited, inserted or deleted line (exit 1 if any); a cut-off tail needs --head')
    .option('--head <hash>', 'the head hash you recorded earlier, to detect a cut-off tail')
    .option('--all', 'after `audit rotate`: also check every older file in full, back to the first')
    .option('--key-file <path>', 'the audit key to check with (default: audit.key in the data folder), e.g. a copy kept off the machine')
    .option('--json', 'print JSON')
    .action(async (options: { head?: string; all?: boolean; json?: boolean; keyFile?: string }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const keyPath = options.keyFile ? resolve(options.keyFile) : settings.auditKeyPath;
      const key = readAuditKey(keyPath);
      if (options.keyFile && !key) throw new AssError('INVALID_ARGUMENT', `No audit key at ${keyPath}.`);
      const onPostgres = pgStateConnection(settings) !== null;
      const result: AuditVerification = onPostgres
        ? await withStateDatabase(settings, (db) => verifyPgAuditLog(db, { key, expectedHead: options.head }))
        : await verifyAuditLog(settings.auditPath, options.head, { all: options.all, key });
      const continues =
        (result.continues ? `\nContinues from ${result.continues.file}${result.continues.present ? '' : ' (not beside the log; the link was not checked)'}.` : '') +
        (result.notChecked ? `\nNot beside the log, so the chain before them was not checked: ${result.notChecked.join(', ')}.` : '') +
        (result.tornTails ? `\nTorn last lines kept aside (writes cut short by a full disk or a crash; each has an audit.repair record): ${result.tornTails.map((t) => `${t.length} bytes at offset ${t.offset} (${t.ts}) in ${t.file}`).join('; ')}.` : '') +
        (result.keyed ? '' : `\nNo audit key at ${keyPath}: only the unkeyed part of the chain was checked.`);
      print(Boolean(options.json), { path: onPostgres ? result.files[0] : settings.auditPath, ...result }, () =>
        result.ok
          ? `OK: ${result.count} records${result.files.length > 1 ? ` in ${result.files.length} files` : ''}, chain intact. Head: ${result.head ?? '(empty)'}${continues}`
          : `BROKEN: ${result.problems.length} problem(s) in ${result.count} records:\n${result.problems.map((p) => `  ${p.file} line ${p.line}: ${p.problem}`).join('\n')}${continues}`,
      );
      if (!result.ok) process.exitCode = 1;
    });

  audit
    .command('rotate')
    .description('Start a new audit file; the old one is renamed <name>.<UTC time> and the chain continues (needs the admin key)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      if (pgStateConnection(settings)) {
        throw new AssError('INVALID_ARGUMENT', 'The audit log is in PostgreSQL (state.type: postgres): it is one table, not a file, and is not rotated. Archive it with `agent-secret-store audit export --out <file>` and back up the database.');
      }
      const adminId = await adminFor(settings);
      const rotation = await rotateAuditLog(settings.auditPath, `admin:${adminId}`, new Date(), { keyPath: settings.auditKeyPath });
      print(
        Boolean(options.json),
        { path: settings.auditPath, rotated_to: rotation.rotatedTo, last_seq: rotation.lastSeq, last_hash: rotation.lastHash, first_seq: rotation.first.seq },
        () =>
          `Rotated: records 1-${rotation.lastSeq} are now in ${basename(rotation.rotatedTo)} (last hash ${rotation.lastHash}).\n` +
          `${basename(settings.auditPath)} goes on from record ${rotation.first.seq}; running servers continue the chain on their next record.\n` +
          'Archive the old file with its last hash; `audit verify` checks the link while the file is beside the log.',
      );
    });

  audit
    .command('export')
    .description('Write the audit records as JSON lines, oldest first, exactly as chained (from PostgreSQL when state.type is postgres, else the current log file)')
    .option('--out <file>', 'write to this new file (mode 0600; refuses to overwrite) instead of standard output')
    .action(async (options: { out?: string }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const out = options.out ? await openExclusive(resolve(options.out)) : null;
      const write = async (line: string) => {
        if (out) await out.write(`${line}\n`);
        else if (!process.stdout.write(`${line}\n`)) await new Promise((done) => process.stdout.once('drain', done));
      };
      let count = 0;
      try {
        if (pgStateConnection(settings)) {
          await withStateDatabase(settings, async (db) => {
            for await (const line of pgAuditLines(db)) {
              await write(line);
              count++;
            }
          });
        } else if (existsSync(settings.auditPath)) {
          for await (const line of fileLines(settings.auditPath)) {
            if (line === '') continue;
            await write(line);
            count++;
          }
        }
      } finally {
        await out?.close();
      }
      if (options.out) process.stderr.write(`Exported ${count} audit record(s) to ${options.out}.\n`);
    });
}

async function withStateDatabase<T>(settings: Settings, fn: (db: ReturnType<typeof openStateDatabase>) => Promise<T>): Promise<T> {
  const db = openStateDatabase(settings);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function openExclusive(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new AssError('INVALID_ARGUMENT', `${path} already exists; choose a new file name (an export never overwrites).`);
    throw new AssError('INVALID_ARGUMENT', `Cannot create ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}
