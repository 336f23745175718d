/**
 * Packaging for `npx`: `npm pack` (with its real `prepack` build) gives a tarball that runs with
 * `npx -y <tarball> --config <file>` from a clean directory with no node_modules, on a fresh
 * `init` home, driven by the SDK Client over stdio. npx installs only the runtime dependencies
 * from the registry, so a dev dependency needed at run time would fail here; and every package
 * the packed dist/ imports (static, dynamic or require) must be in `dependencies`, also one on
 * a path the npx run does not take. The scan (test/helpers/runtime-imports.ts) reads syntax, so the
 * bundled vendors' messages that quote `require("…")` are not taken for imports.
 *
 * The pack runs in a private copy of the sources (node_modules linked), so its `rm -rf dist`
 * never pulls dist/ from under other suites running at the same time.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, call, REPO_ROOT, tempDir } from '../helpers/cli.js';
import { runtimeImports } from '../helpers/runtime-imports.js';

const run = promisify(execFile);
const TIMEOUT = 180_000;

let root: string;
let tarball: string;
let packedFiles: string[];
let npxSpec: string | undefined;

beforeAll(async () => {
  root = await tempDir('ass-pack-');
  const source = path.join(root, 'source');
  await mkdir(source);
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts', 'README.md', 'config.example.yaml', 'LICENSE']) {
    if (existsSync(path.join(REPO_ROOT, entry))) await cp(path.join(REPO_ROOT, entry), path.join(source, entry), { recursive: true });
  }
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(source, 'node_modules'), 'dir');
  const out = path.join(root, 'out');
  await mkdir(out);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', out], { cwd: source, env: baseEnv(), timeout: TIMEOUT, maxBuffer: 64 * 1024 * 1024 });
  // npm prints the prepack script's output before the JSON on some versions: take the JSON array.
  const info = JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1 || stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(out, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);
}, TIMEOUT);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  // Remove this run's npx install (<cache>/_npx/<hash>), found by its unique spec.
  if (npxSpec) {
    const cache = (await run('npm', ['config', 'get', 'cache'], { env: baseEnv() })).stdout.trim();
    const npxDir = path.join(cache, '_npx');
    for (const entry of existsSync(npxDir) ? await readdir(npxDir) : []) {
      const manifest = await readFile(path.join(npxDir, entry, 'package.json'), 'utf8').catch(() => '');
      if (manifest.includes(npxSpec.slice(2))) await rm(path.join(npxDir, entry), { recursive: true, force: true });
    }
  }
});

describe('npm pack → npx -y <tarball>', () => {
  it('packs compiled JavaScript with a shebang, and no sources, tests or secrets', async () => {
    expect(existsSync(tarball)).toBe(true);
    expect(packedFiles).toContain('dist/cli/main.js');
    expect(packedFiles).toContain('package.json');
    // The dashboard's script and styles ship in the package (no CDN): copied by the build.
    expect(packedFiles).toEqual(expect.arrayContaining(['dist/dashboard/assets/app.js', 'dist/dashboard/assets/app.css', 'dist/dashboard/assets/favicon.svg']));
    expect(packedFiles.filter((f) => /^(src|test|bench)\//.test(f) || /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(packedFiles.filter((f) => /(store\.key|\.env|state\.json|audit\.log)$/.test(f))).toEqual([]);
    const main = await readFile(path.join(root, 'source', 'dist', 'cli', 'main.js'), 'utf8');
    expect(main.startsWith('#!/usr/bin/env node')).toBe(true);
    const pkg = JSON.parse(await readFile(path.join(root, 'source', 'package.json'), 'utf8'));
    expect(pkg.bin['agent-secret-store']).toBe('dist/cli/main.js');
    for (const dev of Object.keys(pkg.devDependencies ?? {})) expect(Object.keys(pkg.dependencies)).not.toContain(dev);
  });

  it('every package that dist/ imports at run time (static, dynamic, require) is a runtime dependency', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'source', 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    const { packages, optional, computed } = runtimeImports(path.join(root, 'source', 'dist'));
    // The CLI, the server and every adapter are in the scan (tsc's output beside the bundle).
    expect([...packages.keys()]).toEqual(expect.arrayContaining(['@modelcontextprotocol/sdk', 'zod', '@aws-sdk/client-secrets-manager', 'pg']));
    // The one exception: the `./testcontainers` entry point imports testcontainers, an optional
    // peer dependency that the project using that entry installs (npx users never load it).
    const optionalPeer = (name: string, files: string[]) =>
      pkg.peerDependenciesMeta?.[name]?.optional === true && name in (pkg.peerDependencies ?? {}) && files.every((f) => f.startsWith('testcontainers/'));
    const missing = [...packages].filter(([name, files]) => !(name in (pkg.dependencies ?? {})) && !optionalPeer(name, files)).map(([name, files]) => `${name} (imported by ${files.join(', ')})`);
    expect(missing, 'imported at run time but not in dependencies').toEqual([]);
    // Required inside a `try` by a bundled package, which goes on without it (never installed by npx):
    // debug's colour support (node-vault → follow-redirects → debug). Any other one must be looked at.
    const optionalMissing = [...optional.keys()].filter((name) => !(name in (pkg.dependencies ?? {}))).sort();
    expect(optionalMissing, 'required inside try by bundled code, not in dependencies').toEqual(['supports-color']);
    // A computed specifier could load anything; there is none to account for.
    expect(computed).toEqual([]);
  });

  it('the import scan sees every form of import', async () => {
    const dir = path.join(root, 'scan-fixture');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'a.js'), [
      "import x from 'pkg-default';", "import { y } from \"pkg-named/sub/path.js\";", "import * as z from '@scope/pkg-ns/deep';",
      "import 'pkg-side-effect';", "export { w } from 'pkg-reexport';", "export * from 'pkg-star';",
      "const later = await import('pkg-dynamic');", "const r = require(\"pkg-require\");", "const c = await import(name);",
      "import fs from 'node:fs'; import path from 'path'; import local from './local.js';",
    ].join('\n'));
    await writeFile(path.join(dir, 'sub', 'b.js'), "const m = await import(`pkg-template`);");
    // A bundle as esbuild writes it: `__require` for an external CommonJS require, `require.resolve`,
    // and text that only looks like imports (a vendor's error message, comments, a regular expression).
    await writeFile(path.join(dir, 'sub', 'bundled.js'), [
      "var a = __require(\"pkg-esbuild-require\"); var b = require.resolve('pkg-resolve'); var c = require(`pkg-require-template`);",
      "throw new Error('Please check whether you have installed the \"@aws-sdk/pkg-in-message\" package explicitly. You must also register the package by calling [require(\"@aws-sdk/pkg-in-message\");]');",
      "const t = `import x from 'pkg-in-template'; require(\"pkg-in-template-req\")`;",
      "// import y from 'pkg-in-line-comment'; require('pkg-in-line-comment-req')",
      "/* export * from 'pkg-in-block-comment'; await import('pkg-in-block-comment-dyn') */",
      "const re = /require\\(\"pkg-in-regexp\"\\)/;",
      "function load(id) { return require(id); }",
      "try { require('pkg-optional'); } catch {}",
      "import { createRequire as __mk } from 'node:module'; var require2 = __mk(import.meta.url); var pg = require2('pkg-created-require');",
      "const req3 = module.createRequire(import.meta.url); req3.resolve('pkg-created-resolve');",
      "try { exports.later = function () { return require('pkg-in-function-in-try'); }; } catch {}",
    ].join('\n'));
    await writeFile(path.join(dir, 'types.d.ts'), "import type { T } from 'pkg-types-only';");
    const { packages, optional, computed } = runtimeImports(dir);
    expect([...packages.keys()].sort()).toEqual([
      '@scope/pkg-ns', 'pkg-created-require', 'pkg-created-resolve', 'pkg-default', 'pkg-dynamic', 'pkg-esbuild-require', 'pkg-in-function-in-try', 'pkg-named', 'pkg-reexport', 'pkg-require', 'pkg-require-template',
      'pkg-resolve', 'pkg-side-effect', 'pkg-star', 'pkg-template',
    ]);
    expect([...optional.keys()]).toEqual(['pkg-optional']);
    expect(computed.sort()).toEqual(['a.js: import(name)', `${path.join('sub', 'bundled.js')}: require(id)`]);
  });

  it('runs from a clean directory: init, then serve over stdio (list tools, set and get a secret)', async () => {
    const clean = path.join(root, 'clean');
    await mkdir(clean);
    const env = baseEnv({ NODE_PATH: undefined });
    delete env.NODE_PATH;
    // The tarball sits in the clean directory and is named relatively: npm 11's `npx` takes an
    // absolute path to an existing file for a local binary and tries to execute the .tgz itself
    // ("Permission denied"); `./x.tgz` (or `file:/abs/x.tgz`) is installed as a package.
    // A name unique to this run: npx keys its install cache on the spec, and a reused key could
    // run an older tarball of the same version.
    const local = `ass-mcp-${randomBytes(6).toString('hex')}.tgz`;
    await cp(tarball, path.join(clean, local));
    const spec = `./${local}`;
    npxSpec = spec;
    const npx = (args: string[], extra: Record<string, string> = {}) =>
      run('npx', ['-y', spec, ...args], { cwd: clean, env: { ...env, ...extra }, timeout: TIMEOUT, maxBuffer: 16 * 1024 * 1024 });

    // The first call installs the runtime dependencies from the registry.
    const version = await npx(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const init = await npx(['init', '--dir', path.join(clean, 'home'), '--json']);
    const home = JSON.parse(init.stdout) as { config_path: string; agent_key: string };
    expect(existsSync(path.join(clean, 'node_modules'))).toBe(false);

    // The mcpServers entry init prints when run through npx must not point into npx's cache.
    const human = await npx(['init', '--dir', path.join(clean, 'home2')]);
    const printed = human.stdout.slice(human.stdout.indexOf('{'), human.stdout.lastIndexOf('}') + 1);
    const entry = (JSON.parse(printed) as Record<string, { command: string; args: string[] }>)['agent-secret-store']!;
    expect(entry.command).toBe('npx');
    expect(entry.args.slice(0, 2)).toEqual(['-y', `file:${path.join(clean, local)}`]);
    expect(entry.args.slice(2)).toEqual(['--config', path.join(clean, 'home2', 'config.yaml')]);
    expect(JSON.stringify(entry)).not.toContain('_npx');
    expect(human.stdout).toContain('survives npx cache cleaning');
    // The human command init names works as printed: through npx, `agent-secret-store` is not on the PATH.
    const humanCli = /Human commands: (.+?) approvals list/.exec(human.stdout)?.[1];
    expect(humanCli).toBe(`npx -y file:${path.join(clean, local)} --config ${path.join(clean, 'home2', 'config.yaml')}`);
    const adminKey = /admin key \(ASS_ADMIN_KEY\): (\S+)/.exec(human.stdout)?.[1];
    const listed = await run('npx', [...humanCli!.split(' ').slice(1), 'approvals', 'list'], { cwd: root, env: { ...env, ASS_ADMIN_KEY: adminKey! }, timeout: TIMEOUT });
    expect(listed.stdout).toMatch(/No pending/i);
    // Clean npx's cache of this install, then start the entry as a client would: it still runs.
    const cache = (await run('npm', ['config', 'get', 'cache'], { env })).stdout.trim();
    for (const dir of await readdir(path.join(cache, '_npx'))) {
      const manifest = await readFile(path.join(cache, '_npx', dir, 'package.json'), 'utf8').catch(() => '');
      if (manifest.includes(local)) await rm(path.join(cache, '_npx', dir), { recursive: true, force: true });
    }
    const again = await run(entry.command, [...entry.args, '--version'], { cwd: root, env, timeout: TIMEOUT, maxBuffer: 16 * 1024 * 1024 });
    expect(again.stdout.trim()).toBe(version.stdout.trim());

    const transport = new StdioClientTransport({
      command: 'npx',
      args: ['-y', spec, '--config', home.config_path],
      env: { ...env, ASS_AGENT_KEY: home.agent_key },
      cwd: clean,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const client = new Client({ name: 'npx-test', version: '1.0.0' });
    try {
      await client.connect(transport, { timeout: TIMEOUT });
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(8);
      const set = await call(client, 'set_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'from-npx', secret_type: 'api_key' });
      expect(set, stderr).toMatchObject({ ok: true, data: { version: 1 } });
      const got = await call(client, 'get_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' });
      expect(got, stderr).toMatchObject({ ok: true, data: { value: 'from-npx', version: 1, secret_type: 'api_key' } });
    } finally {
      await client.close();
    }
    expect(stderr).not.toContain('from-npx');
  }, TIMEOUT * 2);
});
