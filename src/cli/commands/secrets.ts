import type { Command } from 'commander';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import { AssError } from '../../shared/errors.js';
import {
  AccessTierSchema, humanDeleteSecret, humanListSecrets, humanRevealSecret, humanRotateSecret, humanSetSecret, SecretTypeSchema,
} from '../../server/human-secrets.js';
import { adminFor, print, settingsFor, withRuntime, type GlobalOptions } from '../context.js';
import { promptHidden, readStdin } from '../prompt.js';

/**
 * The value for `secrets set` / `secrets rotate`: asked twice without echo at a terminal (never
 * an argument, so it stays out of shell history), else read from stdin.
 */
async function valueFromTerminalOrStdin(what: string): Promise<string> {
  if (!process.stdin.isTTY) return readStdin();
  const first = await promptHidden(`${what}: `);
  const again = await promptHidden(`${what} (again): `);
  if (first !== again) throw new AssError('INVALID_ARGUMENT', 'The two entries differ; nothing was stored.');
  return first;
}

export function registerSecrets(program: Command): void {
  const secrets = program.command('secrets').description('Human secret operations: list, get, set, delete and rotate (needs the admin key)');

  secrets
    .command('list [namespace]')
    .description('List secrets as metadata (never values): in one namespace, or in all of them')
    .option('--json', 'print JSON')
    .action(async (ns: string | undefined, options: { json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      await adminFor(settings);
      await withRuntime(settings, async (runtime) => {
        const { namespaces, items } = await humanListSecrets(runtime, ns);
        print(Boolean(options.json), { namespaces, items, total: items.length }, () =>
          items.length === 0
            ? ns ? `No secrets in '${ns}'.` : 'No secrets yet. Store one with `agent-secret-store secrets set <namespace> <key>`.'
            : items.map((s) => `${s.namespace}/${s.key}  v${s.version}  ${s.access_tier}  ${s.secret_type}  updated ${s.updated_at}`).join('\n'),
        );
      });
    });

  secrets
    .command('get <namespace> <key>')
    .description('Print a secret value (audited as a human read)')
    .option('--json', 'print {"namespace", "key", "version", "value"} as JSON')
    .action(async (ns: string, k: string, options: { json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const adminId = await adminFor(settings);
      await withRuntime(settings, async (runtime) => {
        const read = await humanRevealSecret(runtime, { adminId, via: 'cli' }, { namespace: ns, key: k });
        print(Boolean(options.json), { namespace: ns, key: k, version: read.version, value: read.value }, () => read.value);
      });
    });

  secrets
    .command('set <namespace> <key>')
    .description('Store a secret as a human, at any tier (the way to seed a critical secret); the value is asked hidden at a terminal, else read from stdin')
    .option('--type <secret_type>', `one of ${SECRET_TYPES.join(', ')}`, 'custom')
    .option('--tier <access_tier>', `one of ${ACCESS_TIERS.join(', ')} (default: the secret's current tier; for a new one, the namespace's default)`)
    .option('--json', 'print JSON')
    .action(async (ns: string, k: string, options: { type: string; tier?: string; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const secretType = SecretTypeSchema.safeParse(options.type);
      if (!secretType.success) throw new AssError('INVALID_ARGUMENT', `--type must be one of ${SECRET_TYPES.join(', ')}.`);
      const tier = options.tier === undefined ? undefined : AccessTierSchema.safeParse(options.tier);
      if (tier && !tier.success) throw new AssError('INVALID_ARGUMENT', `--tier must be one of ${ACCESS_TIERS.join(', ')}.`);
      const adminId = await adminFor(settings);
      const value = await valueFromTerminalOrStdin(`Value for ${ns}/${k}`);
      await withRuntime(settings, async (runtime) => {
        const stored = await humanSetSecret(runtime, { adminId, via: 'cli' }, { namespace: ns, key: k, value, secretType: secretType.data, ...(tier?.data ? { tier: tier.data } : {}) });
        print(Boolean(options.json), stored, () => `Stored ${stored.namespace}/${stored.key}: version ${stored.version}, ${stored.access_tier}.`);
      });
    });

  secrets
    .command('delete <namespace> <key>')
    .description('Delete a secret and all its versions (backends with a recovery window keep it recoverable unless --force)')
    .option('--force', 'skip the backend recovery window (AWS); irreversible')
    .option('--json', 'print JSON')
    .action(async (ns: string, k: string, options: { force?: boolean; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const adminId = await adminFor(settings);
      await withRuntime(settings, async (runtime) => {
        const deleted = await humanDeleteSecret(runtime, { adminId, via: 'cli' }, { namespace: ns, key: k, force: Boolean(options.force) });
        print(Boolean(options.json), deleted, () => `Deleted ${deleted.namespace}/${deleted.key}.`);
      });
    });

  secrets
    .command('rotate <namespace> <key>')
    .description('Write a new version of a secret: asked hidden at a terminal, read from stdin, or --generate a random one (never printed)')
    .option('--generate', 'generate a random value instead of reading stdin')
    .option('--bytes <n>', 'random bytes for --generate, 16 to 1024 (base64url encoded)', '32')
    .option('--json', 'print JSON')
    .action(async (ns: string, k: string, options: { generate?: boolean; bytes: string; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const bytes = Number(options.bytes);
      if (options.generate && (!Number.isInteger(bytes) || bytes < 16 || bytes > 1024)) throw new AssError('INVALID_ARGUMENT', '--bytes must be a whole number from 16 to 1024.');
      const adminId = await adminFor(settings);
      const value = options.generate ? undefined : await valueFromTerminalOrStdin(`New value for ${ns}/${k}`);
      if (!options.generate && !value) throw new AssError('INVALID_ARGUMENT', 'The new value is empty; nothing was changed.');
      await withRuntime(settings, async (runtime) => {
        const rotated = await humanRotateSecret(runtime, { adminId, via: 'cli' }, { namespace: ns, key: k, ...(options.generate ? { generateBytes: bytes } : { value: value! }) });
        print(Boolean(options.json), { rotated: true, ...rotated }, () => `Rotated ${rotated.namespace}/${rotated.key}: now version ${rotated.version}.`);
      });
    });
}
