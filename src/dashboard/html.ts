/**
 * HTML escaped by construction. `html` is a tagged template: every interpolation is escaped
 * unless it is itself `SafeHtml` (the result of another `html`), and arrays are joined after
 * escaping each item. Nothing else produces `SafeHtml`, so text from an agent, a backend or a
 * query string can only ever reach a page as inert text.
 */

export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for an element body or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.text;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Encodes one path segment for an href (escaping for the attribute happens in `html`). */
export function hrefSegments(...segments: string[]): string {
  return segments.map(encodeURIComponent).join('/');
}
