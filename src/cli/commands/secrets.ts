import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { z } from 'zod';
import { effectiveTier, namespaceDefaultTier, validatePath } from '../../policy/index.js';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import { AssError } from '../../shared/errors.js';
import { adminFor, print, settingsFor, withRuntime, type GlobalOptions } from '../context.js';
import { readStdin } from '../prompt.js';

const SecretTypeSchema = z.enum(SECRET_TYPES);
const AccessTierSchema = z.enum(ACCESS_TIERS);

export function registerSecrets(program: Command): void {
  const secrets = program.command('secrets').description('Human secret operations: set, delete and rotate (needs the admin key)');

  secrets
    .command('set <namespace> <key>')
    .description('Store a secret as a human (value from stdin), at any tier: the way to seed a critical secret')
    .option('--type <secret_type>', `one of ${SECRET_TYPES.join(', ')}`, 'custom')
    .option('--tier <access_tier>', `one of ${ACCESS_TIERS.join(', ')} (default: the namespace's default tier)`)
    .option('--json', 'print JSON')
    .action(async (ns: string, k: string, options: { type: string; tier?: string; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const adminId = await adminFor(settings);
      const { namespace, key } = validatePath(ns, k);
      const secretType = SecretTypeSchema.safeParse(options.type);
      const tier = options.tier === undefined ? namespaceDefaultTier(settings.policy, namespace) : AccessTierSchema.safeParse(options.tier).data;
      if (!secretType.success) throw new AssError('INVALID_ARGUMENT', `--type must be one of ${SECRET_TYPES.join(', ')}.`);
      if (!tier) throw new AssError('INVALID_ARGUMENT', `--tier must be one of ${ACCESS_TIERS.join(', ')}.`);
      if (process.stdin.isTTY) throw new AssError('INVALID_ARGUMENT', 'Pipe the value on stdin, e.g. `printf %s "$VALUE" | agent-secret-store secrets set ns key`.');
      const value = await readStdin();
      if (!value) throw new AssError('INVALID_ARGUMENT', 'The value is empty; nothing was stored.');
      await withRuntime(settings, async (runtime) => {
        const started = performance.now();
        const current = await runtime.backend.get(namespace, key);
        await runtime.audit.append({ actor: `admin:${adminId}`, action: 'secrets.set', namespace, key, outcome: 'allowed', rule: 'human', reason: `tier ${tier}`, latency_ms: performance.now() - started });
        const stored = await runtime.backend.put(
          { namespace, key, value, secret_type: secretType.data, access_tier: tier, metadata: current?.metadata ?? {} },
          { expectedVersion: current?.version ?? 0 },
        );
        print(Boolean(options.json), { namespace, key, version: stored.version, access_tier: tier }, () => `Stored ${namespace}/${key}: version ${stored.version}, ${tier}.`);
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
      const { namespace, key } = validatePath(ns, k);
      await withRuntime(settings, async (runtime) => {
        const started = performance.now();
        // Fail closed: the record is written before the secret is touched.
        await runtime.audit.append({ actor: `admin:${adminId}`, action: 'secrets.delete', namespace, key, outcome: 'allowed', rule: 'human', reason: options.force ? 'forced, no recovery window' : 'requested by a human', latency_ms: performance.now() - started });
        const deleted = await runtime.backend.delete(namespace, key, { force: Boolean(options.force) });
        if (!deleted) throw new AssError('SECRET_NOT_FOUND', `No secret '${key}' in '${namespace}'; nothing was deleted.`);
        print(Boolean(options.json), { deleted: true, namespace, key }, () => `Deleted ${namespace}/${key}.`);
      });
    });

  secrets
    .command('rotate <namespace> <key>')
    .description('Write a new version of a secret: the new value from stdin, or --generate a random one (never printed)')
    .option('--generate', 'generate a random value instead of reading stdin')
    .option('--bytes <n>', 'random bytes for --generate, 16 to 1024 (base64url encoded)', '32')
    .option('--json', 'print JSON')
    .action(async (ns: string, k: string, options: { generate?: boolean; bytes: string; json?: boolean }, command: Command) => {
      const settings = settingsFor(command.optsWithGlobals<GlobalOptions>());
      const adminId = await adminFor(settings);
      const { namespace, key } = validatePath(ns, k);
      const bytes = Number(options.bytes);
      if (options.generate && (!Number.isInteger(bytes) || bytes < 16 || bytes > 1024)) throw new AssError('INVALID_ARGUMENT', '--bytes must be a whole number from 16 to 1024.');
      if (!options.generate && process.stdin.isTTY) throw new AssError('INVALID_ARGUMENT', 'Pipe the new value on stdin (e.g. `printf %s "$NEW" | agent-secret-store secrets rotate ns key`) or pass --generate.');
      const value = options.generate ? randomBytes(bytes).toString('base64url') : await readStdin();
      if (!value) throw new AssError('INVALID_ARGUMENT', 'The new value is empty; nothing was changed.');
      await withRuntime(settings, async (runtime) => {
        const started = performance.now();
        const current = await runtime.backend.get(namespace, key);
        if (!current) throw new AssError('SECRET_NOT_FOUND', `No secret '${key}' in '${namespace}' to rotate. Create it with \`agent-secret-store secrets set ${namespace} ${key}\` (a human) or set_secret (an agent).`);
        await runtime.audit.append({ actor: `admin:${adminId}`, action: 'secrets.rotate', namespace, key, outcome: 'allowed', rule: 'human', reason: options.generate ? 'generated value' : 'value from stdin', latency_ms: performance.now() - started });
        const stored = await runtime.backend.put(
          { namespace, key, value, secret_type: current.secret_type, access_tier: effectiveTier(runtime.settings.policy, namespace, current.access_tier), metadata: current.metadata },
          { expectedVersion: current.version },
        );
        print(Boolean(options.json), { rotated: true, namespace, key, version: stored.version }, () => `Rotated ${namespace}/${key}: now version ${stored.version}.`);
      });
    });
}
