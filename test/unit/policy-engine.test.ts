import { describe, expect, it } from 'vitest';
import { AssError } from '../../src/shared/errors.js';
import type { AccessTier, Action } from '../../src/shared/types.js';
import {
  checkScopes,
  compileAgent,
  compilePolicy,
  effectiveTier,
  evaluate,
  namespaceDefaultTier,
  parseScope,
  resolveTierRule,
  type CompiledAgent,
  type Effect,
  type PolicyInput,
} from '../../src/policy/index.js';

const NOW = new Date('2025-01-01T00:00:00Z');

const input: PolicyInput = {
  tiers: { standard: { effect: 'auto' }, sensitive: { effect: 'auto' }, critical: { effect: 'approval' } },
  namespaces: [
    { pattern: 'production/**', default_tier: 'sensitive', tiers: { critical: { effect: 'approval', approvers: 2 } } },
    { pattern: 'production/payments', default_tier: 'critical', tiers: { critical: { effect: 'approval', delayMs: 60_000 } } },
    { pattern: 'legacy/*', tiers: { sensitive: { effect: 'deny' } } },
    { pattern: 'staging/**', default_tier: 'standard', tiers: { standard: { effect: 'approval' } } },
    // An override cannot weaken the global rule: critical stays approval here.
    { pattern: 'sandbox/**', tiers: { critical: { effect: 'auto' } } },
  ],
  defaultTier: 'standard',
};
const policy = compilePolicy(input);

const agents: Record<string, CompiledAgent> = {
  bot: compileAgent({
    id: 'bot',
    grants: [
      'secrets:read:production/**',
      'secrets:list:production/**',
      'secrets:read:legacy/**',
      'secrets:read:staging/**',
      'secrets:read:sandbox/**',
      'secrets:read:dev/**',
      'secrets:write:dev/**',
    ],
    deny: ['secrets:read:production/hr/*'],
  }),
  root: compileAgent({ id: 'root', grants: ['secrets:*:**'], deny: [] }),
  mixed: compileAgent({ id: 'mixed', grants: ['secrets:*:**'], deny: ['secrets:*:production/**'] }),
  none: compileAgent({ id: 'none', grants: [], deny: [] }),
};

type Row = [
  label: string,
  agent: string,
  action: Action,
  namespace: string,
  key: string,
  tier: AccessTier | null,
  approved: string[],
  effect: Effect,
  rule: string,
  decidedTier: AccessTier,
  approval?: { approvers: number; delayMs: number },
];

const PAY_RULE = 'namespace:production/**:tier:critical+namespace:production/payments:tier:critical';

