/**
 * A human-side writer for the crash suite, killed with SIGKILL at a random moment:
 *   node crash-human-worker.mjs <config.yaml> <round> <namespace/key,...>
 * It opens the BUILT product (dist/) the way the CLI does and loops, as fast as it can, over
 * the human writes: `secrets rotate` (the CLI's steps: read, audit record, check-and-set put),
 * `audit rotate` (rotateAuditLog, the CLI's function) and approval decisions (decideApproval,
 * the function the CLI, REST and dashboard share). Plain ESM on dist/ so that a round costs a
 * Node start, not a TypeScript compile.
 *
 * Protocol on stdout, one line each, flushed before the step it announces:
 *   ready
 *   sent <namespace>/<key> <value>   (a rotation to <value> is about to be written)
 *   ack <namespace>/<key> <value>    (the rotation returned: it must survive any crash)
 *   op audit-rotate | op decision    (that step is about to run)
 */
import { writeSync } from 'node:fs';
import path from 'node:path';

const dist = path.resolve(import.meta.dirname, '../../../dist');
const { loadSettings } = await import(path.join(dist, 'server/settings.js'));
const { openRuntime } = await import(path.join(dist, 'server/runtime.js'));
const { createLogger } = await import(path.join(dist, 'server/logger.js'));
const { decideApproval } = await import(path.join(dist, 'server/human-decisions.js'));
const { rotateAuditLog } = await import(path.join(dist, 'audit/audit-log.js'));
const { effectiveTier } = await import(path.join(dist, 'policy/index.js'));

const [configPath, round, keysArg] = process.argv.slice(2);
const keys = keysArg.split(',').map((k) => {
  const i = k.lastIndexOf('/');
  return { namespace: k.slice(0, i), key: k.slice(i + 1) };
});
// Synchronous writes: a line must be out before the step it announces, even if killed next.
const say = (line) => writeSync(1, `${line}\n`);

const settings = loadSettings(configPath);
const runtime = await openRuntime(settings, createLogger('silent'));
say('ready');
for (let i = 0; ; i++) {
  // A decision first, so that an early kill still lands in one now and then.
  {
    const pending = (await runtime.approvals.list()).filter((a) => a.view.status === 'pending');
    const target = pending[i % Math.max(1, pending.length)];
    if (target) {
      say('op decision');
      await decideApproval(runtime, { verb: i % 4 === 0 ? 'approve' : 'deny', id: target.approval.id, adminId: 'admin', via: 'cli' }).catch((error) => {
        if (error?.code !== 'CONFLICT') throw error;
      });
    }
  }
  const { namespace, key } = keys[i % keys.length];
  const current = await runtime.backend.get(namespace, key);
  if (current) {
    const value = `h${round}-${i}`;
    say(`sent ${namespace}/${key} ${value}`);
    await runtime.audit.append({ actor: 'admin:admin', action: 'secrets.rotate', namespace, key, outcome: 'allowed', rule: 'human', reason: 'value from stdin' });
    try {
      await runtime.backend.put(
        { namespace, key, value, secret_type: current.secret_type, access_tier: effectiveTier(settings.policy, namespace, current.access_tier), metadata: current.metadata },
        { expectedVersion: current.version },
      );
      say(`ack ${namespace}/${key} ${value}`);
    } catch (error) {
      // A concurrent writer (the agent round before us cannot be: it is dead) would be a conflict.
      say(`conflict ${namespace}/${key} ${value} ${error?.code ?? ''}`);
    }
  }
  if (i % 3 === 1) {
    say('op audit-rotate');
    // As the CLI's `audit rotate` does: with the audit key, so the rotate record is keyed too.
    await rotateAuditLog(settings.auditPath, 'admin:admin', new Date(), { keyPath: settings.auditKeyPath });
  }

}
