/**
 * Runs a command with secrets in its environment, without a shell, its stdout and stderr masked
 * (mask.ts). Two shapes share it: the `run` command streams to the terminal and forwards signals;
 * the run_with_secrets tool collects capped output.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import type { Writable } from 'node:stream';
import { Masker } from './mask.js';

export interface RunOptions {
  executable: string;
  args: string[];
  /** The child's whole environment. */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Values to mask in what the child prints. */
  values: string[];
  /** `inherit`: the child reads our stdin (the run command); `ignore`: none (the tool). */
  stdin: 'inherit' | 'ignore';
  /** Masked output goes here as it comes, or is collected (capped) when absent. */
  stdout?: Writable;
  stderr?: Writable;
  /** Bytes kept of each collected stream. */
  outputCap?: number;
  /** Kill (SIGKILL) after this long. */
  timeoutMs?: number;
  /** Forward these signals received by this process to the child. */
  forwardSignals?: NodeJS.Signals[];
}

export interface RunResult {
  /** The exit code, or null when a signal ended the child. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
}

class Sink {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number, private readonly out?: Writable) {}
  /** False when the destination asks to wait for 'drain'. */
  write(data: Buffer): boolean {
    if (data.length === 0) return true;
    if (this.out) return this.out.write(data);
    const room = this.cap - this.size;
    if (data.length > room) this.truncated = true;
    if (room > 0) {
      const kept = data.subarray(0, room);
      this.chunks.push(kept);
      this.size += kept.length;
    }
    return true;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Starts the command; resolves when it has exited and its output is drained. Rejects if it cannot start (ENOENT, EACCES). */
export function runMasked(options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = [options.stdin, 'pipe', 'pipe'];
    const child = spawn(options.executable, options.args, { env: options.env, cwd: options.cwd, stdio, shell: false, windowsHide: true });
    const cap = options.outputCap ?? Number.MAX_SAFE_INTEGER;
    const sinks = { stdout: new Sink(cap, options.stdout), stderr: new Sink(cap, options.stderr) };
    const maskers = { stdout: new Masker(options.values), stderr: new Masker(options.values) };
    for (const name of ['stdout', 'stderr'] as const) {
      const source = child[name]!;
      source.on('data', (chunk: Buffer) => {
        // Backpressure: a slow reader of our output slows the command instead of filling memory.
        if (!sinks[name].write(maskers[name].push(chunk))) {
          source.pause();
          options[name]!.once('drain', () => source.resume());
        }
      });
    }
    const forwarded = (options.forwardSignals ?? []).map((signal) => {
      const handler = (): void => {
        child.kill(signal);
      };
      process.on(signal, handler);
      return () => process.off(signal, handler);
    });
    let timedOut = false;
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : undefined;
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      for (const off of forwarded) off();
    };
    child.once('error', (error) => {
      cleanup();
      reject(error);
    });
    child.once('close', (exitCode, signal) => {
      cleanup();
      for (const name of ['stdout', 'stderr'] as const) sinks[name].write(maskers[name].end());
      resolve({ exitCode, signal, stdout: sinks.stdout.text(), stderr: sinks.stderr.text(), truncated: sinks.stdout.truncated || sinks.stderr.truncated, timedOut });
    });
  });
}
