/**
 * Use without reveal for a human (`run` / `inject` with the admin key, no agent key): the
 * values are read as a human read is, but audited as `secrets.use` with how they are used.
 */
import { validatePath } from '../policy/index.js';
import { AssError, isAssError } from '../shared/errors.js';
import type { SecretReference } from '../use/reference.js';
import type { Runtime } from './runtime.js';
import type { UseSession } from './secret-service.js';

export function humanUseSession(runtime: Runtime, adminId: string): UseSession {
  const actor = `admin:${adminId}`;
  return {
    async resolve(references: SecretReference[], how: string) {
      const values = new Map<string, string>();
      for (const ref of references) {
        const { namespace, key } = validatePath(ref.namespace, ref.key);
        const started = performance.now();
        // Fail closed: the use is on record before the value is read.
        await runtime.audit.append({ actor, action: 'secrets.use', namespace, key, outcome: 'allowed', rule: 'human', reason: `${how} (cli)`, latency_ms: 0 });
        try {
          const record = await runtime.backend.get(namespace, key);
          if (!record) throw new AssError('SECRET_NOT_FOUND', `No secret '${key}' in '${namespace}' (${ref.text}).`);
          if (ref.version !== undefined && record.version !== ref.version) {
            throw new AssError('CONFLICT', `${ref.text} pins version ${ref.version}, but '${namespace}/${key}' is at version ${record.version}.`);
          }
          values.set(ref.text, record.value);
        } catch (error) {
          await runtime.audit.append({ actor, action: 'secrets.use', namespace, key, outcome: 'error', rule: 'human', error_code: isAssError(error) ? error.code : 'INTERNAL', latency_ms: performance.now() - started }).catch(() => undefined);
          throw error;
        }
      }
      return values;
    },
    async refuse(_references: SecretReference[], _how: string, error: AssError): Promise<never> {
      throw error;
    },
    async finished(references: SecretReference[], how: string, ok: boolean, result: string) {
      for (const ref of references) {
        await runtime.audit.append({ actor, action: 'secrets.use', namespace: ref.namespace, key: ref.key, outcome: ok ? 'ok' : 'error', rule: 'human', reason: `${how}: ${result}` });
      }
    },
  };
}
