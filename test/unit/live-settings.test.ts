/**
 * LiveSettings (src/server/live-settings.ts): refresh() reloads an edited config file at once;
 * inside alreadyRefreshed() — a step whose request was just authenticated, such as an MCP tool
 * call over HTTP — it answers the settings in force without looking at the file, so a request
 * costs one stat. Real config files, the real loader (counted).
 * Breaking it: `refresh()` ignoring the flag fails the second test; the flag never reset
 * (no `finally`) fails the third; skipping the stat always fails the first.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/logger.js';
import { LiveSettings } from '../../src/server/live-settings.js';
import { loadSettings, type Settings } from '../../src/server/settings.js';
import { makeConfig, type RemoteConfig } from '../helpers/remote-server.js';

let config: RemoteConfig | undefined;
afterEach(async () => {
  await config?.cleanup();
  config = undefined;
});

async function live(): Promise<{ live: LiveSettings; loads: () => number; grant: (grants: string[]) => void }> {
  config = await makeConfig({ agents: [{ id: 'alpha', grants: ['secrets:read:team/a/**'] }] });
  const path = config.configPath;
  let loads = 0;
  const settings = new LiveSettings(loadSettings(path, {}), createLogger('error'), (file) => {
    loads++;
    return loadSettings(file, {});
  });
  const grant = (grants: string[]): void => {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { agents: { grants: string[] }[] };
    doc.agents[0]!.grants = grants;
    writeFileSync(path, JSON.stringify(doc, null, 2), { mode: 0o600 });
  };
  return { live: settings, loads: () => loads, grant };
}

const grantsOf = (s: Settings): string[] => s.agents.find((a) => a.config.id === 'alpha')!.config.grants;

describe('LiveSettings', () => {
  it('refresh() applies an edit at once, and reloads only when the file changed', async () => {
    const { live: settings, loads, grant } = await live();
    expect(settings.refresh()).toBe(settings.current);
    expect(loads()).toBe(0);
    grant(['secrets:read:team/**']);
    expect(grantsOf(settings.refresh())).toEqual(['secrets:read:team/**']);
    expect(loads()).toBe(1);
    settings.refresh();
    expect(loads()).toBe(1);
  });

  it('inside alreadyRefreshed() the settings in force are answered without reading the file; after it, the edit counts', async () => {
    const { live: settings, loads, grant } = await live();
    const before = settings.refresh();
    grant(['secrets:read:team/**']);
    const inside = settings.alreadyRefreshed(() => settings.alreadyRefreshed(() => settings.refresh()));
    expect(inside).toBe(before);
    expect(grantsOf(inside)).toEqual(['secrets:read:team/a/**']);
    expect(loads()).toBe(0);
    expect(grantsOf(settings.refresh())).toEqual(['secrets:read:team/**']);
    expect(loads()).toBe(1);
  });

  it('a step that throws does not leave the file unlooked at', async () => {
    const { live: settings, grant } = await live();
    expect(() => settings.alreadyRefreshed(() => {
      throw new Error('step failed');
    })).toThrow('step failed');
    grant(['secrets:read:team/**']);
    expect(grantsOf(settings.refresh())).toEqual(['secrets:read:team/**']);
  });
});
