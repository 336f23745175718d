/**
 * Environment variables that change what an allowed command does rather than what it works on
 * (preloaded libraries, interpreter start-up code, pagers, PATH, git's config-by-environment…).
 * Never set from a secret or by an agent, whatever the config says: with them an agent that can
 * write any secret it can use would make an allowed command print another one (H12-2), or send it
 * to a server of the agent's choosing.
 */
const DENIED_NAMES = new Set([
  'PATH', 'ENV', 'BASH_ENV', 'SHELLOPTS', 'BASHOPTS', 'PS4', 'PROMPT_COMMAND', 'IFS', 'CDPATH', 'HOME',
  'PAGER', 'EDITOR', 'VISUAL', 'BROWSER', 'LESSOPEN', 'LESSCLOSE', 'LESSKEY',
  'RUBYOPT', 'RUBYLIB', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH',
  'PGSERVICEFILE', 'PGSYSCONFDIR', 'PSQLRC', 'PGPASSFILE', 'GCONV_PATH', 'HOSTALIASES', 'LOCPATH', 'NLSPATH',
  'TMPDIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'CURL_HOME', 'WGETRC', 'SSH_ASKPASS', 'SUDO_ASKPASS', 'OPENSSL_CONF',
  // Where a command connects and whom it trusts: under an agent's control these send the allowed
  // command, with its secret, to the agent's own server. Fixed in the rule's arguments instead.
  'PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGSERVICE', 'PGSSLMODE', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY', 'PGSSLCRL',
  'PGREQUIRESSL', 'PGGSSENCMODE', 'PGTARGETSESSIONATTRS', 'MYSQL_HOST', 'MYSQL_TCP_PORT', 'MYSQL_UNIX_PORT',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'AWS_CA_BUNDLE', 'SSLKEYLOGFILE',
  'DOCKER_HOST', 'DOCKER_CONFIG', 'KUBECONFIG',
]);
const DENIED_PREFIXES = ['LD_', 'DYLD_', 'NODE_', 'PYTHON', 'PERL5', 'PERL_', 'RUBY', 'GIT_', 'BASH_FUNC_', 'NPM_CONFIG_', 'AWS_ENDPOINT_URL'];
const DENIED_SUFFIXES = ['_PAGER', '_EDITOR', '_OPTIONS', '_ASKPASS', '_PROXY'];

/** True when `name` may never be set by an agent or from a secret (compared case-insensitively). */
export function isDeniedEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return DENIED_NAMES.has(upper) || DENIED_PREFIXES.some((p) => upper.startsWith(p)) || DENIED_SUFFIXES.some((s) => upper.endsWith(s));
}

/** Examples for messages and docs. */
export const DENIED_ENV_SUMMARY = 'LD_*, DYLD_*, NODE_*, PYTHON*, PERL5*, PERL_*, RUBY*, GIT_*, BASH_FUNC_*, NPM_CONFIG_*, *_PAGER, *_OPTIONS, *_PROXY, PATH, HOME, ENV, BASH_ENV, PAGER, EDITOR, PSQLRC, PGSERVICEFILE, PGHOST, PGHOSTADDR, SSL_CERT_FILE, …';

/** Regex flags of command argument patterns, shared by config validation and matching (a pattern that validates also runs). */
export const ARG_PATTERN_FLAGS = 'u';
