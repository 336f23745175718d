/**
 * Text an agent wrote, made safe to print on a human's terminal. Escape sequences could move
 * the cursor, rewrite earlier lines (hiding the real scopes), change the window title or, on
 * some terminals, answer back; bidi overrides could reorder what is shown. Each such character
 * is shown escaped (`\x1b`, `\u202e`), so the human sees that something was there.
 */

// C0 controls but newline, DEL, C1 controls, bidi marks/overrides/isolates, line/paragraph separators.
const UNSAFE = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;

const escape = (c: string): string => {
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** One line: every unsafe character escaped, newlines too. */
export function terminalLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n').replace(UNSAFE, escape);
}

/** Several lines: unsafe characters escaped; each line after the first indented by `indent`. */
export function terminalBlock(text: string, indent: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(UNSAFE, escape))
    .join(`\n${indent}`);
}
