/**
 * The browser peer: Debian's chromium (scripts/peers/install-chromium.sh) driven by
 * playwright-core, headless; axe-core injected from its package for accessibility scans; and
 * the two real processes that serve the dashboard (`serve --http`, and `dashboard` beside stdio
 * servers), started from the built CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { baseEnv, CLI, ensureBuilt, REPO_ROOT } from './cli.js';

export const CHROMIUM = process.env.ASS_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser suites cannot run here, or null when chromium is installed. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `chromium is not installed at ${CHROMIUM}`;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** Test artifacts (screenshots), gitignored. */
export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'browser');

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core in the page (evaluated through the devtools protocol, so the page's CSP stays
 * as strict as it is) and returns the serious and critical violations.
 */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

export interface ServedDashboard {
  /** Origin, e.g. http://127.0.0.1:40123 */
  origin: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `serve --http --port 0` or `dashboard --port 0` from dist/ and waits for its URL. */
export async function startServing(configPath: string, mode: 'serve' | 'dashboard', env: Record<string, string> = {}): Promise<ServedDashboard> {
  await ensureBuilt();
  const args = mode === 'serve' ? ['serve', '--http', '--port', '0'] : ['dashboard', '--port', '0'];
  const child = spawn(process.execPath, [CLI, '--config', configPath, ...args], { cwd: REPO_ROOT, env: baseEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} did not start in 60 s; stderr:\n${err}`)), 60_000);
    child.stderr!.on('data', () => {
      const m = /(?:listening on|dashboard on) (http\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} exited with ${code}; stderr:\n${err}`));
    });
  });
  return {
    origin: new URL(url).origin,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Signs in through the form, as a person would, and lands on the approvals page. */
export async function signIn(page: Page, origin: string, key: string): Promise<void> {
  await page.goto(`${origin}/dashboard/sign-in`);
  await page.getByLabel('Admin key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${origin}/dashboard/approvals`);
}

/** Waits until the approvals page's live stream is connected. */
export async function liveReady(page: Page): Promise<void> {
  await expect.poll(() => page.locator('main').getAttribute('data-live-ready'), { timeout: 15_000 }).toBe('yes');
}

/** Clicks a decision button, then the confirmation dialog's "Yes, <verb>". */
export async function decide(page: Page, scope: ReturnType<Page['locator']> | Page, verb: 'Approve' | 'Deny' | 'Cancel'): Promise<void> {
  await scope.getByRole('button', { name: verb, exact: true }).click();
  const dialog = page.getByRole('dialog');
  // Event-driven (Playwright waits for the dialog to open), not a 1 s poll: under load the
  // click's handler can take longer than that.
  await dialog.waitFor({ state: 'visible' });
  const before = page.url();
  await dialog.getByRole('button', { name: `Yes, ${verb.toLowerCase()}` }).click();
  // The action answers with a redirect to a page that says what happened (`?done=…`).
  await page.waitForURL((u) => u.toString() !== before && u.searchParams.has('done'));
}
