import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AssError } from '../../shared/errors.js';

/**
 * Binds `server` to host:port and returns the address actually bound (port 0 resolved) as a
 * URL origin. A bind failure caused by the user's input (port in use, no privilege, no such
 * address) becomes CONFIG_INVALID saying what to change; anything else is rethrown.
 */
export async function listenOn(
  server: Server,
  options: { host: string; port: number },
  scheme: 'http' | 'https',
  /** What sets the port and host for the command that binds: `dashboard` reads no http.port. */
  settings: { port: string; host: string } = { port: '--port (or http.port)', host: '--host (or http.host)' },
): Promise<{ origin: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    const refuse = (error: NodeJS.ErrnoException) => {
      const message =
        error.code === 'EADDRINUSE' ? `is already in use. Pick another ${settings.port}, or stop what is listening there.`
        : error.code === 'EACCES' ? `needs privileges this user does not have. Pick a port above 1023 with ${settings.port}.`
        : `cannot be bound: ${options.host} is not an address of this machine. Pick another ${settings.host}.`;
      reject(error.code === 'EADDRINUSE' || error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL'
        ? new AssError('CONFIG_INVALID', `${options.host}:${options.port} ${message}`)
        : error);
    };
    server.once('error', refuse);
    server.listen(options.port, options.host, () => {
      server.off('error', refuse);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { origin: `${scheme}://${host}:${address.port}`, port: address.port };
}
