import { html, type SafeHtml } from './html.js';

/**
 * The page shell: skip link, header with navigation and sign-out, the main region, and the one
 * confirmation dialog the shipped script drives. No inline script or style: the CSP allows
 * only `/dashboard/assets/*` from this origin.
 */

export const BASE = '/dashboard';

export type Section = 'approvals' | 'secrets' | 'agents' | 'audit' | 'sign-ins';

export interface PageInput {
  title: string;
  section?: Section;
  /** Signed-in admin and the session's CSRF token; absent on the sign-in page. */
  session?: {
    adminId: string;
    csrf: string;
    /** A person signed in through the identity provider: only the Sign-ins section. */
    limited?: boolean;
    /** Whether `auth.oauth` is on: without it there are no sign-ins, and no Sign-ins section. */
    signIns?: boolean;
  };
  /** Re-rendered without reload when something changes (the script fetches `?partial=1`). */
  live?: boolean;
  body: SafeHtml;
  /** A notice at the top of main: what just happened, or what went wrong. */
  notice?: { kind: 'ok' | 'error'; text: string };
}

const NAV: { section: Section; label: string }[] = [
  { section: 'approvals', label: 'Approvals' },
  { section: 'secrets', label: 'Secrets' },
  { section: 'agents', label: 'Agents' },
  { section: 'audit', label: 'Audit' },
  { section: 'sign-ins', label: 'Sign-ins' },
];

export function csrfField(csrf: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${csrf}">`;
}

export function notice(n: PageInput['notice']): SafeHtml {
  if (!n) return html``;
  return html`<p class="notice notice-${n.kind}" role="${n.kind === 'error' ? 'alert' : 'status'}">${n.text}</p>`;
}

export function page(input: PageInput): SafeHtml {
  const nav = input.session
    ? html`<nav aria-label="Main"><ul>${NAV.filter((n) => (n.section === 'sign-ins' ? input.session!.signIns === true : !input.session!.limited)).map((n) => html`<li><a href="${BASE}/${n.section}"${n.section === input.section ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}</ul></nav>
      <form method="post" action="${BASE}/sign-out" class="sign-out">${csrfField(input.session.csrf)}<span class="who">Signed in as <strong>${input.session.adminId}</strong></span> <button type="submit">Sign out</button></form>`
    : html``;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="${BASE}/assets/favicon.svg" type="image/svg+xml">
<title>${input.title} · agent-secret-store</title>
<link rel="stylesheet" href="${BASE}/assets/app.css">
<script src="${BASE}/assets/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="${BASE}/approvals">agent-secret-store</a>
${nav}
</header>
<main id="main" tabindex="-1"${input.live ? html` data-live="${BASE}/events"` : ''}>
${liveRegion(input)}
</main>
<dialog id="confirm" aria-labelledby="confirm-title">
<form method="dialog">
<h2 id="confirm-title">Please confirm</h2>
<p id="confirm-text"></p>
<div class="actions"><button type="submit" value="yes" id="confirm-yes" class="primary">Confirm</button> <button type="submit" value="no" id="confirm-no">Go back</button></div>
</form>
</dialog>
</body>
</html>`;
}

/** What the live script swaps in: the notice and the page body. */
export function liveRegion(input: Pick<PageInput, 'title' | 'body' | 'notice'>): SafeHtml {
  return html`<h1>${input.title}</h1>${notice(input.notice)}${input.body}`;
}

/** "in 4 min", "3 h ago": a duration for people, from milliseconds. */
export function relative(ms: number): string {
  const abs = Math.abs(ms);
  const text = abs < 60_000 ? `${Math.max(1, Math.round(abs / 1000))} s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} days`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** A timestamp as text with a machine-readable <time>. */
export function when(iso: string, now: Date): SafeHtml {
  const ms = Date.parse(iso) - now.getTime();
  return html`<time datetime="${iso}" title="${iso}">${relative(ms)}</time>`;
}
