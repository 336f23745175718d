import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Settings } from './settings.js';

/**
 * Deep links for humans: where a request's page and a secret's page are, and the exact CLI
 * command to type. Every message that sends a human somewhere (the APPROVAL_REQUIRED answer,
 * get_approval_status, delete/rotate's requires_human_auth, URL-mode elicitation, webhooks)
 * takes its links from here, so they cannot disagree.
 *
 * The dashboard's address, first found wins:
 *  1. `dashboard.public_url` in the config (what a human's browser reaches, e.g. behind a proxy);
 *  2. `server.approval_url`, the older form: a request's page is `<url>?approval_id=<id>`;
 *  3. the URL this process bound with `serve --http` (+ `/dashboard`);
 *  4. the URL another live process of this setup bound and announced in `data_dir`
 *     (so a stdio server, or the CLI, points at the `serve --http`/`dashboard` a human runs).
 * Pages: `/dashboard/approvals/<id>` and `/dashboard/secrets/<namespace>/<key>`.
 */
export interface Links {
  /** The dashboard's base URL (no trailing slash), or null when none is known. */
  dashboard(): string | null;
  approval(id: string): string | null;
  secret(namespace: string, key: string): string | null;
  /** `agent-secret-store` plus `--config <path>` when the setup is not in the default place. */
  command(args: string): string;
  /** Called by a process that serves the dashboard: links use it, and others of this setup learn it. */
  announce(dashboardUrl: string): void;
  /** Withdraws this process's announcement (on shutdown). */
  withdraw(): void;
}

const ANNOUNCE_FILE = 'dashboard-url.json';
const trimSlash = (url: string): string => url.replace(/\/+$/, '');
const encodeSegments = (path: string): string => path.split('/').map(encodeURIComponent).join('/');

/** Quotes a path for a POSIX shell when it needs it. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Whether `file` is where the CLI looks without --config (~/.agent-secret-store/config.yaml). */
export function isDefaultConfigPath(file: string, home: string = homedir()): boolean {
  return resolve(file) === resolve(home, '.agent-secret-store', 'config.yaml');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function createLinks(settings: Pick<Settings, 'config' | 'dataDir' | 'loaded'>): Links {
  const configured = settings.config.dashboard?.public_url;
  const legacy = settings.config.server.approval_url;
  const announcePath = resolve(settings.dataDir, ANNOUNCE_FILE);
  let bound: string | null = null;
  let announced: { mtimeMs: number; url: string | null } | null = null;
  const configFlag = isDefaultConfigPath(settings.loaded.file) ? '' : ` --config ${shellQuote(settings.loaded.file)}`;

  /** The announcement of another live process, re-read only when the file changes. */
  function fromAnnouncement(): string | null {
    const info = statSync(announcePath, { throwIfNoEntry: false });
    if (!info) return null;
    if (!announced || announced.mtimeMs !== info.mtimeMs) {
      let url: string | null = null;
      try {
        const parsed = JSON.parse(readFileSync(announcePath, 'utf8')) as { url?: unknown; pid?: unknown };
        if (typeof parsed.url === 'string' && /^https?:\/\//.test(parsed.url) && typeof parsed.pid === 'number' && processAlive(parsed.pid)) url = trimSlash(parsed.url);
      } catch {
        url = null;
      }
      announced = { mtimeMs: info.mtimeMs, url };
    }
    return announced.url;
  }

  const dashboard = (): string | null => (configured ? trimSlash(configured) : bound ?? fromAnnouncement());

  return {
    dashboard,
    approval(id) {
      if (!configured && legacy) return `${legacy}${legacy.includes('?') ? '&' : '?'}approval_id=${encodeURIComponent(id)}`;
      const base = dashboard();
      return base ? `${base}/approvals/${encodeURIComponent(id)}` : null;
    },
    secret(namespace, key) {
      if (!configured && legacy) return legacy;
      const base = dashboard();
      return base ? `${base}/secrets/${encodeSegments(namespace)}/${encodeURIComponent(key)}` : null;
    },
    command: (args) => `agent-secret-store${configFlag} ${args}`,
    announce(url) {
      // A wildcard bind is reached through loopback on this machine (dashboard.public_url says otherwise).
      bound = trimSlash(url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:'));
      try {
        // Security: only a URL and a pid, in the private data_dir (0600), for processes of this setup.
        writeFileSync(announcePath, JSON.stringify({ url: bound, pid: process.pid }), { mode: 0o600 });
      } catch {
        // Best effort: this process's own links work without it.
      }
    },
    withdraw() {
      if (!bound) return;
      try {
        const parsed = JSON.parse(readFileSync(announcePath, 'utf8')) as { pid?: unknown };
        if (parsed.pid === process.pid) rmSync(announcePath, { force: true });
      } catch {
        // Gone already.
      }
      bound = null;
    },
  };
}
