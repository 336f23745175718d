/**
 * TEST-ONLY: lets client ID metadata documents be fetched from loopback (127.0.0.0/8, ::1), so
 * end-to-end tests can serve a document on this machine. Production never fetches from loopback
 * (clients.ts: anyone may name any URL as a client_id).
 *
 * Guarded as src/server/test-clock.ts guards its switch: `ASS_TEST_LOOPBACK_CLIENT_DOCUMENTS`
 * must name a file a test created — an absolute path inside the OS temporary directory, a
 * regular file (not a link) owned by this user with no group/other permission bits, holding
 * JSON `{"purpose": "agent-secret-store test: loopback client documents"}`. Set but not so: the
 * server refuses to start (CONFIG_INVALID), never silently on or off. Active: said on stderr.
 * Private and loopback-only: other private ranges stay refused even then.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AssError } from '../../shared/errors.js';

export const TEST_LOOPBACK_DOCUMENTS_ENV = 'ASS_TEST_LOOPBACK_CLIENT_DOCUMENTS';
export const TEST_LOOPBACK_DOCUMENTS_PURPOSE = 'agent-secret-store test: loopback client documents';

const said = new Set<string>();

function refuse(why: string): AssError {
  return new AssError('CONFIG_INVALID', `${TEST_LOOPBACK_DOCUMENTS_ENV} is set but ${why}. It is a test-only setting: unset it.`);
}

/** True only when a test set the switch as described above; false (always, in production) when unset. */
export function loopbackDocumentsFromEnv(env: Record<string, string | undefined> = process.env): boolean {
  const file = env[TEST_LOOPBACK_DOCUMENTS_ENV];
  if (file === undefined || file === '') return false;
  const temp = path.resolve(tmpdir());
  if (!path.isAbsolute(file) || !path.resolve(file).startsWith(`${temp}${path.sep}`)) throw refuse(`${file} is not inside ${temp}`);
  const info = lstatSync(file, { throwIfNoEntry: false });
  if (!info?.isFile()) throw refuse(`${file} is not a regular file`);
  if (process.platform !== 'win32' && (info.uid !== process.getuid?.() || (info.mode & 0o077) !== 0)) throw refuse(`${file} is not private to this user (owner only, mode 0600)`);
  let purpose: unknown;
  try {
    purpose = (JSON.parse(readFileSync(file, 'utf8')) as { purpose?: unknown } | null)?.purpose;
  } catch {
    throw refuse('its file cannot be read as JSON');
  }
  if (purpose !== TEST_LOOPBACK_DOCUMENTS_PURPOSE) throw refuse(`its file does not say "purpose": "${TEST_LOOPBACK_DOCUMENTS_PURPOSE}"`);
  if (!said.has(file)) {
    said.add(file);
    process.stderr.write(`agent-secret-store: TEST SWITCH ACTIVE (${TEST_LOOPBACK_DOCUMENTS_ENV}=${file}): client ID metadata documents may be fetched from loopback; never use this outside tests.\n`);
  }
  return true;
}
