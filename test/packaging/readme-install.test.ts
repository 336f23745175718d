/**
 * What the README tells a user to type to install: `@agentsecretstore/mcp` on the npm registry
 * is someone else's package (a client of the hosted service), so no snippet may install this
 * server by that name; the documented installs are the clone's build, its `npm pack` tarball (through a `file:`
 * spec) and the container image, whose name the testcontainers module uses by default.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE } from '../../src/testcontainers/index.js';
import { REPO_ROOT } from '../helpers/cli.js';

const codeBlocks = (markdown: string): string[] => [...markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('install instructions', () => {
  it('no snippet installs this server by the registry name; every other npx runs a file: tarball', async () => {
    for (const file of ['README.md', 'docs/deploy.md']) {
      const text = await readFile(path.join(REPO_ROOT, file), 'utf8');
      for (const block of codeBlocks(text)) {
        // The registry's package is the hosted product's client: a snippet may run it only pointed
        // at this server with ASS_API_URL (README, "Already using the hosted product?"), never as
        // an install of this server, where it would send the agent key to the hosted service.
        if (/npx\s+(-y\s+)?@agentsecretstore\/mcp|"-y",\s*"@agentsecretstore\/mcp/.test(block)) {
          expect(block, `${file}: a snippet runs the registry's @agentsecretstore/mcp without ASS_API_URL`).toMatch(/"ASS_API_URL":\s*"http/);
        }
        for (const npx of block.match(/npx\s+-y\s+\S+/g) ?? []) expect(npx, `${file}: ${npx}`).toMatch(/npx\s+-y\s+file:/);
        for (const args of block.match(/"args":\s*\["-y",\s*"[^"]+"/g) ?? []) if (!/ASS_API_URL/.test(block)) expect(args, `${file}: ${args}`).toMatch(/"file:/);
      }
    }
  });

  it('the README says why, and names the tarball and the image as the installs', async () => {
    const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/Do not run `npx @agentsecretstore\/mcp`: that name on the\n> registry is currently a different package/);
    expect(readme).toContain('npx -y file:./agentsecretstore-mcp-0.1.0.tgz');
    // The image the README builds is the one the testcontainers module starts by default.
    expect(readme).toContain('docker build -t agent-secret-store .');
    expect(DEFAULT_IMAGE).toBe('agent-secret-store:latest');
  });
});
