/**
 * Masking: every secret value a command or an HTTP response could echo back is replaced by
 * MASK_MARKER before the output reaches the agent — the value itself and the encodings a tool
 * commonly prints it in (base64 at any alignment, base64url, hex in either case, URL-encoded,
 * JSON-escaped, also with `\/` and as full `\uXXXX`, HTML/XML entities). Works on bytes, across writes: a form split between two writes is still found,
 * because the last (longest form − 1) bytes are held back until the next write or the end.
 *
 * What it cannot catch (docs/use.md): any other transformation of the value (reversed, split
 * with separators, encrypted, one character per line…). The command allow-list is the guard.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** What replaces a value or one of its encodings. */
export const MASK_MARKER = '[masked by agent-secret-store]';
const MARKER = Buffer.from(MASK_MARKER);

/** A base64 form shifted into a longer text is only masked when at least this long (shorter is noise). */
const MIN_SHIFTED_FORM = 4;

/** The characters of base64(prefix ‖ value ‖ suffix) that depend on the value alone, for each alignment. */
function base64Cores(bytes: Buffer, url: boolean): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const text = Buffer.concat([Buffer.alloc(shift), bytes]).toString(url ? 'base64url' : 'base64');
    const first = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + bytes.length)) / 6);
    if (end - first >= MIN_SHIFTED_FORM) out.push(text.slice(first, end));
  }
  return out;
}

/**
 * The characters HTML-safe JSON encoders write as `\uXXXX` by default (R-1): Go's encoding/json
 * and Rails escape & < > and U+2028/2029; .NET's System.Text.Json also escapes + ' " and `.
 */
const HTML_SAFE_SETS = ['&<>\u2028\u2029', '&<>+\'"`\u2028\u2029'];

/**
 * JSON string escaping as JSON.stringify does it, as ASCII-only encoders (Python's json) do it,
 * and as HTML-safe encoders do it (on either), each with lower- and upper-case hex.
 */
