/**
 * The dashboard's security building blocks with an injected clock: wrong keys slow an address
 * down exponentially and a success clears it; CSRF tokens compare exactly; `html` escapes every interpolation.
 */
import { describe, expect, it } from 'vitest';
import { html, escapeHtml } from '../../src/dashboard/html.js';
import { tokensMatch } from '../../src/dashboard/sessions.js';
import { SignInThrottle } from '../../src/dashboard/sign-in-throttle.js';

function clockAt(start = Date.parse('2026-06-01T10:00:00Z')) {
  let t = start;
  return { clock: () => new Date(t), advance: (ms: number) => (t += ms) };
}

describe('tokensMatch', () => {
  it('accepts only the exact token', () => {
    expect(tokensMatch('abc', 'abc')).toBe(true);
    expect(tokensMatch('abd', 'abc')).toBe(false);
    expect(tokensMatch('ab', 'abc')).toBe(false);
    expect(tokensMatch(undefined, 'abc')).toBe(false);
    expect(tokensMatch(['abc'], 'abc')).toBe(false);
  });
});

describe('SignInThrottle', () => {
  it('lets 5 wrong keys through, then doubles the wait, per address; a success clears it', () => {
    const { clock, advance } = clockAt();
    const throttle = new SignInThrottle(clock);
    for (let i = 0; i < 5; i++) {
      expect(throttle.waitSeconds('10.0.0.1')).toBe(0);
      throttle.fail('10.0.0.1');
    }
    expect(throttle.waitSeconds('10.0.0.1')).toBe(1);
    expect(throttle.waitSeconds('10.0.0.2')).toBe(0);
    advance(1_000);
    throttle.fail('10.0.0.1');
    expect(throttle.waitSeconds('10.0.0.1')).toBe(2);
    advance(2_000);
    throttle.fail('10.0.0.1');
    expect(throttle.waitSeconds('10.0.0.1')).toBe(4);
    throttle.succeed('10.0.0.1');
    expect(throttle.waitSeconds('10.0.0.1')).toBe(0);
  });

  it('caps the wait and forgets an address after the window', () => {
    const { clock, advance } = clockAt();
    const throttle = new SignInThrottle(clock, 5, 300, 15 * 60_000);
    for (let i = 0; i < 30; i++) throttle.fail('a');
    expect(throttle.waitSeconds('a')).toBe(300);
    advance(15 * 60_000);
    expect(throttle.waitSeconds('a')).toBe(0);
  });
});

describe('html', () => {
  it('escapes every interpolation, nested html stays markup, arrays are escaped item by item', () => {
    const evil = `<img src=x onerror=alert(1)>"'\`&`;
    expect(html`<p title="${evil}">${evil}</p>`.text).toBe('<p title="&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&#96;&amp;">&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&#96;&amp;</p>');
    expect(html`<ul>${[evil, html`<li>ok</li>`]}</ul>`.text).toBe(`<ul>${escapeHtml(evil)}<li>ok</li></ul>`);
    expect(html`${null}${undefined}${false}${0}`.text).toBe('0');
  });
});