const rows: Row[] = [
  ['standard auto allow names the grant', 'bot', 'read', 'dev/app', 'KEY', null, [], 'allow', 'agent:bot:grant:secrets:read:dev/**', 'standard'],
  ['write allowed by write grant', 'bot', 'write', 'dev/app', 'KEY', 'standard', [], 'allow', 'agent:bot:grant:secrets:write:dev/**', 'standard'],
  ['namespace default sensitive, auto', 'bot', 'read', 'production/gemini', 'KEY', null, [], 'allow', 'agent:bot:grant:secrets:read:production/**', 'sensitive'],
  ['critical: override raises approvers to 2', 'bot', 'read', 'production/gemini', 'KEY', 'critical', [], 'require_approval', 'namespace:production/**:tier:critical', 'critical', { approvers: 2, delayMs: 0 }],
  ['two overrides: strictest default tier, max approvers and max delay', 'bot', 'read', 'production/payments', 'KEY', null, [], 'require_approval', PAY_RULE, 'critical', { approvers: 2, delayMs: 60_000 }],
  ['approved exact scope turns require_approval into allow', 'bot', 'read', 'production/payments', 'KEY', null, ['secrets:read:production/payments/KEY'], 'allow', 'approval:secrets:read:production/payments/KEY', 'critical'],
  ['approved glob scope turns require_approval into allow', 'bot', 'read', 'production/payments', 'KEY', null, ['secrets:read:production/payments/*'], 'allow', 'approval:secrets:read:production/payments/*', 'critical'],
  ['approval for another key does not help', 'bot', 'read', 'production/payments', 'KEY', null, ['secrets:read:production/payments/OTHER'], 'require_approval', PAY_RULE, 'critical', { approvers: 2, delayMs: 60_000 }],
  ['approval for another action does not help', 'bot', 'read', 'production/payments', 'KEY', null, ['secrets:write:production/payments/KEY'], 'require_approval', PAY_RULE, 'critical', { approvers: 2, delayMs: 60_000 }],
  ['approval for a look-alike namespace does not help', 'bot', 'read', 'production/payments', 'KEY', null, ['secrets:read:production/payments2/KEY'], 'require_approval', PAY_RULE, 'critical', { approvers: 2, delayMs: 60_000 }],
  ['global critical rule when no override', 'bot', 'read', 'dev/app', 'KEY', 'critical', [], 'require_approval', 'tier:critical', 'critical', { approvers: 1, delayMs: 0 }],
  ['override auto cannot weaken global approval', 'bot', 'read', 'sandbox/x', 'KEY', 'critical', [], 'require_approval', 'tier:critical', 'critical', { approvers: 1, delayMs: 0 }],
  ['override approval beats global auto', 'bot', 'read', 'staging/app', 'KEY', null, [], 'require_approval', 'namespace:staging/**:tier:standard', 'standard', { approvers: 1, delayMs: 0 }],
  ['tier deny', 'bot', 'read', 'legacy/app', 'KEY', 'sensitive', [], 'deny', 'namespace:legacy/*:tier:sensitive', 'sensitive'],
  ['approval does not turn a tier deny into allow', 'bot', 'read', 'legacy/app', 'KEY', 'sensitive', ['secrets:read:legacy/app/KEY'], 'deny', 'namespace:legacy/*:tier:sensitive', 'sensitive'],
  ['legacy/* does not reach legacy/app/sub', 'bot', 'read', 'legacy/app/sub', 'KEY', 'sensitive', [], 'allow', 'agent:bot:grant:secrets:read:legacy/**', 'sensitive'],
  ['explicit deny wins over a grant', 'bot', 'read', 'production/hr', 'KEY', null, [], 'deny', 'agent:bot:deny:secrets:read:production/hr/*', 'sensitive'],
  ['explicit deny wins over an approval', 'bot', 'read', 'production/hr', 'KEY', 'critical', ['secrets:read:production/hr/KEY'], 'deny', 'agent:bot:deny:secrets:read:production/hr/*', 'critical'],
  ['explicit deny with action * covers list', 'mixed', 'list', 'production/x', 'KEY', null, [], 'deny', 'agent:mixed:deny:secrets:*:production/**', 'sensitive'],
  ['explicit deny with action * over secrets:*:**', 'mixed', 'read', 'production/x', 'KEY', 'standard', [], 'deny', 'agent:mixed:deny:secrets:*:production/**', 'standard'],
  ['deny scope is segment-aware', 'mixed', 'read', 'production2/x', 'KEY', 'standard', [], 'allow', 'agent:mixed:grant:secrets:*:**', 'standard'],
  ['delete is human-only even with secrets:*:**', 'root', 'delete', 'dev/app', 'KEY', 'standard', [], 'human_only', 'builtin:human-only', 'standard'],
  ['rotate is human-only even with secrets:*:**', 'root', 'rotate', 'production/gemini', 'KEY', null, [], 'human_only', 'builtin:human-only', 'sensitive'],
  ['delete is human-only before explicit deny', 'mixed', 'delete', 'production/x', 'KEY', null, [], 'human_only', 'builtin:human-only', 'sensitive'],
  ['delete is human-only with no grants', 'none', 'delete', 'dev/app', 'KEY', null, [], 'human_only', 'builtin:human-only', 'standard'],
  ['rotate is human-only with an approved secrets:*:**', 'bot', 'rotate', 'dev/app', 'KEY', null, ['secrets:*:**'], 'human_only', 'builtin:human-only', 'standard'],
  ['default deny: action not granted', 'bot', 'write', 'production/gemini', 'KEY', null, [], 'deny', 'default-deny', 'sensitive'],
  ['default deny: no grants', 'none', 'read', 'dev/app', 'KEY', null, [], 'deny', 'default-deny', 'standard'],
  ['default deny: look-alike namespace', 'bot', 'read', 'production2/gemini', 'KEY', null, [], 'deny', 'default-deny', 'standard'],
  ['list allowed with no tier rule (critical)', 'bot', 'list', 'production/payments', 'KEY', 'critical', [], 'allow', 'agent:bot:grant:secrets:list:production/**', 'critical'],
  ['list allowed with no tier rule (tier deny)', 'root', 'list', 'legacy/app', 'KEY', 'sensitive', [], 'allow', 'agent:root:grant:secrets:*:**', 'sensitive'],
  ['list granted by a read grant (read covers list)', 'bot', 'list', 'dev/app', 'KEY', null, [], 'allow', 'agent:bot:grant:secrets:read:dev/**', 'standard'],
  ['list not granted', 'bot', 'list', 'other/app', 'KEY', null, [], 'deny', 'default-deny', 'standard'],
  ['a read deny hides the name from listings too', 'bot', 'list', 'production/hr', 'KEY', null, [], 'deny', 'agent:bot:deny:secrets:read:production/hr/*', 'sensitive'],
  ['approved scope alone allows an auto tier', 'none', 'read', 'dev/app', 'KEY', 'standard', ['secrets:read:dev/app/KEY'], 'allow', 'approval:secrets:read:dev/app/KEY', 'standard'],
  ['approved scope alone satisfies an approval tier', 'none', 'read', 'dev/app', 'KEY', 'critical', ['secrets:read:dev/**'], 'allow', 'approval:secrets:read:dev/**', 'critical'],
  ['stored tier is used over namespace default', 'root', 'read', 'production/payments', 'KEY', 'standard', [], 'allow', 'agent:root:grant:secrets:*:**', 'standard'],
];

