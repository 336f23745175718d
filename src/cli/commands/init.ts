import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { createKeyFile } from '../../adapters/file/index.js';
import { defaultHome } from '../../config/load.js';
import { AssError } from '../../shared/errors.js';
import { ensurePrivateDir } from '../../shared/durable-file.js';
import { backendEnvPlaceholders } from '../../server/client-env.js';
import { generateAdminKey, generateAgentKey, hashKey } from '../../server/keys.js';
import { loadSettings } from '../../server/settings.js';
import { createBackend } from '../../adapters/registry.js';
import { initialConfig } from '../config-template.js';
import { launchEntry } from '../launch-entry.js';
import { SERVER_VERSION } from '../../server/mcp-server.js';
import { isDefaultConfigPath, shellQuote } from '../../server/links.js';
import type { GlobalOptions } from '../context.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Create a working setup: encrypted file store, config, one agent key and one admin key (each printed once)')
    .option('--dir <dir>', 'where to create it (default: $ASS_HOME or ~/.agent-secret-store)')
    .option('--passphrase-env <VAR>', 'derive the store key from the passphrase in this environment variable (scrypt) instead of a key file')
    .option('--json', 'print {"config_path", "agent_key", "admin_key"} as JSON')
    .action(async (options: { dir?: string; passphraseEnv?: string; json?: boolean }, command: Command) => {
      // --config, else --dir, else ASS_CONFIG, else $ASS_HOME / ~/.agent-secret-store.
      const configOption = command.optsWithGlobals<GlobalOptions>().config ?? (options.dir ? undefined : process.env.ASS_CONFIG);
      const { dir, configPath } = initTarget(options.dir, configOption);
      if (existsSync(configPath)) {
        throw new AssError('CONFIG_INVALID', `${configPath} already exists; init never overwrites. Use another --dir, or \`agents add\` for a new key.`);
      }
      // Checked before anything is written, so a retry after fixing it starts clean.
      if (options.passphraseEnv && !process.env[options.passphraseEnv]) {
        throw new AssError('CONFIG_INVALID', `--passphrase-env names ${options.passphraseEnv}, which is not set or empty. Set it to the store's passphrase and run init again; nothing was created.`);
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
      const entry = launchEntry({ scriptPath: process.argv[1]!, execPath: process.execPath, configPath, version: SERVER_VERSION });
      const configFlag = isDefaultConfigPath(configPath) ? '' : ` --config ${shellQuote(configPath)}`;
      // Run through npx, `agent-secret-store` is not on the PATH: name the command that works.
      const cli = entry.command === 'npx' ? `npx -y ${shellQuote(entry.args[1]!)}${configFlag}` : `agent-secret-store${configFlag}`;
      process.stdout.write(
        [
          `Created ${configPath}`,
          '',
          'These keys are shown once. Store them now:',
          `  agent key (ASS_AGENT_KEY): ${agentKey}`,
          `  admin key (ASS_ADMIN_KEY): ${adminKey}`,
          '',
          'Claude Desktop / Cursor mcpServers entry:',
          // A passphrase store opens only with its variable set: the client must pass it too.
          JSON.stringify({ 'agent-secret-store': { command: entry.command, args: entry.args, env: { ASS_AGENT_KEY: '<agent key>', ...backendEnvPlaceholders(settings.backend) } } }, null, 2),
          ...(entry.note ? [`(${entry.note}.)`] : []),
          '',
          `Human commands: ${cli} approvals list   (with ASS_ADMIN_KEY set, or it asks)`,
          '',
        ].join('\n'),
      );
    });
}

/**
 * Where init writes: `--dir` (default $ASS_HOME or ~/.agent-secret-store) with `config.yaml`,
 * or, given `--config` / ASS_CONFIG, that file and its folder (the config's relative paths
 * resolve against its own folder, so the two must agree).
 */
function initTarget(dirOption: string | undefined, configOption: string | undefined): { dir: string; configPath: string } {
  if (!configOption) {
    const dir = resolve(dirOption ?? defaultHome());
    return { dir, configPath: resolve(dir, 'config.yaml') };
  }
  const configPath = resolve(configOption);
  const dir = dirname(configPath);
  if (dirOption && resolve(dirOption) !== dir) {
    throw new AssError('CONFIG_INVALID', `--config ${configPath} is not in --dir ${resolve(dirOption)}; the config's paths are relative to its own folder. Pass one of them, or put ${basename(configPath)} in that folder.`);
  }
  return { dir, configPath };
}
