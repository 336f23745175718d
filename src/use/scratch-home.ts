/**
 * An empty, private directory for one command run: its HOME, its XDG_CONFIG_HOME and (unless a
 * working directory was allowed) its working directory. Without it a command falls back to the
 * passwd home — for a stdio server or an agent's `run`, the very directory the agent's shell
 * writes — and reads per-user files there that turn an allowed command into a read of its secret
 * (`~/.psqlrc` with `\! printenv PGPASSWORD | rev`, `~/.gitconfig`'s core.pager, `~/.curlrc`,
 * `~/.ssh/config`'s ProxyCommand; R-3), or repository files in the working directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The variables that point a command's per-user configuration at `dir`. */
export function scratchHomeEnv(dir: string): NodeJS.ProcessEnv {
  return { HOME: dir, XDG_CONFIG_HOME: dir };
}

/** Runs `fn` with a fresh 0700 directory (mkdtemp creates it 0700), removed afterwards whatever happens. */
export async function withScratchHome<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ass-run-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
