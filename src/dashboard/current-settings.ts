import { statSync } from 'node:fs';
import { loadSettings, type Settings } from '../server/settings.js';

/**
 * The config as it is on disk now. A dashboard runs for days while the CLI adds admins and
 * agents: sign-in, the agents page and revocation must see those without a restart. Reloaded
 * only when the file's mtime, size or inode change; a file that no longer loads keeps the last
 * good settings (the CLI validates every edit before it replaces the file).
 */
export function currentSettingsSource(initial: Settings): () => Settings {
  let settings = initial;
  let seen = stamp(initial.loaded.file);
  return () => {
    const now = stamp(settings.loaded.file);
    if (now !== seen) {
      try {
        settings = loadSettings(settings.loaded.file);
        seen = now;
      } catch {
        // Keep serving with the last good config; the next change is tried again.
      }
    }
    return settings;
  };
}

function stamp(file: string): string {
  const info = statSync(file, { throwIfNoEntry: false });
  return info ? `${info.mtimeMs}:${info.size}:${info.ino}` : '-';
}
