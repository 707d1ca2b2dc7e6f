// The server's logger (pino, JSON lines on stderr). Workers create their own
// with the shard as a bound field.

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination(2));
}
