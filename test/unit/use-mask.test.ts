import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MASK_MARKER, Masker, createMaskingStream, maskForms } from '../../src/use/mask.js';

/** The encodings the issue names: the value, base64, base64url, hex (both cases), URL-encoded, JSON-escaped. */
function encodings(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [value, b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), b.toString('hex'), b.toString('hex').toUpperCase(), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
}

/** What a reader can see: the text between markers (a marker itself reveals nothing). */
function visibleParts(output: string): string[] {
  return output.split(MASK_MARKER);
}

function maskInPieces(values: string[], input: Buffer, cuts: number[]): string {
  const masker = new Masker(values);
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, input.length]) {
    out.push(masker.push(input.subarray(at, p)));
    at = p;
  }
  out.push(masker.end());
  return Buffer.concat(out).toString('utf8');
}

describe('masking stream', () => {
  it('property: random values, random surrounding text, random write splits — no value or encoding survives', () => {
    const valueArb = fc.string({ unit: fc.oneof(fc.constantFrom('a', 'Z', '0', '/', '+', '=', ' ', '"', '\\', '%', '\n', 'é', '€', '😀'), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 24 });
    fc.assert(
      fc.property(
        fc.array(valueArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.nat(7), fc.nat(2)), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(10_000), { maxLength: 12 }),
        (values, pieces, cuts) => {
          const text = pieces.map(([filler, form, which]) => filler + encodings(values[which % values.length]!)[form]!).join('');
          const output = maskInPieces(values, Buffer.from(text, 'utf8'), cuts);
          for (const part of visibleParts(output)) {
            for (const v of values) for (const e of encodings(v)) expect(part.includes(e), `${JSON.stringify(e)} in ${JSON.stringify(part)}`).toBe(false);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('splitting one write at every offset gives the same masked output as one write', () => {
    const value = 'sk_live_51Hq+/é"x';
    const text = `a ${encodings(value).join(' | ')} z`;
    const input = Buffer.from(text, 'utf8');
    const whole = maskInPieces([value], input, []);
    expect(whole.split(MASK_MARKER).length - 1).toBe(encodings(value).length);
    for (let i = 0; i <= input.length; i++) for (const j of [i, i + 1, i + 7]) expect(maskInPieces([value], input, [i, j])).toBe(whole);
  });

  it('base64 of a longer text that contains the value is masked at every alignment', () => {
    const value = 'correct-horse-battery';
    for (const prefix of ['', 'u', 'us', 'user:']) {
      const b64 = Buffer.from(`${prefix}${value}!`).toString('base64');
      const masked = new Masker([value]).maskText(`Authorization: Basic ${b64}`);
      expect(masked).toContain(MASK_MARKER);
      expect(masked).not.toContain(b64);
    }
  });

  it('leaves text without a value untouched and holds back no more than it must', () => {
    const masker = new Masker(['secret-value']);
    const longest = Math.max(...maskForms('secret-value').map((f) => f.length));
    // Longer than the longest form (entity forms are long), so some of it must be shown at once.
    const text = 'hello world, nothing to hide here at all '.repeat(Math.ceil((longest + 40) / 41));
    const shown = masker.push(text);
    expect(shown.toString()).toBe(text.slice(0, text.length - (longest - 1)));
    expect(Buffer.concat([shown, masker.end()]).toString()).toBe(text);
  });

  it('the Transform stream masks across chunk boundaries', async () => {
    const stream = createMaskingStream(['hunter2hunter2']);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise((r) => stream.on('end', r));
    for (const piece of ['pass: hun', 'ter2hu', 'nter2 ok']) stream.write(piece);
    stream.end();
    await done;
    expect(Buffer.concat(chunks).toString()).toBe(`pass: ${MASK_MARKER} ok`);
  });
});

describe('HTML-safe JSON encoders (R-1)', () => {
  // What Go's encoding/json (SetEscapeHTML default), Rails' to_json and .NET's System.Text.Json
  // default encoder write for a string, built here character by character from their documented rules.
  const u = (c: string, upper = false): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')[upper ? 'toUpperCase' : 'toLowerCase']()}`;
  const goJson = (v: string): string => JSON.stringify(v).slice(1, -1).replace(/[&<>\u2028\u2029]/g, (c) => u(c));
  const dotnetJson = (v: string): string =>
    [...v].map((c) => (c === '\\' ? '\\\\' : /[&<>+'"`]/.test(c) || c.charCodeAt(0) > 0x7e || c.charCodeAt(0) < 0x20 ? u(c, true) : c)).join('');
  const VALUES = ['wJalr+XUtnFEMI/K7MDENG&bPxRfi<CYEXAMPLEKEY>', `p@ss'word"with+all&<>\`é`, 'a+b=c/d'];

  it.each(VALUES)('masks the Go/Rails and .NET forms of %j inside an echoed error', (value) => {
    for (const form of [goJson(value), dotnetJson(value), goJson(value).replace(/\//g, '\\/')]) {
      const text = `{"error":"bad key ${form}"}`;
      const out = maskInPieces([value], Buffer.from(text), [7, 23]);
      expect(out, `${form} survived`).toBe(`{"error":"bad key ${MASK_MARKER}"}`);
    }
  });

  it('the forms are built from the value alone: a different value with the same shape is not masked', () => {
    expect(maskInPieces(['a+b&c'], Buffer.from('x\\u002Bb\\u0026c'), [])).toBe('x\\u002Bb\\u0026c');
  });
});
