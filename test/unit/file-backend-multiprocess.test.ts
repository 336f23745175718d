/**
 * Eight processes hammer one store at once: 200 puts each on one shared key plus 200 on keys of
 * their own. Cross-process locking must lose nothing: the shared key ends at version 1600 and
 * all 1600 own keys exist.
 */
import { runTsWorker, type WorkerResult } from '../helpers/ts-worker.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretBackend } from '../../src/adapters/backend.js';
import { createFileBackend, createKeyFile } from '../../src/adapters/file/index.js';

const WORKERS = 8;
const PUTS = 200;

let root: string;
let storeDir: string;
let keyFile: string;
let backend: SecretBackend;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'ass-file-mp-'));
  storeDir = path.join(root, 'store');
  keyFile = path.join(root, 'store.key');
  await createKeyFile(keyFile);
  backend = await createFileBackend({ type: 'file', path: storeDir, key_file: keyFile });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function runWorker(id: number): Promise<WorkerResult> {
  return runTsWorker('test/helpers/file-put-worker.ts', [storeDir, keyFile, String(id), String(PUTS)]);
}

describe('file backend across processes', () => {
  it(
    `${WORKERS} processes x ${PUTS} puts on one key plus ${PUTS} on their own keys lose nothing`,
    async () => {
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: WORKERS }, (_, id) => runWorker(id)));
      const elapsed = performance.now() - started;
      for (const result of results) {
        expect(result.stderr, result.stderr).not.toMatch(/failed/);
        expect(result.code).toBe(0);
      }
      console.log(`[multiprocess] ${WORKERS} workers x ${2 * PUTS} puts took ${(elapsed / 1000).toFixed(1)} s; per worker: ${results.map((r) => r.stdout.trim()).join(' ')}`);

      const shared = await backend.get('mp', 'SHARED');
      expect(shared?.version).toBe(WORKERS * PUTS);
      expect(shared?.value).toMatch(/^w\d-\d+$/);

      const keys = new Set((await backend.list('mp')).map((s) => s.key));
      keys.delete('SHARED');
      expect(keys.size).toBe(WORKERS * PUTS);
      for (let id = 0; id < WORKERS; id += 1) {
        for (let i = 0; i < PUTS; i += 1) expect(keys.has(`W${id}_K${i}`)).toBe(true);
      }
      const sample = await backend.get('mp', `W3_K${PUTS - 1}`);
      expect(sample).toMatchObject({ version: 1, value: `own-3-${PUTS - 1}` });
    },
    240_000,
  );

  it('single-process put latency (printed)', async () => {
    const samples: number[] = [];
    for (let i = 0; i < 50; i += 1) {
      const t = performance.now();
      await backend.put({ namespace: 'latency', key: 'K', value: `v${i}`, secret_type: 'custom', access_tier: 'standard', metadata: {} });
      samples.push(performance.now() - t);
    }
    samples.sort((a, b) => a - b);
    const at = (q: number): string => (samples[Math.floor(q * (samples.length - 1))] ?? 0).toFixed(2);
    console.log(`[latency] put (max_versions 20): median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`);
    expect((await backend.get('latency', 'K'))?.version).toBe(50);
  });
});
