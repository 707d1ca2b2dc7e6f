// What a reload (SIGHUP) changes in a running front end, the same on the main
// thread and on each I/O thread, each of which holds its own copy of the
// settings and its own connection context.

import type { Settings } from '../config/load.js';
import type { Logger } from '../log.js';
import type { C2sContext } from './c2s-session.js';
import { loadTlsContext } from './listener.js';

/** The keys a reload applies; `limits.` covers every key under it. */
export const LIVE_KEYS = ['log_level', 'limits.', 'client.tls_cert', 'client.tls_key'];

/**
 * Applies the live keys of `next` to `settings` and `c2s`: the log level, the
 * client limits (for streams opened from now on) and the TLS certificate (for
 * STARTTLS from now on). Throws, before anything changes, if the certificate
 * does not load.
 */
export function applyLiveSettings(settings: Settings, next: Settings, c2s: Pick<C2sContext, 'tls'>, log: Logger): void {
  c2s.tls = loadTlsContext(next);
  Object.assign(settings.limits, next.limits);
  settings.client.tls_cert = next.client.tls_cert;
  settings.client.tls_key = next.client.tls_key;
  log.level = next.log_level;
  settings.log_level = next.log_level;
}
