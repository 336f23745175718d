import { createHash } from 'node:crypto';
import type { AuthConfig } from '../../config/auth-schema.js';

/**
 * A person signed in through the OpenID Connect provider (`auth.oidc`), as grants and audit
 * records name them: `oidc:<sub>` followed by ` (<email or name>)` when the provider gave one,
 * e.g. `oidc:248289761001 (jane@example.com)`. The `sub` is the identity (stable, unique at the
 * issuer); the label is for people reading the audit log and is untrusted text (the person may
 * choose their own display name), rendered inert wherever shown.
 */

/** A subject we accept: printable ASCII without spaces (so `oidc:<sub> (` is unambiguous), at most 255 characters (OIDC Core §2). */
const SUBJECT = /^[\x21-\x7e]{1,255}$/;

export function isValidSubject(sub: unknown): sub is string {
  return typeof sub === 'string' && SUBJECT.test(sub);
}

/** Strips control and format characters, collapses whitespace, bounds the length. */
export function cleanLabel(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const clean = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ').replace(/\s+/g, ' ').trim().slice(0, 100);
  return clean || undefined;
}

export function oidcHuman(sub: string, label?: string): string {
  return label ? `oidc:${sub} (${label})` : `oidc:${sub}`;
}

export function isOidcHuman(human: string): boolean {
  return human.startsWith('oidc:');
}

/** The `sub` of an `oidc:` human, or undefined. */
export function oidcSubject(human: string): string | undefined {
  if (!isOidcHuman(human)) return undefined;
  const rest = human.slice('oidc:'.length);
  const space = rest.indexOf(' ');
  return space === -1 ? rest : rest.slice(0, space);
}

/** Whether a grant's `human` is this person (by `sub`; the label may have changed since). */
export function isSamePerson(human: string, sub: string): boolean {
  return oidcSubject(human) === sub;
}

const MAX_AGENT_ID = 64;

/**
 * The per-person agent id of an OIDC person: `<template>._<sub>`, or `<template>.__<hash>` when
 * the sub has characters an agent id may not hold or would make it too long. Admin ids never
 * start with `_` (config schema), so no admin's per-person agent (`<template>.<admin>`) can be
 * the same agent as an OIDC person's, and two subjects never map to one id.
 */
export function oidcPersonAgentId(template: string, sub: string): string {
  const plain = `${template}._${sub}`;
  if (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(sub) && plain.length <= MAX_AGENT_ID) return plain;
  return `${template}.__${createHash('sha256').update(sub).digest('hex').slice(0, 24)}`;
}

/**
 * What a grant consented by an OIDC person is tied to: the issuer. The grant ends when
 * `auth.oidc` is removed or points at another provider (whose subjects are other people).
 */
export function oidcIssuerHash(issuer: string): string {
  return createHash('sha256').update(`oidc-issuer:${issuer}`).digest('hex');
}

/** The templates the given groups may consent with, in config order, without duplicates. */
export function templatesForGroups(oidc: NonNullable<AuthConfig['oidc']>, groups: readonly string[]): string[] {
  const out: string[] = [];
  for (const [group, names] of Object.entries(oidc.groups)) {
    if (!groups.includes(group)) continue;
    for (const name of [names].flat()) if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** Whether any group still maps to the template (else the grants made from it through OIDC end). */
export function templateStillMapped(oidc: NonNullable<AuthConfig['oidc']>, template: string): boolean {
  return Object.values(oidc.groups).some((names) => [names].flat().includes(template));
}
