/**
 * Shared by the use-without-reveal suites: a loopback HTTP receiver that records what reached
 * it (and counts connections), and a printer program that writes a value in every encoding,
 * one syscall per piece, split at every offset.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Receiver {
  port: number;
  origin: string;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  connections: number;
  close(): Promise<void>;
}

/** `/echo` answers the request's authorization header and body; `/redirect?to=URL` answers 302. */
export async function startReceiver(): Promise<Receiver> {
  const receiver = { requests: [], connections: 0 } as unknown as Receiver;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      receiver.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/redirect') {
        res.writeHead(302, { location: url.searchParams.get('to')! }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-echo': String(req.headers.authorization ?? '') }).end(`auth=${req.headers.authorization ?? ''}\nbody=${body}\n`);
    });
  });
  server.on('connection', () => receiver.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.origin = `http://127.0.0.1:${receiver.port}`;
  receiver.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return receiver;
}

/** The encodings the issue names, of a value. */
export function encodings(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [value, b.toString('base64'), b.toString('base64url'), b.toString('hex'), b.toString('hex').toUpperCase(), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
}

/**
 * printer.mjs MODE [CODE]: MODE `print` writes $S in every encoding, each one split at every
 * offset into two writes (one syscall each), then exits CODE; `stdin` copies stdin to stdout;
 * `signal` kills itself with SIGTERM; `trap` says ready, and on SIGTERM says so and exits 42.
 */
export async function writePrinter(dir: string): Promise<string> {
  const file = path.join(dir, 'printer.mjs');
  await writeFile(
    file,
    `import { writeSync } from 'node:fs';
const [mode, code] = process.argv.slice(2);
const v = process.env.S ?? '';
const b = Buffer.from(v, 'utf8');
const forms = [v, b.toString('base64'), b.toString('base64url'), b.toString('hex'), b.toString('hex').toUpperCase(), encodeURIComponent(v), JSON.stringify(v).slice(1, -1)];
if (mode === 'print') {
  for (const f of forms) for (let i = 0; i <= f.length; i++) { writeSync(1, f.slice(0, i)); writeSync(1, f.slice(i) + '\\n'); writeSync(2, f.slice(0, i)); writeSync(2, f.slice(i) + '\\n'); }
  process.exit(Number(code ?? 0));
} else if (mode === 'stdin') {
  process.stdin.pipe(process.stdout);
} else if (mode === 'where') {
  const { readdirSync, realpathSync } = await import('node:fs');
  const home = process.env.HOME ?? null;
  writeSync(1, JSON.stringify({ home, xdg: process.env.XDG_CONFIG_HOME ?? null, cwdIsHome: home !== null && realpathSync(process.cwd()) === realpathSync(home), entries: readdirSync(process.cwd()) }));
} else if (mode === 'signal') {
  process.kill(process.pid, 'SIGTERM');
} else if (mode === 'trap') {
  process.on('SIGTERM', () => { writeSync(1, 'got SIGTERM\\n'); process.exit(42); });
  writeSync(1, 'ready\\n');
  setInterval(() => {}, 1000);
}
`,
  );
  return file;
}