function jsonForms(value: string): string[] {
  const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  const plain = JSON.stringify(value).slice(1, -1);
  const ascii = plain.replace(/[\u007f-\uffff]/g, escape);
  const forms = [plain, ascii];
  for (const set of HTML_SAFE_SETS) {
    for (const base of [plain, ascii]) {
      // The escaping applies to the stringified text, where a `"` is `\"` (.NET writes `\u0022`).
      const quoted = set.includes('"') ? base.replace(/\\"/g, escape('"')) : base;
      forms.push([...quoted].map((c) => (set.includes(c) ? escape(c) : c)).join(''));
    }
  }
  return forms.flatMap((f) => [f, f.replace(/\\u([0-9a-f]{4})/g, (_m, h: string) => `\\u${h.toUpperCase()}`)]);
}

/** `\uXXXX` for every UTF-16 unit, lower and upper hex (encoders that escape everything). */
function fullUnicodeEscapes(value: string): string[] {
  const lower = [...Array(value.length).keys()].map((i) => `\\u${value.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
  return [lower, lower.replace(/\\u([0-9a-f]{4})/g, (_m, h: string) => `\\u${h.toUpperCase()}`)];
}

const NAMED_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * HTML/XML entity forms: named for & < > " ' (with ' as &#39;, &#x27; or &apos;), decimal and hex
 * (either case) numeric references for every non-alphanumeric character or for every character,
 * and the OWASP-style mix (named for the five, hex for the rest).
 */
function htmlForms(value: string): string[] {
  const chars = [...value];
  const special = (c: string): boolean => !/^[A-Za-z0-9]$/.test(c);
  const dec = (c: string): string => `&#${c.codePointAt(0)};`;
  const hex = (c: string): string => `&#x${c.codePointAt(0)!.toString(16)};`;
  const hexUpper = (c: string): string => `&#x${c.codePointAt(0)!.toString(16).toUpperCase()};`;
  const named = chars.map((c) => NAMED_ENTITIES[c] ?? c).join('');
  const forms = [named, named.replace(/&#39;/g, '&#x27;'), named.replace(/&#39;/g, '&apos;')];
  for (const encode of [dec, hex, hexUpper]) {
    forms.push(chars.map((c) => (special(c) ? encode(c) : c)).join(''), chars.map(encode).join(''), chars.map((c) => NAMED_ENTITIES[c] ?? (special(c) ? encode(c) : c)).join(''));
  }
  return forms;
}

/** Every byte sequence that reveals `value`: the value and its encodings, longest first, no duplicates. */
export function maskForms(value: string): Buffer[] {
  if (value.length === 0) return [];
  const bytes = Buffer.from(value, 'utf8');
  const hex = bytes.toString('hex');
  const url = encodeURIComponent(value);
  const forms = [
    value,
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    ...base64Cores(bytes, false),
    ...base64Cores(bytes, true),
    hex,
    hex.toUpperCase(),
    url,
    url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    url.replace(/%20/g, '+'),
    ...jsonForms(value),
    // JSON with an escaped solidus (PHP json_encode, many Java encoders): `/` as `\/`.
    ...jsonForms(value).map((f) => f.replace(/\//g, '\\/')),
    ...fullUnicodeEscapes(value),
    ...htmlForms(value),
  ];
  const unique = [...new Set(forms.filter((f) => f.length > 0))];
  return unique.map((f) => Buffer.from(f, 'utf8')).sort((a, b) => b.length - a.length);
}

/**
 * A streaming masker over bytes. `push` returns what may be shown now; `end` returns the rest.
 * Holds back at most (longest form − 1) bytes between writes.
 */
export class Masker {
  private readonly forms: Buffer[];
  private readonly hold: number;
  private pending: Buffer = Buffer.alloc(0);

  constructor(values: Iterable<string>) {
    this.forms = [...new Set([...values].flatMap((v) => maskForms(v).map((b) => b.toString('latin1'))))]
      .map((s) => Buffer.from(s, 'latin1'))
      .sort((a, b) => b.length - a.length);
    this.hold = Math.max(0, ...this.forms.map((f) => f.length - 1));
  }

  push(chunk: Buffer | string): Buffer {
    this.pending = Buffer.concat([this.pending, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
    return this.drain(false);
  }

  end(): Buffer {
    return this.drain(true);
  }

  /** Masks a whole text at once. */
  maskText(text: string): string {
    return Buffer.concat([this.push(text), this.end()]).toString('utf8');
  }

  private drain(final: boolean): Buffer {
    const buf = this.pending;
    // A form starting before `boundary` lies wholly inside `buf` (no form is longer than hold + 1),
    // so every match that begins there is seen now; later starts wait for more bytes.
    const boundary = final ? buf.length : Math.max(0, buf.length - this.hold);
    const out: Buffer[] = [];
    // Each form's next occurrence, searched again only once the scan has passed it, so a chunk
    // full of matches costs one pass per form, not one per match.
    const next = this.forms.map((form) => buf.indexOf(form, 0));
    let pos = 0;
    for (;;) {
      let best = -1;
      for (let i = 0; i < next.length; i++) {
        if (next[i]! >= 0 && next[i]! < pos) next[i] = buf.indexOf(this.forms[i]!, pos);
        const at = next[i]!;
        // forms are sorted longest first, so an equal start keeps the longer one
        if (at >= 0 && at < boundary && (best < 0 || at < next[best]!)) best = i;
      }
      if (best < 0) break;
      const start = next[best]!;
      out.push(buf.subarray(pos, start), MARKER);
      pos = start + this.forms[best]!.length;
    }
    const emitTo = Math.max(pos, boundary);
    out.push(buf.subarray(pos, emitTo));
    this.pending = Buffer.from(buf.subarray(emitTo));
    return Buffer.concat(out);
  }
}

/** A Transform that masks `values` in what flows through it. */
export function createMaskingStream(values: Iterable<string>): Transform {
  const masker = new Masker(values);
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      const out = masker.push(chunk);
      done(null, out.length ? out : undefined);
    },
    flush(done: TransformCallback) {
      const out = masker.end();
      done(null, out.length ? out : undefined);
    },
  });
}
