// The whole server: storage, authentication, the MUC shard pool, the router,
// the client listener and the component links, started in that order and
// closed in reverse. Either front end may be off; the shards deliver to both.

import { loadAccountModules } from '../account/index.js';
import { AccountServices } from '../account/services.js';
import { changedKeys } from '../config/changes.js';
import type { Settings } from '../config/load.js';
import { jidDomain } from '../jid/jid.js';
import { createLogger, type Logger } from '../log.js';
import { HttpListener } from '../ops/http.js';
import { LoadSampler } from '../ops/thread-load.js';
import { startIdleCompaction } from '../runtime/idle-compaction.js';
import type { Delivery } from '../runtime/protocol.js';
import { ShardPool } from '../runtime/shard-pool.js';
import { AccountStore } from '../store/accounts.js';
import { openDatabase } from '../store/database.js';
import { watchAccountChanges } from './account-watch.js';
import { assertAuthAllowed, createAuthBackend, createGuestBackend } from './auth.js';
import type { C2sContext, ClientSession } from './c2s-session.js';
import type { LivenessTiming } from './component-link.js';
import { ComponentService } from './component.js';
import { ClientListener, loadTlsContext } from './listener.js';
import { LoginPacing } from './login-pacing.js';
import { StanzaRouter } from './router.js';
import { SessionTable } from './sessions.js';
import { WebSocketListener } from './websocket.js';

export interface RunningServer {
  /** The bound client port (the real one when `client.port` is 0); 0 when clients are disabled. */
  port: number;
  /** The bound WebSocket port; 0 when `websocket.enabled` is false. */
  websocketPort: number;
  settings: Settings;
  /** The links to the XMPP server when `component.enabled` (their `ready()` resolves once authenticated). */
  component: ComponentService | undefined;
  /** The MUC shard workers, for tests and diagnostics to inspect, stall or crash a shard of the live server. */
  shards: ShardPool;
  /** The bound HTTP port (/metrics, /health, /ready, /status); 0 when `http.enabled` is false. */
  httpPort: number;
  /** True when the internal back end has no account yet: nobody can log in. */
  noAccounts: boolean;
  /**
   * Applies what can change live from newly loaded settings: the log level,
   * the client limits (for streams opened from now on) and the TLS
   * certificate (for STARTTLS from now on). Returns the changed keys it could
   * not apply, which need a restart.
   */
  reload(next: Settings): string[];
  close(): Promise<void>;
}

/** The keys `reload` applies; `limits.` covers every key under it. */
const LIVE_KEYS = ['log_level', 'limits.', 'client.tls_cert', 'client.tls_key'];

export interface ServerOptions {
  /** How the component links watch the server (tests shorten it). */
  componentLiveness?: LivenessTiming;
}

export async function startServer(
  settings: Settings,
  log: Logger = createLogger(settings.log_level),
  options: ServerOptions = {},
): Promise<RunningServer> {
  // Refuse a dangerous or broken configuration before touching anything.
  assertAuthAllowed(settings);
  const tls = loadTlsContext(settings);

  const database = openDatabase(settings.data_dir, settings.storage.durability);
  const auth = createAuthBackend(settings, database);
  const sessions = new SessionTable<ClientSession>();
  const services = new AccountServices();
  // Only the server's own domain has accounts (not the guests', whatever the back end).
  const accountExists = (jid: string) => jidDomain(jid) === settings.domain && auth.accountExists(jid);
  loadAccountModules({ settings, database, sessions, log, services, accountExists });
  const router = new StanzaRouter(settings, sessions, log, services);
  // One context for every connection, so that a reload's new certificate reaches the next STARTTLS.
  const guests = settings.auth.guest_domain === null ? undefined : createGuestBackend(settings.auth.guest_domain);
  const c2s: C2sContext = { settings, auth, guests, sessions, router, tls, log, pacing: new LoginPacing(settings) };
  let pool: ShardPool | undefined;
  let listener: ClientListener | undefined;
  let websocket: WebSocketListener | undefined;
  let component: ComponentService | undefined;
  let http: HttpListener | undefined;
  let closing: Promise<void> | undefined;
  const deliver = (deliveries: Delivery[]): void => {
    if (settings.client.enabled) router.deliver(deliveries);
    component?.deliver(deliveries);
  };
  try {
    pool = await ShardPool.start(settings, log, deliver);
    const muc = pool;
    router.attachMuc((stanza, sender) => muc.dispatch(stanza, sender));
    if (settings.client.enabled) {
      listener = await ClientListener.listen(c2s);
      log.info({ host: settings.client.host, port: listener.port, domain: settings.domain }, 'listening for clients');
      if (settings.websocket.enabled) {
        const clients = listener;
        websocket = await WebSocketListener.listen(settings, log, (transport) => clients.accept(transport));
        log.info({ host: settings.websocket.host, port: websocket.port, path: settings.websocket.path }, 'listening for WebSocket clients');
      }
    }
    // The links connect in the background and retry until closed: the server runs while its XMPP server is away.
    if (settings.component.enabled) component = new ComponentService(settings, log, (stanza) => muc.dispatch(stanza), options.componentLiveness);
    if (settings.http.enabled) {
      const parts = { settings, auth, shards: muc, clients: listener, component, mainLoad: new LoadSampler(), closing: () => closing !== undefined };
      http = await HttpListener.listen(parts, log);
      log.info({ host: settings.http.host, port: http.port }, 'listening for HTTP (/metrics, /health, /ready, /status)');
    }
  } catch (err) {
    await component?.close();
    await Promise.all([websocket?.close(), listener?.close()]);
    await pool?.close();
    await database.close();
    throw err;
  }

  const stopCompaction = startIdleCompaction();
  const stopAccountWatch = settings.client.enabled ? watchAccountChanges(auth, sessions, log, (user) => pool?.forgetUser(user)) : undefined;
  return {
    port: listener?.port ?? 0,
    websocketPort: websocket?.port ?? 0,
    settings,
    component,
    shards: pool,
    httpPort: http?.port ?? 0,
    noAccounts: settings.auth.backend === 'internal' && new AccountStore(database).isEmpty(),
    reload(next) {
      const changed = changedKeys(settings, next).filter((key) => key !== 'sources');
      // Loaded first: a certificate that does not load throws before anything changes.
      const nextTls = loadTlsContext(next);
      c2s.tls = nextTls;
      Object.assign(settings.limits, next.limits);
      settings.client.tls_cert = next.client.tls_cert;
      settings.client.tls_key = next.client.tls_key;
      log.level = next.log_level;
      settings.log_level = next.log_level;
      return changed.filter((key) => !LIVE_KEYS.some((live) => key === live || (live.endsWith('.') && key.startsWith(live))));
    },
    close() {
      closing ??= (async () => {
        stopCompaction();
        stopAccountWatch?.();
        // The rooms finish or bounce what is in flight and tell their occupants (332)
        // while the streams are still open to carry it; then the streams end.
        listener?.stopAccepting();
        websocket?.stopAccepting();
        await pool?.close();
        await component?.close();
        // The client listener closes the WebSockets' sessions too.
        await Promise.all([websocket?.close(), listener?.close()]);
        // Last of the front: /ready says 503 while the others close.
        await http?.close();
        await database.close();
        log.info('server stopped');
      })();
      return closing;
    },
  };
}
