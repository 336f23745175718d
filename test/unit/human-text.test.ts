/**
 * Untrusted text on its way to a human, and the config that points webhooks somewhere: the
 * terminal never receives a control code of the agent's, Slack never a mention or link of
 * its, and a webhook block missing what it needs is refused at load with its YAML path.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { terminalBlock, terminalLine } from '../../src/cli/terminal-text.js';
import { humanDuration } from '../../src/cli/approval-report.js';
import { plainText, slackEscape } from '../../src/notify/untrusted-text.js';
import { backoffMs } from '../../src/notify/outbox.js';
import { loadSettings } from '../../src/server/settings.js';
import { hashKey } from '../../src/server/keys.js';

describe('terminal text', () => {
  it('escapes ANSI escapes, C0/C1 controls, DEL and bidi overrides; keeps ordinary text and unicode', () => {
    expect(terminalLine('ok \u001b[31mred\u001b[0m \u0007\u0000\u007f\u009b2J \u202eevil é 日本')).toBe('ok \\x1b[31mred\\x1b[0m \\x07\\x00\\x7f\\x9b2J \\u202eevil é 日本');
    expect(terminalLine('a\r\nb\rc')).toBe('a\\nb\\x0dc');
    expect(terminalLine('\u001b]0;title\u0007')).toBe('\\x1b]0;title\\x07');
    expect(terminalBlock('one\n\u001b[2Atwo', '  ')).toBe('one\n  \\x1b[2Atwo');
  });
  it('durations for humans', () => {
    expect(humanDuration(0)).toBe('now');
    expect(humanDuration(61_000)).toBe('1m 1s');
    expect(humanDuration(3_600_000 + 5 * 60_000 + 7_000)).toBe('1h 5m');
    expect(humanDuration(1)).toBe('1s');
  });
});

describe('slack and plain text', () => {
  it('no <!channel>, <@U…> or <url|label> survives; formatting characters are defused', () => {
    const escaped = slackEscape('<!channel> <@U123> <https://evil|ok> *bold* & more');
    expect(escaped).not.toMatch(/[<>]/);
    expect(escaped).toContain('&lt;!channel&gt;');
    expect(escaped).toContain('&amp; more');
    expect(escaped).not.toContain('*bold*');
  });
  it('plain text drops control characters and cuts at the bound', () => {
    expect(plainText('a\u001b[2Jb\u202ec')).toBe('a[2Jbc');
    expect(plainText('x'.repeat(600), 500)).toHaveLength(500);
  });
  it('backoff grows and is capped', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4].map((a) => backoffMs(a, mid))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(30, mid)).toBe(300_000);
  });
});

describe('notifications config', () => {
  const load = (block: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-notify-config-'));
    writeFileSync(join(dir, 'config.yaml'), `version: 1\nbackend: { type: file, path: ./s, key_file: ./k }\nadmins: [{ id: admin, key_sha256: "${hashKey('ass_admin_x')}" }]\n${block}`);
    return () => loadSettings(join(dir, 'config.yaml'), {});
  };
  it('a generic webhook needs secret_env; events and URLs are checked; defaults apply', () => {
    expect(load('notifications:\n  webhooks:\n    - { url: "https://h.example/x" }')).toThrow(/notifications\.webhooks\[0\]\.secret_env.*signed/);
    expect(load('notifications:\n  webhooks:\n    - { url: "ftp://h.example/x", format: slack }')).toThrow(/notifications\.webhooks\[0\]\.url/);
    expect(load('notifications:\n  webhooks:\n    - { url: "https://h.example/x", format: slack, events: [approval.exploded] }')).toThrow(/events/);
    expect(load('dashboard: { public_url: "javascript:alert(1)" }')).toThrow(/dashboard\.public_url/);
    const ok = load('notifications:\n  webhooks:\n    - { url: "https://hooks.slack.example/T/B/x", format: slack }')();
    expect(ok.config.notifications).toMatchObject({ max_attempts: 8, timeout: '5s', queue_size: 1000 });
    expect(ok.denyCooldownMs).toBe(600_000);
  });
});