describe('evaluate decision table', () => {
  it.each(rows)('%s', (_label, agentId, action, namespace, key, tier, approved, effect, rule, decidedTier, approval) => {
    const decision = evaluate(
      { agent: agents[agentId]!, action, namespace, key, tier, approvedScopes: approved.map(parseScope) },
      policy,
      NOW,
    );
    expect(decision.effect).toBe(effect);
    expect(decision.rule).toBe(rule);
    expect(decision.tier).toBe(decidedTier);
    expect(decision.approval).toEqual(approval);
    expect(decision.reason.length).toBeGreaterThan(0);
  });

  it('default deny names the scope that would be needed', () => {
    const d = evaluate(
      { agent: agents.none!, action: 'read', namespace: 'production/stripe', key: 'KEY', tier: null, approvedScopes: [] },
      policy,
      NOW,
    );
    expect(d.reason).toBe('no grant covers secrets:read:production/stripe/KEY');
  });

  it('rejects invalid names and actions instead of deciding', () => {
    const base = { agent: agents.root!, tier: null, approvedScopes: [] };
    const attempts: Array<[Action, string, string]> = [
      ['read', 'production/../x', 'KEY'],
      ['read', 'production/*', 'KEY'],
      ['read', 'production', '*'],
      ['fetch' as Action, 'production', 'KEY'],
    ];
    for (const [action, namespace, key] of attempts) {
      expect(() => evaluate({ ...base, action, namespace, key }, policy, NOW)).toThrow(AssError);
    }
  });
});

