/**
 * Runs a command with secrets in its environment, without a shell, its stdout and stderr masked
 * (mask.ts). Two shapes share it: the `run` command streams to the terminal and forwards signals;
 * the run_with_secrets tool collects capped output.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
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
  /** Mask stderr with stdout as one stream, into stdout (see runMasked). */
  merge?: boolean;
  /** Run in its own process group, killed as a whole on timeout and after the exit (the tool). */
  group?: boolean;
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

/** After the command exits, how long its output may still take to arrive (a descendant may hold the pipe). */
const DRAIN_MS = 1000;

/** SIGKILL to the process group led by `pid`; nothing when it is already gone. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Starts the command; resolves when it has exited and its output is drained. Rejects if it cannot start (ENOENT, EACCES).
 * With `merge`, stderr is masked together with stdout, in arrival order, and goes where stdout goes:
 * a value split across the two streams is then one text to the masker (H12-4).
 * With `group` (the tool), the command leads its own process group: on timeout and after it exits,
 * the whole group is killed, so no descendant keeps the secrets, and the call returns at most
 * DRAIN_MS after the exit even if a descendant held the pipe.
 */
/**
 * One connected stream socket pair (Node has no pipe()): the child gets `writer` as both its
 * stdout and its stderr, so the kernel keeps the order of its writes across the two and we read
 * them as one stream from `reader`. The rendezvous socket lives a moment in a private 0700 dir.
 */
async function mergedOutput(): Promise<{ writer: Socket; reader: Socket }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ass-run-'));
  try {
    const server = createServer();
    const address = path.join(dir, 'out.sock');
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(address, resolve));
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const writer = connect(address);
    await new Promise<void>((resolve, reject) => writer.once('connect', resolve).once('error', reject));
    const reader = await accepted;
    server.close();
    return { writer, reader };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function runMasked(options: RunOptions): Promise<RunResult> {
  const merged = options.merge ? await mergedOutput() : null;
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = merged ? [options.stdin, merged.writer, merged.writer] : [options.stdin, 'pipe', 'pipe'];
    const group = options.group ?? false;
    let child;
    try {
      child = spawn(options.executable, options.args, { env: options.env, cwd: options.cwd, stdio, shell: false, windowsHide: true, detached: group });
    } finally {
      // The child holds its own copies; ours would keep the stream open after it exits.
      merged?.writer.destroy();
    }
    const outputs: Record<'stdout' | 'stderr', Readable | null> = merged ? { stdout: merged.reader, stderr: null } : { stdout: child.stdout, stderr: child.stderr };
    const cap = options.outputCap ?? Number.MAX_SAFE_INTEGER;
    const sinks = { stdout: new Sink(cap, options.stdout), stderr: new Sink(cap, options.merge ? options.stdout : options.stderr) };
    const shared = new Masker(options.values);
    const maskers = { stdout: shared, stderr: options.merge ? shared : new Masker(options.values) };
    const target = (name: 'stdout' | 'stderr'): 'stdout' | 'stderr' => (options.merge ? 'stdout' : name);
    for (const name of ['stdout', 'stderr'] as const) {
      const source = outputs[name];
      if (!source) continue;
      source.on('data', (chunk: Buffer) => {
        // Backpressure: a slow reader of our output slows the command instead of filling memory.
        const to = target(name);
        if (!sinks[to].write(maskers[name].push(chunk))) {
          source.pause();
          (to === 'stdout' ? options.stdout : options.stderr)!.once('drain', () => source.resume());
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
          if (group) killGroup(child.pid);
          else child.kill('SIGKILL');
        }, options.timeoutMs)
      : undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      if (drainTimer) clearTimeout(drainTimer);
      for (const off of forwarded) off();
    };
    let done = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
      if (done) return;
      done = true;
      cleanup();
      outputs.stdout?.destroy();
      outputs.stderr?.destroy();
      const ends = options.merge ? [maskers.stdout.end()] : [maskers.stdout.end(), maskers.stderr.end()];
      sinks.stdout.write(ends[0]!);
      if (ends[1]) sinks.stderr.write(ends[1]);
      resolve({ exitCode, signal, stdout: sinks.stdout.text(), stderr: options.merge ? '' : sinks.stderr.text(), truncated: sinks.stdout.truncated || sinks.stderr.truncated, timedOut });
    };
    child.once('error', (error) => {
      done = true;
      cleanup();
      merged?.reader.destroy();
      reject(error);
    });
    child.once('exit', (exitCode, signal) => {
      // Security: descendants left behind would keep the secrets in their environment.
      if (group) killGroup(child.pid);
      drainTimer = setTimeout(() => finish(exitCode, signal), DRAIN_MS);
      if (merged) {
        if (merged.reader.readableEnded) finish(exitCode, signal);
        else merged.reader.once('end', () => finish(exitCode, signal)).once('close', () => finish(exitCode, signal));
      } else child.once('close', () => finish(exitCode, signal));
    });
  });
}
