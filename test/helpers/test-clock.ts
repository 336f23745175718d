/**
 * The test side of src/server/test-clock.ts: a private clock file in a fresh temp directory,
 * and the environment that points a server or CLI process at it. `set`/`advance` rewrite the
 * file atomically (temp file + rename), so every process sees the new instant at its next read
 * and never a half-written file.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_CLOCK_ENV, TEST_CLOCK_PURPOSE } from '../../src/server/test-clock.js';

export interface TestClock {
  file: string;
  /** Environment for every process that must share this clock. */
  env: Record<string, string>;
  now(): number;
  set(ms: number): void;
  advance(ms: number): void;
  remove(): void;
}

export function createTestClock(startMs = Date.parse('2030-01-01T00:00:00.000Z')): TestClock {
  const dir = mkdtempSync(path.join(tmpdir(), 'ass-test-clock-'));
  const file = path.join(dir, 'clock.json');
  let current = startMs;
  const write = (ms: number) => {
    const temp = `${file}.tmp`;
    writeFileSync(temp, JSON.stringify({ purpose: TEST_CLOCK_PURPOSE, now_ms: ms }), { mode: 0o600 });
    renameSync(temp, file);
    current = ms;
  };
  write(startMs);
  return {
    file,
    env: { [TEST_CLOCK_ENV]: file },
    now: () => current,
    set: write,
    advance: (ms) => write(current + ms),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
