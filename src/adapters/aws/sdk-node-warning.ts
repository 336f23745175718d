/**
 * The AWS SDK for JavaScript v3 prints a `NodeVersionSupportWarning` (a multi-line Node warning
 * with a `--trace-warnings` hint) in every process that builds a client on Node < 22: SDK versions
 * published after January 2027 will require Node 22. This package pins its SDK version exactly and
 * supports Node 20 with it, so the notice is not actionable for someone running a stdio server or a
 * CLI command, and it lands in every MCP session's log and after every command's output.
 *
 * The SDK's documented switch (aws/aws-sdk-js-v3#7983) is the environment variable below, read
 * when a client is built. It is set only around our own client's construction and removed again,
 * so commands started by `run` never inherit it; the SDK remembers within the process that the
 * check is done. A value the user set (e.g. `false`, to see the notice) is left as it is. No other
 * warning is touched: there is no `process.on('warning')` handler and no `--no-warnings`.
 */
export const SDK_NODE_WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/** Runs `build` (which constructs an SDK client) with the SDK's Node-version notice switched off, unless the user chose. */
export function withoutSdkNodeWarning<T>(build: () => T, env: NodeJS.ProcessEnv = process.env): T {
  if (env[SDK_NODE_WARNING_SWITCH] !== undefined) return build();
  env[SDK_NODE_WARNING_SWITCH] = 'true';
  try {
    return build();
  } finally {
    delete env[SDK_NODE_WARNING_SWITCH];
  }
}
