/**
 * The config `init` writes: the embedded file backend, one admin, one agent granted
 * `secrets:*:**`, standard and sensitive served at once, critical behind a human approval.
 */
export function initialConfig(input: { agentHash: string; adminHash: string; keySource: { keyFile: string } | { passphraseEnv: string } }): string {
  const key = 'keyFile' in input.keySource ? `  key_file: ${input.keySource.keyFile}` : `  passphrase_env: ${input.keySource.passphraseEnv}`;
  return `# agent-secret-store configuration, written by \`agent-secret-store init\`.
# Every option is documented in config.example.yaml (shipped with the package).
# Relative paths resolve against this file's folder. \${ENV} is interpolated.
version: 1

# Approvals, issued tokens and the token signing key live here.
data_dir: .

# The embedded default: AES-256-GCM encrypted files.
backend:
  type: file
  path: ./secrets
${key}

policy:
  default_tier: standard
  tiers:
    standard: auto      # served to an agent whose grants cover it
    sensitive: auto
    critical: approval  # a human approves each access (agent-secret-store approvals approve <id>)

approvals:
  pending_ttl: 15m      # an unanswered request expires after this
  grant_ttl: 1h         # an approved get_secret grant lasts this long

tokens:
  max_ttl: 24h
  default_ttl: 1h

audit:
  path: audit.log

# Humans: their keys approve, deny, delete and rotate. Only hashes are stored.
admins:
  - id: admin
    key_sha256: "${input.adminHash}"

# Agents: each key selects one agent (ASS_AGENT_KEY on stdio). Only hashes are stored.
agents:
  - id: default
    key_sha256: "${input.agentHash}"
    grants:
      - "secrets:*:**"
    limits:
      max_token_ttl: 24h
`;
}
