/**
 * The Python MCP SDK peer. Missing → the suite fails loudly naming the install script,
 * unless ASS_ALLOW_MISSING_PEERS=1 (then it is skipped with the same reason printed).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { peersCacheDir } from './peer-common.js';

export const PYTHON_MCP_INSTALL = 'scripts/peers/install-python-mcp.sh';

export function pythonMcp(): { python: string } | { missing: string } {
  const python = path.join(peersCacheDir(), 'python-mcp-venv/bin/python');
  if (existsSync(python)) return { python };
  return { missing: `Python MCP SDK not found at ${python}. Run \`bash ${PYTHON_MCP_INSTALL}\` (the README's test command does).` };
}

export const allowMissingPeers = (): boolean => process.env.ASS_ALLOW_MISSING_PEERS === '1';
