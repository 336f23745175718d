/**
 * TEST-ONLY: a clock that end-to-end tests set by hand across real processes (the server and
 * the CLI commands a human runs), so approval delays, grants and expiry are checked at exact
 * instants instead of by waiting for them and hoping the machine was fast enough.
 *
 * Contract: `testClockFromEnv(env)` returns undefined when `ASS_TEST_CLOCK_FILE` is unset (every
 * production process). When it is set, the named file must be a clock file a test created:
 *   - an absolute path inside the OS temporary directory,
 *   - a regular file (not a link) owned by this user, with no group or other permission bits,
 *   - JSON `{"purpose": "agent-secret-store test clock", "now_ms": <integer>}`.
 * Otherwise the process refuses to start (CONFIG_INVALID): a half-set test clock is never
 * silently ignored nor silently used. Each read of the clock reads the file again, so the test
 * moves time for every process at once by rewriting it; the time stands still in between.
 *
 * Security: a clock moved forward would end an approval delay or a pending window early, so
 * this must never be active by accident: it needs the variable AND a private file with the
 * marker in the temp directory, and every process that uses it says so on stderr. Anyone who
 * can set a server's environment and write its files could already point it at another config,
 * so this grants no one anything new.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AssError } from '../shared/errors.js';
import type { Clock } from '../shared/types.js';

export const TEST_CLOCK_ENV = 'ASS_TEST_CLOCK_FILE';
export const TEST_CLOCK_PURPOSE = 'agent-secret-store test clock';

function refuse(why: string): AssError {
  return new AssError('CONFIG_INVALID', `${TEST_CLOCK_ENV} is set but ${why}. It is a test-only setting: unset it.`);
}

function readClockFile(file: string): Date {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw refuse('its file cannot be read as JSON');
  }
  const { purpose, now_ms: nowMs } = (parsed ?? {}) as { purpose?: unknown; now_ms?: unknown };
  if (purpose !== TEST_CLOCK_PURPOSE) throw refuse(`its file does not say "purpose": "${TEST_CLOCK_PURPOSE}"`);
  if (typeof nowMs !== 'number' || !Number.isSafeInteger(nowMs) || nowMs < 0) throw refuse('its file has no integer now_ms');
  return new Date(nowMs);
}

/** The test clock the environment asks for, or undefined (always, in production). */
export function testClockFromEnv(env: Record<string, string | undefined> = process.env): Clock | undefined {
  const file = env[TEST_CLOCK_ENV];
  if (file === undefined || file === '') return undefined;
  const temp = path.resolve(tmpdir());
  if (!path.isAbsolute(file) || !path.resolve(file).startsWith(`${temp}${path.sep}`)) throw refuse(`${file} is not inside ${temp}`);
  const info = lstatSync(file, { throwIfNoEntry: false });
  if (!info?.isFile()) throw refuse(`${file} is not a regular file`);
  // Security: a file others can write would let them move this process's time.
  if (process.platform !== 'win32' && (info.uid !== process.getuid?.() || (info.mode & 0o077) !== 0)) {
    throw refuse(`${file} is not private to this user (owner only, mode 0600)`);
  }
  readClockFile(file);
  process.stderr.write(`agent-secret-store: TEST CLOCK ACTIVE (${TEST_CLOCK_ENV}=${file}); never use this outside tests.\n`);
  return () => readClockFile(file);
}
