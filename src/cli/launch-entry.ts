import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, resolve, sep } from 'node:path';

/**
 * The `mcpServers` entry `init` prints: how an MCP client should start this server so that it
 * keeps working. Started from a stable place (a global install, `npm link`, a clone), it is
 * this very installation by absolute path — never a registry lookup that could resolve to
 * another package of the same name. Started by `npx`, the files live in npx's cache
 * (`<cache>/_npx/<hash>/`), which `npm cache clean` or npx itself may delete at any time; the
 * entry then runs the same package spec through `npx -y` again (the tarball by absolute
 * `file:` path, or the exact registry version), which re-installs it when needed.
 */
export interface LaunchEntry {
  command: string;
  args: string[];
  /** Why this form was chosen, for the human reading init's output. */
  note: string | null;
}

export const PACKAGE_NAME = '@agentsecretstore/mcp';

/** The npx install folder (`…/_npx/<hash>`) that `scriptPath` lives in, if any. */
export function npxInstallRoot(scriptPath: string): string | null {
  const parts = scriptPath.split(sep);
  const at = parts.lastIndexOf('_npx');
  if (at < 0 || at + 1 >= parts.length - 1) return null;
  return parts.slice(0, at + 2).join(sep) || null;
}

/** The spec npx installed this package from (its install folder's package.json), made absolute. */
function npxSpec(root: string, version: string): { spec: string; note: string } {
  let declared: string | undefined;
  try {
    const manifest = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    declared = manifest.dependencies?.[PACKAGE_NAME];
  } catch {
    declared = undefined;
  }
  if (declared?.startsWith('file:')) {
    const target = declared.slice('file:'.length);
    const file = isAbsolute(target) ? target : resolve(root, target);
    if (existsSync(file)) return { spec: `file:${file}`, note: `started through npx from ${file}: the entry runs that tarball through npx, so it survives npx cache cleaning (keep the tarball where it is, or install it with \`npm install -g ${file}\`)` };
  }
  return { spec: `${PACKAGE_NAME}@${version}`, note: `started through npx: the entry runs ${PACKAGE_NAME}@${version} through npx, so it survives npx cache cleaning` };
}

export function launchEntry(input: { scriptPath: string; execPath: string; configPath: string; version: string }): LaunchEntry {
  // Both the path as invoked and its real path: npx runs the bin through a symlink in .bin.
  const real = existsSync(input.scriptPath) ? realpathSync(input.scriptPath) : input.scriptPath;
  const root = npxInstallRoot(input.scriptPath) ?? npxInstallRoot(real) ?? npxInstallRoot(dirname(real));
  if (root) {
    const { spec, note } = npxSpec(root, input.version);
    return { command: 'npx', args: ['-y', spec, '--config', input.configPath], note };
  }
  return { command: input.execPath, args: [real, '--config', input.configPath], note: null };
}
