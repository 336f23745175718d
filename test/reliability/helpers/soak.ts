/**
 * The soak driver shared by the stdio and HTTP soaks: a fixed, deterministic mix of tool calls
 * (reads, listings, writes, tokens, error paths) run one after another on one client, each
 * call's latency recorded, and the figures the issue asks for computed from the same run:
 * p99 of the last 10% of calls against the first 10%, heap after GC and open descriptors
 * after warm-up against the end. Only ratios of the same run are compared, never milliseconds.
 * The latency drift is judged against the machine's own drift over the same calls: a bare SDK
 * server called between ours (helpers/machine-baseline.ts) shows how much slower the machine
 * itself got from the first tenth to the last.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { MachineBaseline } from './machine-baseline.js';
import { heapAfterGc, openFds, quantile } from './process-probe.js';

/** Secrets the mix reads and rewrites: a fixed set, so the store's size is bounded by max_versions. */
export const SOAK_KEYS = Array.from({ length: 8 }, (_, i) => ({ namespace: `soak/team${i % 4}`, key: `KEY_${i}` }));

export interface MixedCall {
  tool: string;
  args: Record<string, unknown>;
  /** true when the call must succeed, false when it must fail (an error path), per the mix. */
  expectOk: boolean;
}

/**
 * Call number `i` of the mix (deterministic). Per 100 calls: 80 get_secret, 5 set_secret
 * (a new version of one of SOAK_KEYS), 5 list_secrets, 2 list_namespaces, 2 request_token
 * within the grants, 2 get_approval_status of an unknown id, 2 get_secret of a missing key,
 * 2 delete_secret (answers requires_human_auth and never acts).
 */
export function mixedCall(i: number): MixedCall {
  const target = SOAK_KEYS[i % SOAK_KEYS.length]!;
  const slot = i % 100;
  if (slot < 5) return { tool: 'set_secret', args: { ...target, value: `soak-value-${i}` }, expectOk: true };
  if (slot < 10) return { tool: 'list_secrets', args: { namespace: target.namespace }, expectOk: true };
  if (slot < 12) return { tool: 'list_namespaces', args: {}, expectOk: true };
  // Short-lived, as a soak's thousands of tokens must be to stay under tokens.max_active_per_agent
  // in real use; expired tokens leave the state at the next write, so it does not grow with them.
  if (slot < 14) return { tool: 'request_token', args: { scopes: [`secrets:read:${target.namespace}/*`], ttl: '3s' }, expectOk: true };
  if (slot < 16) return { tool: 'get_approval_status', args: { approval_id: '00000000-0000-4000-8000-000000000000' }, expectOk: false };
  if (slot < 18) return { tool: 'get_secret', args: { namespace: target.namespace, key: 'NO_SUCH_KEY' }, expectOk: false };
  if (slot < 20) return { tool: 'delete_secret', args: target, expectOk: true };
  return { tool: 'get_secret', args: target, expectOk: true };
}

export interface SoakSample {
  tool: string;
  ms: number;
  /** The bare baseline's call made right after this one, when one was. */
  baselineMs?: number;
}

/**
 * Runs calls [from, to) of the mix on `client`, sequentially, and returns their latencies.
 * Throws on the first call whose outcome is not the one the mix expects (a soak that quietly
 * turned into a stream of errors would measure nothing).
 */
export async function runMix(client: Client, from: number, to: number, baseline?: MachineBaseline): Promise<SoakSample[]> {
  const samples: SoakSample[] = [];
  for (let i = from; i < to; i++) {
    const { tool, args, expectOk } = mixedCall(i);
    const started = performance.now();
    const result = await client.callTool({ name: tool, arguments: args });
    const ms = performance.now() - started;
    if (Boolean(result.isError) === expectOk) {
      const text = (result.content as { text?: string }[]).map((c) => c.text ?? '').join(' ');
      throw new Error(`soak call ${i} (${tool}) ${expectOk ? 'failed' : 'unexpectedly succeeded'}: ${text}`);
    }
    if (!baseline || i % baseline.every !== 0) {
      samples.push({ tool, ms });
      continue;
    }
    const baselineStarted = performance.now();
    await baseline.call();
    samples.push({ tool, ms, baselineMs: performance.now() - baselineStarted });
  }
  return samples;
}

/**
 * The whole soak in ten slices on `client` against the server process `pid`: after each slice,
 * the heap after a forced GC (the curve is printed, so a slow climb is visible) and, after the
 * first, the warm-up descriptor count. With a `baseline`, every `baseline.every`-th call is followed by one of its calls.
 */
