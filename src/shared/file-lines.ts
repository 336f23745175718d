/**
 * The lines of a text file split on "\n" only, read as a stream.
 *
 * Not node:readline: from Node.js 24 readline also ends a line at U+2028 and U+2029, which
 * JSON.stringify leaves unescaped inside strings. An agent's reason holding U+2028 would then cut
 * its audit record in two, and `audit verify` would report tampering (found by the Node 24 run of
 * test/unit/audit-record-line.test.ts).
 */
import { createReadStream } from 'node:fs';

export async function* fileLines(path: string): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8' })) {
    const parts = (rest + (chunk as string)).split('\n');
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest !== '') yield rest;
}
