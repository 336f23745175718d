import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createKeyFile } from '../../adapters/file/index.js';
import { defaultHome } from '../../config/load.js';
import { AssError } from '../../shared/errors.js';
import { ensurePrivateDir } from '../../shared/durable-file.js';
import { generateAdminKey, generateAgentKey, hashKey } from '../../server/keys.js';
import { loadSettings } from '../../server/settings.js';
import { createBackend } from '../../adapters/registry.js';
import { initialConfig } from '../config-template.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Create a working setup: encrypted file store, config, one agent key and one admin key (each printed once)')
    .option('--dir <dir>', 'where to create it (default: $ASS_HOME or ~/.agent-secret-store)')
    .option('--passphrase-env <VAR>', 'derive the store key from the passphrase in this environment variable (scrypt) instead of a key file')
    .option('--json', 'print {"config_path", "agent_key", "admin_key"} as JSON')
    .action(async (options: { dir?: string; passphraseEnv?: string; json?: boolean }) => {
      const dir = resolve(options.dir ?? defaultHome());
      const configPath = resolve(dir, 'config.yaml');
      if (existsSync(configPath)) {
        throw new AssError('CONFIG_INVALID', `${configPath} already exists; init never overwrites. Use another --dir, or \`agents add\` for a new key.`);
      }
      await ensurePrivateDir(dir);
      const keySource = options.passphraseEnv ? { passphraseEnv: options.passphraseEnv } : { keyFile: './store.key' };
      if ('keyFile' in keySource) await createKeyFile(resolve(dir, 'store.key'));
      const agentKey = generateAgentKey();
      const adminKey = generateAdminKey();
      await writeFile(configPath, initialConfig({ agentHash: hashKey(agentKey), adminHash: hashKey(adminKey), keySource }), { mode: 0o600, flag: 'wx' });
      // Prove the setup works (and create the store's key check) before handing out keys.
      const settings = loadSettings(configPath);
      const backend = await createBackend(settings.backend);
      await backend.close();
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ config_path: configPath, agent_key: agentKey, admin_key: adminKey })}\n`);
        return;
      }
      process.stdout.write(
        [
          `Created ${configPath}`,
          '',
          'These keys are shown once. Store them now:',
          `  agent key (ASS_AGENT_KEY): ${agentKey}`,
          `  admin key (ASS_ADMIN_KEY): ${adminKey}`,
          '',
          'Claude Desktop / Cursor mcpServers entry:',
          JSON.stringify({ 'agent-secret-store': { command: 'npx', args: ['-y', '@agentsecretstore/mcp', '--config', configPath], env: { ASS_AGENT_KEY: '<agent key>' } } }, null, 2),
          '',
        ].join('\n'),
      );
    });
}