describe('tiers', () => {
  it('strictest default_tier wins whatever the override order', () => {
    const reversed = compilePolicy({ ...input, namespaces: [...input.namespaces].reverse() });
    for (const p of [policy, reversed]) {
      expect(namespaceDefaultTier(p, 'production/payments')).toBe('critical');
      expect(namespaceDefaultTier(p, 'production/gemini')).toBe('sensitive');
      expect(namespaceDefaultTier(p, 'production')).toBe('sensitive');
      expect(namespaceDefaultTier(p, 'dev')).toBe('standard');
      expect(namespaceDefaultTier(p, 'production/payments/sub')).toBe('sensitive');
    }
  });

  it('effectiveTier prefers the stored tier and fails closed on an unknown one', () => {
    expect(effectiveTier(policy, 'production/payments', 'standard')).toBe('standard');
    expect(effectiveTier(policy, 'production/payments', null)).toBe('critical');
    expect(effectiveTier(policy, 'dev', 'bogus' as AccessTier)).toBe('critical');
  });

  it('deny beats approval across global and override; equal effects take max approvers and delay', () => {
    const p = compilePolicy({
      tiers: { standard: { effect: 'approval', approvers: 3 }, sensitive: { effect: 'deny' }, critical: { effect: 'approval', delayMs: 5 } },
      namespaces: [
        { pattern: '*/x', tiers: { standard: { effect: 'approval', approvers: 1, delayMs: 10 }, sensitive: { effect: 'approval' } } },
        { pattern: 'a/**', tiers: { critical: { effect: 'deny' }, standard: { effect: 'auto' } } },
      ],
      defaultTier: 'standard',
    });
    expect(resolveTierRule(p, 'a/x', 'standard')).toEqual({
      rule: { effect: 'approval', approvers: 3, delayMs: 10 },
      source: 'tier:standard+namespace:*/x:tier:standard',
    });
    expect(resolveTierRule(p, 'a/x', 'sensitive')).toEqual({ rule: { effect: 'deny', approvers: 1, delayMs: 0 }, source: 'tier:sensitive' });
    expect(resolveTierRule(p, 'a/x', 'critical').source).toBe('namespace:a/**:tier:critical');
    expect(resolveTierRule(p, 'b/y', 'critical')).toEqual({ rule: { effect: 'approval', approvers: 1, delayMs: 5 }, source: 'tier:critical' });
  });
});

