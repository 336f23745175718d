import { readFileSync } from 'node:fs';

/** Percentile of sorted samples (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
}

/** Times `fn` n times after `warmup` untimed runs; milliseconds. */
export async function measure(n: number, warmup: number, fn: (i: number) => Promise<unknown>): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return { n, p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

export const ms = (v: number): string => `${v.toFixed(3)} ms`;
export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;

export function table(rows: string[][]): string {
  const [head, ...body] = rows;
  return [`| ${head!.join(' | ')} |`, `| ${head!.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** One figure beside its same-run baseline, for `npm run bench -- --json`. */
export interface Figure {
  name: string;
  /** Our figure and the baseline's, in `unit`. */
  ours: number;
  baseline: number;
  unit: string;
  /** ours ÷ baseline. */
  ratio: number;
  /** The target for the ratio (`<= 1.2`, `>= 0.9`), or null when none is set. */
  target: string | null;
  met: boolean | null;
}

const figures: Figure[] = [];

/**
 * Records a figure for the JSON output and returns its ratio as the markdown tables print it.
 * `target` bounds the ratio: `{ max: 1.2 }` means ours ≤ 1.2 × baseline, `{ min: 0.9 }` ours ≥ 0.9 ×.
 */
export function figure(name: string, ours: number, baseline: number, unit: string, target?: { max: number } | { min: number }): string {
  const r = ours / baseline;
  const bound = target === undefined ? null : 'max' in target ? `<= ${target.max}` : `>= ${target.min}`;
  const met = target === undefined ? null : 'max' in target ? r <= target.max : r >= target.min;
  figures.push({ name, ours: round(ours), baseline: round(baseline), unit, ratio: round(r), target: bound, met });
  return ratio(ours, baseline);
}

const round = (v: number): number => Math.round(v * 10_000) / 10_000;

/** Every figure recorded so far in this run. */
export const recordedFigures = (): readonly Figure[] => figures;

/** Peak resident set of a live process in MiB (Linux `VmHWM`), or NaN where /proc is not there. */
export function peakRssMiB(pid: number | null | undefined): number {
  if (!pid) return NaN;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
