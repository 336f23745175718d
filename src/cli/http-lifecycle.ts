import type { Runtime } from '../server/runtime.js';

/**
 * What every HTTP-serving command of this setup (`serve --http`, `dashboard`) does once it
 * listens: humans' links in the setup's other processes point at its dashboard (unless
 * dashboard.public_url says otherwise), webhook retries and expiries run while it does, and
 * SIGINT/SIGTERM close the server, then the runtime, and exit.
 */
export function runUntilSignal(runtime: Runtime, handle: { close(): Promise<void> }, dashboardUrl: string): void {
  runtime.links.announce(dashboardUrl);
  runtime.notifier?.start();
  // Agents, admins and policy edited in the config (dashboard, `agents add`) apply without a restart.
  runtime.live.watch();
  const stop = async (): Promise<void> => {
    await handle.close();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
