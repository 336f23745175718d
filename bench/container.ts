import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDockerEngine, buildProjectImage, type DockerEngine } from '../test/helpers/docker-engine.js';
import { freePort } from '../test/helpers/peer-common.js';
import { figure, percentile, table } from './stats.js';

const BASE = 'node:24-bookworm-slim';
const STARTS = 7;

const median = (samples: number[]): number => percentile([...samples].sort((a, b) => a - b), 50);

/** `docker run -d` of the image to /healthz 200 (ms), host networking, read-only, on a volume set up once. */
async function startToHealthy(engine: DockerEngine, tag: string, dataDir: string, port: number, name: string): Promise<number> {
  const started = performance.now();
  await engine.docker(['run', '-d', '--name', name, '--network', 'host', '--read-only', '-v', `${dataDir}:/data`, '-e', `ASS_HTTP_PORT=${port}`, '-e', 'ASS_HTTP_ALLOWED_ORIGINS=https://bench.example.test', tag]);
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0)) === 200) return performance.now() - started;
      if (Date.now() > deadline) throw new Error(`${tag} did not answer /healthz within 60 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await engine.docker(['rm', '-f', name]);
  }
}

/**
 * The container image: its size and what our layers add over the Node.js base image, and
 * `docker run` to /healthz 200 (median of several starts) beside the same engine's
 * `docker run --rm <base> true` (median of as many), the cost of starting any container here,
 * and beside `docker run --rm <base> node -e 0`, a container that boots Node.js and exits.
 * Uses the tests' own Docker engine (test/helpers/docker-engine.ts) and builds the image from the
 * root Dockerfile as the container tests do.
 */
export async function runContainerBench(): Promise<string> {
  let engine: DockerEngine;
  try {
    engine = await acquireDockerEngine();
  } catch (error) {
    return `### Container image\n\nNot measured: ${(error as Error).message}`;
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'ass-bench-container-'));
  try {
    const { tag } = await buildProjectImage(engine);
    const size = async (image: string) => Number((await engine.docker(['image', 'inspect', '-f', '{{.Size}}', image])).stdout.trim());
    const [ours, base] = [await size(tag), await size(BASE)];
    await chown(dataDir, 1000, 1000).catch(() => undefined);
    await engine.docker(['run', '--rm', '--network', 'host', '--read-only', '-v', `${dataDir}:/data`, tag, 'init', '--json']);
    const port = await freePort();
    const run = randomBytes(3).toString('hex');
    const healthy: number[] = [];
    const trivial: number[] = [];
    const nodeBoot: number[] = [];
    // Interleaved, one warm-up each, so load on the machine hits both alike.
    for (let i = -1; i < STARTS; i++) {
      const a = await startToHealthy(engine, tag, dataDir, port, `ass-bench-${run}-${i + 1}`);
      const t = performance.now();
      await engine.docker(['run', '--rm', '--network', 'host', BASE, 'true']);
      const b = performance.now() - t;
      const u = performance.now();
      await engine.docker(['run', '--rm', '--network', 'host', BASE, 'node', '-e', '0']);
      const c = performance.now() - u;
      if (i >= 0) (healthy.push(a), trivial.push(b), nodeBoot.push(c));
    }
    const [h, t, n] = [median(healthy), median(trivial), median(nodeBoot)];
    return [
      '### Container image',
      '',
      table([
        ['figure', 'ours', 'baseline', 'ratio'],
        ['image size (MB), ours vs the Node.js base', (ours / 1e6).toFixed(1), (base / 1e6).toFixed(1), `${figure('container image size', ours / 1e6, base / 1e6, 'MB')} (our layers add ${((ours - base) / 1e6).toFixed(1)} MB)`],
        [`docker run → /healthz 200 vs docker run --rm ${BASE} true (median of ${STARTS})`, `${h.toFixed(0)} ms`, `${t.toFixed(0)} ms`, figure('container start to healthy', h, t, 'ms')],
        [`docker run → /healthz 200 vs docker run --rm ${BASE} node -e 0 (median of ${STARTS})`, `${h.toFixed(0)} ms`, `${n.toFixed(0)} ms`, figure('container start to healthy vs node boot', h, n, 'ms')],
      ]),
    ].join('\n');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await engine.release();
  }
}
