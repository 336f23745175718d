import type { SecretBackend } from '../../adapters/backend.js';
import type { Access } from '../access.js';
import type { PipelineTracer } from './tracing.js';

/**
 * The backend as the pipeline sees it when tracing is on: each call in an `ass.backend <op>`
 * span (backend type, namespace, key name; `ass.outcome` found / not_found / ok). Everything
 * else (kind, health, close, the read cache's identity) is the backend's own.
 */
export function tracedBackend(backend: SecretBackend, tracer: PipelineTracer): Pick<SecretBackend, 'get' | 'put' | 'list' | 'listNamespaces'> {
  const type = backend.kind;
  return {
    get: (namespace, key) =>
      tracer.span('ass.backend get', { 'ass.backend.type': type, 'ass.namespace': namespace, 'ass.key': key }, async (span) => {
        const record = await backend.get(namespace, key);
        span.set({ 'ass.outcome': record ? 'found' : 'not_found' });
        return record;
      }),
    put: (write, options) =>
      tracer.span('ass.backend put', { 'ass.backend.type': type, 'ass.namespace': write.namespace, 'ass.key': write.key }, async (span) => {
        const summary = await backend.put(write, options);
        span.set({ 'ass.outcome': 'ok' });
        return summary;
      }),
    list: (namespace) =>
      tracer.span('ass.backend list', { 'ass.backend.type': type, 'ass.namespace': namespace }, async (span) => {
        const items = await backend.list(namespace);
        span.set({ 'ass.outcome': 'ok' });
        return items;
      }),
    listNamespaces: () =>
      tracer.span('ass.backend list_namespaces', { 'ass.backend.type': type }, async (span) => {
        const all = await backend.listNamespaces();
        span.set({ 'ass.outcome': 'ok' });
        return all;
      }),
  };
}

/** The policy steps in `ass.policy` spans: the decision's effect and tier (never its reason text). */
export function tracedAccess(access: Access, tracer: PipelineTracer): Pick<Access, 'decide' | 'check'> {
  return {
    decide: (agent, action, namespace, key, tier, token, pass) =>
      tracer.span('ass.policy', { 'ass.agent.id': agent.config.id, 'ass.namespace': namespace, 'ass.key': key }, async (span) => {
        const decision = await access.decide(agent, action, namespace, key, tier, token, pass);
        span.set({ 'ass.decision': decision.effect, 'ass.tier': decision.tier });
        return decision;
      }),
    check: (agent, action, namespace, key, token) =>
      tracer.span('ass.policy early', { 'ass.agent.id': agent.config.id, 'ass.namespace': namespace, 'ass.key': key }, async (span) => {
        const early = await access.check(agent, action, namespace, key, token);
        span.set({ 'ass.decision': early.refusal ? early.refusal.effect : 'continue', ...(early.refusal ? { 'ass.tier': early.refusal.tier } : {}) });
        return early;
      }),
  };
}
