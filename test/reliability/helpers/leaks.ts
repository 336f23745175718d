/**
 * Finding canary values where they must not be: plain, JSON-escaped, hex, and base64/base64url
 * at every byte offset (the same detector as test/security/no-leak.test.ts, for many values).
 */
import { randomBytes } from 'node:crypto';

/** A random value no one could write by chance, tagged so a hit says which path it took. */
export const canary = (i: number): string => `cnry${String(i).padStart(3, '0')}-${randomBytes(18).toString('base64url')}`;

/** Every encoding of `value` worth looking for. */
export function encodings(value: string): string[] {
  const raw = Buffer.from(value, 'utf8');
  const out = new Set<string>([value, raw.toString('hex'), raw.toString('hex').toUpperCase(), JSON.stringify(value).slice(1, -1)]);
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset), raw]);
    for (const enc of ['base64', 'base64url'] as const) {
      // Only the characters fully determined by the canary: drop the first and last quantum.
      const text = padded.toString(enc).replace(/=+$/, '');
      out.add(offset === 0 ? text.slice(0, -4) : text.slice(4, -4));
    }
  }
  return [...out];
}

/** Precomputed forms of many canaries, searched in one pass per haystack. */
export class LeakDetector {
  private readonly forms: { form: string; value: string }[];

  constructor(values: string[]) {
    this.forms = values.flatMap((value) => encodings(value).map((form) => ({ form, value })));
  }

  /** Descriptions of every canary form found in `haystack` (empty when clean). */
  find(haystack: Buffer | string, where: string): string[] {
    const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
    const found: string[] = [];
    for (const { form, value } of this.forms) if (text.includes(form)) found.push(`${where}: ${value.slice(0, 8)}… as ${form.slice(0, 12)}…`);
    return found;
  }
}
