/**
 * The `mcpServers` entry shown for a new agent (dashboard) and by `init` carries, beside
 * ASS_AGENT_KEY, the variables the backend block names: an MCP client starts the stdio server with
 * only that `env`, so without them a passphrase store or a Vault backend cannot open. Never an
 * admin credential.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendConfigSchema } from '../../src/adapters/registry.js';
import { backendEnvNames } from '../../src/server/client-env.js';
import { mcpServersSnippet } from '../../src/server/human-agents.js';
import { loadSettings } from '../../src/server/settings.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const names = (backend: unknown): string[] => backendEnvNames(BackendConfigSchema.parse(backend));

describe('backendEnvNames', () => {
  it('names what each backend reads from the environment, as parsed with its defaults', () => {
    expect(names({ type: 'file', path: './s', key_file: './k' })).toEqual([]);
    expect(names({ type: 'file', path: './s', passphrase_env: 'STORE_PASS' })).toEqual(['STORE_PASS']);
    expect(names({ type: 'vault', address: 'http://127.0.0.1:8200' })).toEqual(['VAULT_TOKEN']);
    expect(names({ type: 'vault', address: 'http://127.0.0.1:8200', auth: { method: 'approle', role_id_env: 'ROLE', secret_id_env: 'SECRET' } }).sort()).toEqual(['ROLE', 'SECRET']);
    expect(names({ type: 'aws', region: 'eu-west-1' })).toEqual([]);
  });

  it('never an admin credential (the ass backend\'s admin_key_env)', () => {
    expect(names({ type: 'ass', url: 'https://remote.example.com', agent_key_env: 'REMOTE_AGENT', admin_key_env: 'REMOTE_ADMIN' })).toEqual(['REMOTE_AGENT']);
  });
});

describe('mcpServersSnippet', () => {
  it('puts a placeholder for the passphrase variable beside the agent key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ass-client-env-'));
    dirs.push(dir);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `version: 1\nbackend: { type: file, path: ./secrets, passphrase_env: STORE_PASS }\nadmins:\n  - { id: admin, key_sha256: "${"a".repeat(64)}" }\nagents: []\n`);
    const snippet = JSON.parse(mcpServersSnippet(loadSettings(file, {}), 'ass_example', { node: '/usr/bin/node', cli: '/opt/ass/main.js' }));
    expect(snippet.mcpServers['agent-secret-store'].env).toEqual({ ASS_AGENT_KEY: 'ass_example', STORE_PASS: '<value of STORE_PASS>' });
  });
});
