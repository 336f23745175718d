/**
 * Homes for several `serve --http` replicas of one deployment (docs/scale.md): each its own
 * folder and config, all sharing the token-signing key and the audit key, as replicas must.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadOrCreateSigningKey } from '../../src/approvals/tokens.js';
import { createAuditKey } from '../../src/audit/audit-key.js';

/** Makes the signing and audit keys in the first folder and copies them into the others. */
export async function shareReplicaKeys(dirs: string[]): Promise<void> {
  const [first, ...others] = dirs;
  await loadOrCreateSigningKey(path.join(first!, 'token-signing.key'));
  createAuditKey(path.join(first!, 'audit.key'), 1);
  for (const dir of others) for (const key of ['token-signing.key', 'audit.key']) copyFileSync(path.join(first!, key), path.join(dir, key));
}

/** Writes `config` (JSON, which is YAML) into `<root>/<name>/config.yaml` for each name, with shared keys; returns the config paths. */
export async function writeReplicaHomes(root: string, config: object, names: string[] = ['a', 'b']): Promise<string[]> {
  const dirs = names.map((name) => path.join(root, name));
  const configs: string[] = [];
  for (const dir of dirs) {
    mkdirSync(dir, { mode: 0o700 });
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
    configs.push(file);
  }
  await shareReplicaKeys(dirs);
  return configs;
}