describe('compile', () => {
  it('produces deeply frozen results', () => {
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.tiers.critical)).toBe(true);
    expect(Object.isFrozen(policy.namespaces)).toBe(true);
    expect(Object.isFrozen(policy.namespaces[0])).toBe(true);
    expect(Object.isFrozen(agents.bot)).toBe(true);
    expect(Object.isFrozen(agents.bot!.grants)).toBe(true);
  });

  it('dedupes and sorts agent scopes', () => {
    const a = compileAgent({ id: 'a', grants: ['secrets:write:b/*', 'secrets:read:a/**/**', 'secrets:read:a/**'], deny: [] });
    expect(a.grants.map((s) => s.text)).toEqual(['secrets:read:a/**', 'secrets:write:b/*']);
  });

  const tiers = input.tiers;
  it.each<[string, PolicyInput]>([
    ['partial glob pattern', { ...input, namespaces: [{ pattern: 'production/gem*' }] }],
    ['dot-dot pattern', { ...input, namespaces: [{ pattern: 'production/../x' }] }],
    ['trailing slash pattern', { ...input, namespaces: [{ pattern: 'production/' }] }],
    ['9-deep namespace pattern', { ...input, namespaces: [{ pattern: 'a/b/c/d/e/f/g/h/i' }] }],
    ['approvers 0', { ...input, tiers: { ...tiers, critical: { effect: 'approval', approvers: 0 } } }],
    ['fractional approvers', { ...input, tiers: { ...tiers, critical: { effect: 'approval', approvers: 1.5 } } }],
    ['negative delay', { ...input, tiers: { ...tiers, critical: { effect: 'approval', delayMs: -1 } } }],
    ['unknown effect', { ...input, tiers: { ...tiers, critical: { effect: 'allow' as 'auto' } } }],
    ['missing tier', { ...input, tiers: { standard: tiers.standard, sensitive: tiers.sensitive } as PolicyInput['tiers'] }],
    ['unknown default tier', { ...input, defaultTier: 'secret' as AccessTier }],
    ['unknown namespace default tier', { ...input, namespaces: [{ pattern: 'a', default_tier: 'top' as AccessTier }] }],
  ])('compilePolicy rejects %s with CONFIG_INVALID', (_label, bad) => {
    expect(() => compilePolicy(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it.each([
    [{ id: 'a', grants: ['secrets:read:production/gemini*'], deny: [] }],
    [{ id: 'a', grants: [], deny: ['secrets:READ:x'] }],
    [{ id: 'a:deny', grants: [], deny: [] }],
    [{ id: '', grants: [], deny: [] }],
  ])('compileAgent rejects %j with CONFIG_INVALID', (bad) => {
    expect(() => compileAgent(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('use (use without reveal): tiers and approvals apply as to read', () => {
  const user = compileAgent({ id: 'user', grants: ['secrets:use:**'], deny: [] });
  const decide = (action: Action, tier: AccessTier | null, approved: string[] = []) =>
    evaluate({ agent: user, action, namespace: 'dev', key: 'K', tier, approvedScopes: approved.map(parseScope) }, policy, NOW).effect;

  it('a use grant allows use of a standard secret and never read', () => {
    expect(decide('use', 'standard')).toBe('allow');
    expect(decide('read', 'standard')).toBe('deny');
  });

  it('a critical secret needs an approval for use; an approval for use only never allows read', () => {
    expect(decide('use', 'critical')).toBe('require_approval');
    expect(decide('use', 'critical', ['secrets:use:dev/K'])).toBe('allow');
    expect(decide('use', 'critical', ['secrets:read:dev/K'])).toBe('require_approval');
    expect(decide('read', 'critical', ['secrets:use:dev/K'])).toBe('deny');
  });
});

describe('a read deny also denies use (H12-6: use is reveal-equivalent)', () => {
  // A pre-use config: "everything, but never production values".
  const legacy = compileAgent({ id: 'legacy', grants: ['secrets:*:**'], deny: ['secrets:read:production/**'] });
  const decide = (action: Action, namespace: string) => evaluate({ agent: legacy, action, namespace, key: 'K', tier: 'standard', approvedScopes: [] }, policy, NOW);

  it('secrets:* still covers use, but a read deny refuses use of the denied secrets', () => {
    expect(decide('use', 'dev').effect).toBe('allow');
    const denied = decide('use', 'production/db');
    expect(denied.effect).toBe('deny');
    expect(denied.rule).toBe('agent:legacy:deny:secrets:read:production/**');
    expect(decide('read', 'production/db').effect).toBe('deny');
  });

  it('an approved use scope does not lift a read deny', () => {
    const d = evaluate({ agent: legacy, action: 'use', namespace: 'production/db', key: 'K', tier: 'critical', approvedScopes: [parseScope('secrets:use:production/db/K')] }, policy, NOW);
    expect(d.effect).toBe('deny');
  });

  it('a use deny does not deny read (read stays with the grants)', () => {
    const a = compileAgent({ id: 'a', grants: ['secrets:*:**'], deny: ['secrets:use:production/**'] });
    expect(evaluate({ agent: a, action: 'read', namespace: 'production/db', key: 'K', tier: 'standard', approvedScopes: [] }, policy, NOW).effect).toBe('allow');
    expect(evaluate({ agent: a, action: 'use', namespace: 'production/db', key: 'K', tier: 'standard', approvedScopes: [] }, policy, NOW).effect).toBe('deny');
  });
});

describe('checkScopes on names nobody validated', () => {
  // The server validates names first; checkScopes still matches no scope (default-deny) on an
  // invalid one, so a `*`, `**`, `..` or empty segment is never read as a wildcard by the matcher.
  it.each([
    ['production/*', 'KEY'],
    ['production/**', 'KEY'],
    ['production', '*'],
    ['production//x', 'KEY'],
    ['production/..', 'KEY'],
    ['prodüction', 'KEY'],
  ])('%s / %s matches no grant, even secrets:*:**', (namespace, key) => {
    const decision = checkScopes({ agent: agents.root!, action: 'read', namespace, key, approvedScopes: [] });
    expect(decision).toMatchObject({ effect: 'deny', rule: 'default-deny' });
  });
});
