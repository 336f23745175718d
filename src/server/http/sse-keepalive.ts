import type { ServerResponse } from 'node:http';

/**
 * Keeps an idle SSE response alive: writes the comment `: keepalive` every `intervalMs` until
 * the response closes, so that clients, proxies and load balancers with idle timeouts (the
 * Python SDK's client gives up after about 300 s of silence) do not drop a stream while an
 * agent waits for a human. Comments are ignored by every SSE parser. Returns a stop function;
 * the timer also stops by itself when the response closes and never keeps the process alive.
 */
export function keepSseAlive(res: ServerResponse, intervalMs: number): () => void {
  const timer = setInterval(() => {
    if (res.writableEnded || res.destroyed) return stop();
    res.write(': keepalive\n\n');
  }, intervalMs);
  timer.unref();
  const stop = (): void => clearInterval(timer);
  res.once('close', stop);
  return stop;
}
