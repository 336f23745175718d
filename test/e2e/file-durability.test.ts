/**
 * "The file backend fsyncs the file and its directory", proven on a real process by syscall
 * tracing: `strace -f` follows the built CLI's `secrets set` (the thread pool included, where
 * the fsyncs run). A new version of an existing secret is appended to its file and fdatasynced
 * (second test). Creating a secret must show, for the secret's file, in this order:
 *   1. the temp file created exclusively beside it,
 *   2. an fsync of that temp file that completed with 0,
 *   3. the rename of the temp file over the secret's name,
 *   4. an fsync of the secrets directory (opened after the rename) that completed with 0.
 * strace is a Debian package that `npm test` installs (scripts/peers/install-strace.sh); without
 * it the suite fails naming that script, unless ASS_ALLOW_MISSING_PEERS=1.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { secretFileName } from '../../src/adapters/file/secret-file.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { baseEnv, CLI, initHome, REPO_ROOT, removeHome, type Home } from '../helpers/cli.js';

const STRACE_HINT = 'bash scripts/peers/install-strace.sh';
const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;

/** One traced event: a syscall that completed, with its line number in the trace. */
interface Completed {
  line: number;
  call: string;
  /** The whole call text, start and resumption joined. */
  text: string;
  result: string;
}

/**
 * Reads an `strace -f -y` log into completed calls, joining `<unfinished ...>` with its
 * `<... x resumed>` line of the same pid; a call counts at the line where it completed.
 */
function parseTrace(log: string): Completed[] {
  const open = new Map<string, string>();
  const out: Completed[] = [];
  log.split('\n').forEach((raw, line) => {
    const m = /^(\d+)\s+(.*)$/.exec(raw);
    if (!m) return;
    const [, pid, rest] = m as unknown as [string, string, string];
    if (rest.endsWith('<unfinished ...>')) {
      open.set(pid, rest.slice(0, -'<unfinished ...>'.length));
      return;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    const text = resumed ? `${open.get(pid) ?? `${resumed[1]}(`}${resumed[2]}` : rest;
    if (resumed) open.delete(pid);
    const call = /^(\w+)\(/.exec(text)?.[1];
    const result = /\)\s+=\s+(.*)$/.exec(text)?.[1];
    if (call && result !== undefined) out.push({ line, call, text, result });
  });
  return out;
}

async function traceSecretsSet(home: Home, namespace: string, key: string): Promise<string> {
  const log = path.join(home.dir, 'strace.log');
  const args = ['-f', '-qq', '-y', '-o', log, '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2',
    process.execPath, CLI, '--config', home.configPath, 'secrets', 'set', namespace, key, '--tier', 'standard'];
  const child = spawn('strace', args, { cwd: REPO_ROOT, env: baseEnv({ ASS_ADMIN_KEY: home.adminKey }), stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  child.stdin.end('durable-value');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  expect(code, stderr).toBe(0);
  return await readFile(log, 'utf8');
}

if (!hasStrace) {
  describeMissingPeer('durable writes under strace', 'strace is not installed.', STRACE_HINT);
} else {
  describe('durable writes under strace', () => {
    let home: Home | undefined;
    afterAll(() => removeHome(home));

    it('secrets set: temp file fsynced, then renamed over the secret, then the directory fsynced', async () => {
      home = await initHome();
      const trace = parseTrace(await traceSecretsSet(home, 'production/durable', 'KEY'));
      const name = secretFileName('production/durable', 'KEY');
      // The store's secrets directory as the process saw it (a resolved path, from -y).
      const rename = trace.find((c) => /^rename(at2?)?\(/.test(c.text) && c.text.includes(`/secrets/${name}"`) && c.result === '0');
      expect(rename, 'a rename over the secret file').toBeDefined();
      const temp = new RegExp(`"([^"]*/secrets/\\.${name}\\.[0-9a-f]+\\.tmp)"`).exec(rename!.text)?.[1];
      expect(temp, rename!.text).toBeDefined();
      const secretsDir = path.dirname(temp!);

      const created = trace.find((c) => c.call === 'openat' && c.text.includes(`"${temp}"`) && /O_CREAT/.test(c.text) && /O_EXCL/.test(c.text));
      expect(created, 'the temp file created with O_CREAT|O_EXCL').toBeDefined();
      const fileFsync = trace.find((c) => (c.call === 'fsync' || c.call === 'fdatasync') && c.text.includes(`<${temp}>`) && c.result === '0');
      expect(fileFsync, 'an fsync of the temp file').toBeDefined();
      const dirFsync = trace.find((c) => c.line > rename!.line && (c.call === 'fsync' || c.call === 'fdatasync') && c.text.includes(`<${secretsDir}>`) && c.result === '0');
      expect(dirFsync, 'an fsync of the secrets directory after the rename').toBeDefined();

      expect(created!.line).toBeLessThan(fileFsync!.line);
      expect(fileFsync!.line, 'the file is fsynced before it is renamed').toBeLessThan(rename!.line);
      expect(rename!.line).toBeLessThan(dirFsync!.line);
    });

    it('secrets set on an existing secret: its file opened for append (never created), the new version written and fdatasynced, no rename', async () => {
      home ??= await initHome();
      await traceSecretsSet(home, 'production/appended', 'KEY');
      const trace = parseTrace(await traceSecretsSet(home, 'production/appended', 'KEY'));
      const name = secretFileName('production/appended', 'KEY');
      const opened = trace.find((c) => c.call === 'openat' && c.text.includes(`/secrets/${name}"`) && /O_APPEND/.test(c.text) && /^\d+<[^>]*>$/.test(c.result));
      expect(opened, 'the secret file opened with O_APPEND').toBeDefined();
      expect(opened!.text).not.toMatch(/O_CREAT/);
      const fd = /^(\d+)</.exec(opened!.result)![1];
      const synced = trace.find((c) => c.line > opened!.line && (c.call === 'fdatasync' || c.call === 'fsync') && c.text.startsWith(`${c.call}(${fd}<`) && c.text.includes(`/secrets/${name}>`) && c.result === '0');
      expect(synced, 'an fdatasync of the appended file').toBeDefined();
      expect(trace.some((c) => /^rename(at2?)?\(/.test(c.text) && c.text.includes(`/secrets/${name}"`)), 'no rename over the secret').toBe(false);
    });
  });
}
