/**
 * The test-only clock seam cannot be switched on by accident: unset means the system clock;
 * set, it must name a private clock file with the marker inside the temp directory, or the
 * process refuses to start. A valid one follows the file as the test rewrites it.
 */
import { chmodSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_CLOCK_ENV, TEST_CLOCK_PURPOSE, testClockFromEnv } from '../../src/server/test-clock.js';
import { createTestClock, type TestClock } from '../helpers/test-clock.js';

const made: TestClock[] = [];
afterEach(() => made.splice(0).forEach((c) => c.remove()));

const env = (file: string) => ({ [TEST_CLOCK_ENV]: file });

describe('testClockFromEnv', () => {
  it('is off when the variable is unset or empty', () => {
    expect(testClockFromEnv({})).toBeUndefined();
    expect(testClockFromEnv({ [TEST_CLOCK_ENV]: '' })).toBeUndefined();
  });

  it('follows a valid clock file as the test moves it', () => {
    const clock = createTestClock(1_000_000);
    made.push(clock);
    const now = testClockFromEnv(clock.env)!;
    expect(now().getTime()).toBe(1_000_000);
    expect(now().getTime()).toBe(1_000_000);
    clock.advance(4_000);
    expect(now().getTime()).toBe(1_004_000);
  });

  it('refuses a file without the marker, a shared file, a link, a missing file and a path outside the temp dir', () => {
    const clock = createTestClock();
    made.push(clock);
    const dir = path.dirname(clock.file);
    const noMarker = path.join(dir, 'no-marker.json');
    writeFileSync(noMarker, JSON.stringify({ now_ms: 5 }), { mode: 0o600 });
    expect(() => testClockFromEnv(env(noMarker))).toThrow(/purpose/);
    const badTime = path.join(dir, 'bad-time.json');
    writeFileSync(badTime, JSON.stringify({ purpose: TEST_CLOCK_PURPOSE, now_ms: 'soon' }), { mode: 0o600 });
    expect(() => testClockFromEnv(env(badTime))).toThrow(/now_ms/);
    const shared = path.join(dir, 'shared.json');
    writeFileSync(shared, JSON.stringify({ purpose: TEST_CLOCK_PURPOSE, now_ms: 5 }));
    chmodSync(shared, 0o620);
    expect(() => testClockFromEnv(env(shared))).toThrow(/private/);
    const link = path.join(dir, 'link.json');
    symlinkSync(clock.file, link);
    expect(() => testClockFromEnv(env(link))).toThrow(/regular file/);
    expect(() => testClockFromEnv(env(path.join(dir, 'missing.json')))).toThrow(/regular file/);
    expect(() => testClockFromEnv(env('clock.json'))).toThrow(/inside/);
    // A folder outside the temp dir (the checkout itself may live under it, as CI's clone can).
    const tmp = realpathSync(tmpdir());
    const base = [process.cwd(), homedir(), '/var/tmp'].find((d) => !realpathSync(d).startsWith(`${tmp}${path.sep}`) && realpathSync(d) !== tmp);
    if (!base) throw new Error('no writable folder outside the temp dir to test with');
    const outside = mkdtempSync(path.join(base, '.ass-clock-outside-'));
    try {
      const file = path.join(outside, 'clock.json');
      writeFileSync(file, JSON.stringify({ purpose: TEST_CLOCK_PURPOSE, now_ms: 5 }), { mode: 0o600 });
      expect(() => testClockFromEnv(env(file))).toThrow(/inside/);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
