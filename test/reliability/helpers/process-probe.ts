/**
 * What the reliability suites measure about a server process from the outside: its open file
 * descriptors (`/proc/<pid>/fd`), its heap after a forced GC (through the test-only
 * `gc-probe.cjs` preload), percentiles, and the figures line every suite prints.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import path from 'node:path';

export const GC_PROBE = path.join(import.meta.dirname, 'gc-probe.cjs');

/** Node flags that make a spawned server answer SIGUSR2 with its heap after GC. */
export const GC_PROBE_NODE_ARGS = ['--expose-gc', '--require', GC_PROBE];

/** Number of open file descriptors of `pid` (Linux). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The targets of `pid`'s open descriptors, for a failure message that says what leaked. */
export function fdTargets(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return `${fd} → ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`;
    } catch {
      return fd;
    }
  });
}

export interface MemoryUsage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/**
 * Signals `pid` (started with GC_PROBE_NODE_ARGS and ASS_TEST_GC_PROBE_OUT=`outFile`) and
 * waits, bounded, for the memory report it writes after collecting garbage.
 */
export async function heapAfterGc(pid: number, outFile: string, timeoutMs = 20_000): Promise<MemoryUsage> {
  rmSync(outFile, { force: true });
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(outFile)) {
    if (Date.now() > deadline) throw new Error(`no GC report from pid ${pid} within ${timeoutMs} ms (is gc-probe.cjs preloaded?)`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return JSON.parse(readFileSync(outFile, 'utf8')) as MemoryUsage;
}

/** The q-quantile (0..1) of `samples` by nearest rank. */
export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) throw new Error('quantile of no samples');
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Prints one reliability figure so `npm test` output carries it (stderr is not captured by vitest's JSON). */
export function figure(suite: string, text: string): void {
  process.stdout.write(`[reliability:${suite}] ${text}\n`);
}
