import { resolveConfigPath } from '../config/load.js';
import { authenticateAdmin } from '../server/authenticate.js';
import { createLogger } from '../server/logger.js';
import { openRuntime, type Runtime } from '../server/runtime.js';
import { loadSettings, type Settings } from '../server/settings.js';
import { promptHidden } from './prompt.js';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
}

export function settingsFor(options: GlobalOptions): Settings {
  return loadSettings(resolveConfigPath(options.config));
}

/**
 * The admin credential for a human operation: ASS_ADMIN_KEY, or a hidden prompt when a
 * person is at a terminal. An agent key is refused with a message that says so.
 */
export async function adminFor(settings: Settings): Promise<string> {
  let key = process.env.ASS_ADMIN_KEY;
  if (!key && process.stdin.isTTY) key = await promptHidden('Admin key: ');
  return authenticateAdmin(settings, key);
}

/** Runs `fn` with an open runtime, closing it whatever happens. */
export async function withRuntime<T>(settings: Settings, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(settings, createLogger(settings.config.server.log_level === 'info' ? 'warn' : settings.config.server.log_level));
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

/** Prints JSON or lines, as the caller asked. */
export function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}
