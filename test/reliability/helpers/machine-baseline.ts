/**
 * The soaks' same-run baseline: a bare SDK server (the benchmark's own baselines, a constant
 * `get_secret` and nothing of ours) in its own process, called through the same kind of client
 * and transport, interleaved with the soak's calls. Its p99 in the first and the last tenth says
 * how much slower the MACHINE got between them (another process starting, a noisy neighbour);
 * a leak in our server cannot slow it, because it shares nothing with our server but the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { baseEnv, REPO_ROOT } from '../../helpers/cli.js';
import { connectHttpAgent, stopChild } from './http-server.js';

export interface MachineBaseline {
  /** A baseline call after every `every`-th soak call: enough samples per tenth for a p99, at a fraction of the soak's time. */
  every: number;
  /** One call of the bare server's constant `get_secret`. */
  call(): Promise<unknown>;
  close(): Promise<void>;
}

const ARGS = { namespace: 'soak/team0', key: 'KEY_0' };

/** bench/bare-stdio-server.mjs over a real pipe, as the stdio soak talks to ours. */
export async function bareStdioBaseline(every: number): Promise<MachineBaseline> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path.join(REPO_ROOT, 'bench', 'bare-stdio-server.mjs')],
    env: baseEnv(),
    cwd: REPO_ROOT,
    stderr: 'ignore',
  });
  const client = new Client({ name: 'soak-baseline', version: '1.0.0' });
  await client.connect(transport);
  return { every, call: () => client.callTool({ name: 'get_secret', arguments: ARGS }), close: () => client.close() };
}

/**
 * bench/remote-peers.ts `bare-sdk` (a bare SDK streamable HTTP server), with a connection per
 * request as the HTTP soak makes them. Resolves once it listens (bounded: 60 s).
 */
export async function bareHttpBaseline(every: number): Promise<MachineBaseline> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'remote-peers.ts'), 'bare-sdk'], {
    cwd: REPO_ROOT,
    env: baseEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.resume();
  const stop = (): Promise<void> => stopChild(child);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the bare SDK HTTP server did not start in 60 s')), 60_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString('utf8');
        const m = /port (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the bare SDK HTTP server exited with ${code}`));
      });
    });
    // The bare server ignores the key header; the helper sends one.
    const agent = await connectHttpAgent(`http://127.0.0.1:${port}`, 'unused', 'soak-baseline', { closeConnections: true });
    return {
      every,
      call: () => agent.client.callTool({ name: 'get_secret', arguments: ARGS }),
      async close() {
        await agent.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
