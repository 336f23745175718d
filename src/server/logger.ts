import { pino, type Logger } from 'pino';

/**
 * Every log line goes to stderr: in stdio mode stdout belongs to the protocol.
 * Security: callers log ids, codes and names only — never a value, key or token.
 */
export function createLogger(level: string = process.env.ASS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'agent-secret-store' } }, pino.destination({ dest: 2, sync: true }));
}