export async function runSoak(client: Client, pid: number, probeOut: string, calls: number, baseline?: MachineBaseline): Promise<{ samples: SoakSample[]; heapCurve: number[]; fdsWarm: number }> {
  const tenth = Math.floor(calls / 10);
  const samples: SoakSample[] = [];
  const heapCurve: number[] = [];
  let fdsWarm = 0;
  for (let slice = 0; slice < 10; slice++) {
    samples.push(...(await runMix(client, slice * tenth, slice === 9 ? calls : (slice + 1) * tenth, baseline)));
    if (slice === 0) fdsWarm = openFds(pid);
    heapCurve.push((await heapAfterGc(pid, probeOut)).heapUsed);
  }
  return { samples, heapCurve, fdsWarm };
}

export interface SoakFigures {
  calls: number;
  p99First: number;
  p99Last: number;
  /** p99Last ÷ p99First: the raw drift, machine and server together. */
  p99Ratio: number;
  /** The bare baseline's p99 over the same tenths, last ÷ first: the machine's own drift. */
  machineP99Ratio: number;
  /** p99Ratio ÷ machineP99Ratio when the machine got slower (never below p99Ratio otherwise): the bound's figure. */
  serverP99Ratio: number;
  p50First: number;
  p50Last: number;
  heapWarm: number;
  heapEnd: number;
  heapRatio: number;
  /** Heap after GC after each tenth of the calls. */
  heapCurve: number[];
  fdsWarm: number;
  fdsEnd: number;
}

/**
 * p50/p99 of the first and last tenth of `samples`, their ratios, and the same p99 ratio of the
 * baseline's calls. The server's drift is the raw ratio divided by the machine's when the machine
 * got slower (a machine that got faster is not credited: the raw ratio stands). Without baseline
 * samples the machine's ratio is taken as 1.
 */
export function latencyFigures(samples: SoakSample[]): Pick<SoakFigures, 'calls' | 'p99First' | 'p99Last' | 'p99Ratio' | 'machineP99Ratio' | 'serverP99Ratio' | 'p50First' | 'p50Last'> {
  const tenth = Math.floor(samples.length / 10);
  const firstSamples = samples.slice(0, tenth);
  const lastSamples = samples.slice(samples.length - tenth);
  const first = firstSamples.map((s) => s.ms);
  const last = lastSamples.map((s) => s.ms);
  const p99First = quantile(first, 0.99);
  const p99Last = quantile(last, 0.99);
  const p99Ratio = p99Last / p99First;
  const baselineOf = (part: SoakSample[]): number[] => part.flatMap((s) => (s.baselineMs === undefined ? [] : [s.baselineMs]));
  const [baseFirst, baseLast] = [baselineOf(firstSamples), baselineOf(lastSamples)];
  const machineP99Ratio = baseFirst.length && baseLast.length ? quantile(baseLast, 0.99) / quantile(baseFirst, 0.99) : 1;
  return { calls: samples.length, p99First, p99Last, p99Ratio, machineP99Ratio, serverP99Ratio: p99Ratio / Math.max(1, machineP99Ratio), p50First: quantile(first, 0.5), p50Last: quantile(last, 0.5) };
}

/** p99 of each tool in the first and the last tenth: which call got slower, when one did. */
export function perToolP99(samples: SoakSample[]): string {
  const tenth = Math.floor(samples.length / 10);
  const first = samples.slice(0, tenth);
  const last = samples.slice(samples.length - tenth);
  const tools = [...new Set(samples.map((s) => s.tool))].sort();
  return tools
    .map((tool) => {
      const a = first.filter((s) => s.tool === tool).map((s) => s.ms);
      const b = last.filter((s) => s.tool === tool).map((s) => s.ms);
      return `${tool} ${quantile(a, 0.99).toFixed(2)}→${quantile(b, 0.99).toFixed(2)} ms`;
    })
    .join(', ');
}

/** One line per figure, for the suite's printed report. */
export function describeFigures(f: SoakFigures): string {
  const kb = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  return (
    `${f.calls} calls; p99 first 10% ${f.p99First.toFixed(3)} ms, last 10% ${f.p99Last.toFixed(3)} ms (ratio ${f.p99Ratio.toFixed(2)}; ` +
    `the bare baseline's ${f.machineP99Ratio.toFixed(2)} over the same calls; the server's own ${f.serverP99Ratio.toFixed(2)}, bound 1.30); ` +
    `p50 ${f.p50First.toFixed(3)} → ${f.p50Last.toFixed(3)} ms; heap after GC ${kb(f.heapWarm)} after warm-up → ${kb(f.heapEnd)} at the end ` +
    `(ratio ${f.heapRatio.toFixed(3)}, bound 1.10; by tenths: ${f.heapCurve.map((h) => (h / 1024).toFixed(0)).join(' ')} KiB); fds ${f.fdsWarm} → ${f.fdsEnd}`
  );
}

/** Warnings Node prints for leaked listeners (and any other process warning) in `stderr`. */
export function processWarnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /MaxListenersExceeded|\(node:\d+\) \w*Warning/.test(line));
}
