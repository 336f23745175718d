import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { isAssError } from '../shared/errors.js';
import { loadSettings, type Settings } from './settings.js';

/**
 * The config sections a running server applies without a restart: who may call it (agents and
 * admins, with their key hashes, grants, denies and tools, and `auth.oidc.admins_group`, which
 * makes people admins) and the policy. Everything else
 * (backend, data_dir, audit, http, server, tokens, approvals, notifications, dashboard) is
 * wired into objects built at start-up; a change there is logged as needing a restart.
 */
/** How long a refused file must stay unchanged before the refusal is logged. */
const SETTLE_MS = 250;

const LIVE_SECTIONS = ['agents', 'admins', 'policy'] as const satisfies readonly (keyof Config)[];

/**
 * `auth` as in force after a reload: the section stays as it was at start-up (a restart applies
 * it), except `auth.oidc.admins_group`, which says who is an admin and so follows the file as
 * `admins` does: removed or renamed, the sessions it gave end at their next request. A new
 * admins_group counts only for the same provider (a new issuer needs the restart first).
 */
export function liveAuth(current: Config['auth'], next: Config['auth']): Config['auth'] {
  if (!current.oidc) return current;
  const { admins_group: _old, ...oidc } = current.oidc;
  const group = next.oidc?.issuer === current.oidc.issuer ? next.oidc.admins_group : undefined;
  return { ...current, oidc: { ...oidc, ...(group !== undefined ? { admins_group: group } : {}) } };
}

/**
 * The running settings, following the config file. `serve`, `serve --http` and `dashboard` run
 * for days while the dashboard or `agents add` edit the file: an agent added, a grant changed or
 * an admin added must count at the next request, without a restart.
 *
 * `refresh()` is called where a request is authenticated and before each tool call: it compares
 * the file's (mtime, size, inode) with the last one seen — one stat — and reloads on a change, so
 * an edit counts at once and does not depend on the watcher's timing. The watcher reloads as
 * soon as the file changes, so a bad edit is reported in the log when it is made. A file that no
 * longer validates is refused as a whole: the log says why and the previous settings stay.
 */
export class LiveSettings {
  private settings: Settings;
  private seen: string;
  private watcher: FSWatcher | undefined;
  /** Above 0 while a step runs whose request has already refreshed (see alreadyRefreshed). */
  private refreshedByCaller = 0;

  constructor(
    initial: Settings,
    private readonly logger: Logger,
    private readonly load: (file: string) => Settings = (file) => loadSettings(file),
  ) {
    this.settings = initial;
    this.seen = stamp(initial.loaded.file);
  }

  /** The settings in force (no file access). */
  get current(): Settings {
    return this.settings;
  }

  /**
   * Runs `read` with refresh() answering the settings in force without looking at the file: for
   * a step of a request whose authentication refreshed after the request arrived (an MCP tool
   * call over HTTP: every tools/call comes in a POST that passed auth first). The settings in
   * force only move forward, so the step still sees the config as of its request's arrival or
   * later; the request costs one stat instead of one at auth and another at the tool call.
   * `read` must be synchronous: only its synchronous part runs with the file unlooked at.
   */
  alreadyRefreshed<T>(read: () => T): T {
    this.refreshedByCaller++;
    try {
      return read();
    } finally {
      this.refreshedByCaller--;
    }
  }

  /** Reloads if the file changed since it was last seen; returns the settings in force. */
  refresh(): Settings {
    if (this.refreshedByCaller > 0) return this.settings;
    const file = this.settings.loaded.file;
    const now = stamp(file);
    if (now === this.seen) return this.settings;
    this.seen = now;
    let next: Settings;
    try {
      next = this.load(file);
    } catch (error) {
      this.reportRefused(now, error);
      return this.settings;
    }
    // Read while being rewritten in place (an editor, not our atomic edits): try again next time.
    if (stamp(file) !== now) {
      this.seen = '';
      return this.settings;
    }
    const auth = liveAuth(this.settings.config.auth, next.config.auth);
    const restartOnly = (Object.keys({ ...this.settings.config, ...next.config }) as (keyof Config)[]).filter(
      (section) => !(LIVE_SECTIONS as readonly string[]).includes(section) && !isDeepStrictEqual(section === 'auth' ? auth : this.settings.config[section], next.config[section]),
    );
    this.settings = {
      ...this.settings,
      config: { ...this.settings.config, agents: next.config.agents, admins: next.config.admins, policy: next.config.policy, auth },
      agents: next.agents,
      policy: next.policy,
    };
    this.logger.info({ file, agents: next.agents.length, admins: next.config.admins.length }, 'config reloaded: agents, admins and policy in force');
    if (restartOnly.length) this.logger.warn({ file, sections: restartOnly }, `config sections changed that apply only after a restart: ${restartOnly.join(', ')}`);
    return this.settings;
  }

  /**
   * Logs why an edit was refused, once the file has stayed as it was for SETTLE_MS: an editor
   * that truncates then writes shows an empty file for a moment, which is not worth an error.
   */
  private reportRefused(refused: string, error: unknown): void {
    const file = this.settings.loaded.file;
    // Security: the problems name YAML paths and lines (as `serve` prints them at start-up), never a key.
    const problem = String(isAssError(error) ? error.message : (error as Error)?.message ?? error).slice(0, 2_000);
    setTimeout(() => {
      if (stamp(file) !== refused) return; // rewritten since: that version is checked on its own
      this.logger.error({ file, problem }, 'config change refused: the file does not validate; the previous config stays in force until it is fixed');
    }, SETTLE_MS).unref();
  }

  /** Reloads as soon as the file changes (the folder is watched: edits replace the file by rename). */
  watch(): void {
    if (this.watcher) return;
    const file = this.settings.loaded.file;
    try {
      this.watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === basename(file)) this.refresh();
      });
      this.watcher.on('error', () => this.stop());
    } catch {
      // No watcher (e.g. inotify limits): refresh() at each request still applies edits.
      this.watcher = undefined;
    }
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}

function stamp(file: string): string {
  const info = statSync(file, { throwIfNoEntry: false });
  return info ? `${info.mtimeMs}:${info.size}:${info.ino}` : '-';
}
