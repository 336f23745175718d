/**
 * The environment variables a server started by an MCP client needs besides ASS_AGENT_KEY: the
 * ones the backend block names (`passphrase_env`, Vault's `token_env` / `role_id_env` /
 * `secret_id_env`, the `ass` backend's `agent_key_env`). A stdio server is started by the client
 * with only the `env` of its `mcpServers` entry, so an entry without them cannot open the store.
 * Never `admin_key_env`: an admin credential has no place in an agent's process.
 */
const NOT_FOR_AGENTS = new Set(['admin_key_env']);

export function backendEnvNames(backend: unknown): string[] {
  const names: string[] = [];
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    for (const [field, value] of Object.entries(node as Record<string, unknown>)) {
      if (field.endsWith('_env') && typeof value === 'string' && !NOT_FOR_AGENTS.has(field)) names.push(value);
      else visit(value);
    }
  };
  visit(backend);
  return [...new Set(names)];
}

/** `{ VAR: '<value of VAR>' }` for each of them, to show beside ASS_AGENT_KEY in an `mcpServers` entry. */
export function backendEnvPlaceholders(backend: unknown): Record<string, string> {
  return Object.fromEntries(backendEnvNames(backend).map((name) => [name, `<value of ${name}>`]));
}
