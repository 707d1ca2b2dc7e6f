// The whole server: storage, authentication, the MUC shard pool, the router,
// the client listener and the component links, started in that order and
// closed in reverse. Either front end may be off; the shards deliver to both.

import { loadAccountModules } from '../account/index.js';
import { AccountServices } from '../account/services.js';
import { AnnouncedSessionTable } from '../cluster/sessions.js';
import { ClusterNode } from '../cluster/node.js';
import { changedKeys } from '../config/changes.js';
import { REUSE_PORT_SUPPORTED, type Settings } from '../config/load.js';
import { jidDomain } from '../jid/jid.js';
import { createLogger, type Logger } from '../log.js';
import { HttpListener } from '../ops/http.js';
import { LoadSampler } from '../ops/thread-load.js';
import { MucShards } from '../muc/shard-keeper.js';
import { startIdleCompaction } from '../runtime/idle-compaction.js';
import type { Delivery } from '../runtime/protocol.js';
import { ShardPool, type StanzaSender } from '../runtime/shard-pool.js';
import { openDatabase } from '../store/database.js';
import { openAccounts } from '../store/open.js';
import { watchAccountChanges } from './account-watch.js';
import { assertAuthAllowed, createAuthBackend, createGuestBackend } from './auth.js';
import type { C2sContext, ClientSession } from './c2s-session.js';
import type { LivenessTiming } from './component-link.js';
import { ComponentService } from './component.js';
import { IoThreads, RemoteSession } from './io-threads.js';
import { ClientListener, loadTlsContext } from './listener.js';
import { applyLiveSettings, LIVE_KEYS } from './live-settings.js';
import { LoginPacing } from './login-pacing.js';
import { StanzaRouter } from './router.js';
import { SessionTable } from './sessions.js';
import { WebSocketListener } from './websocket.js';
import type { Element } from '../xml/element.js';

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
  /** This node of the cluster when there is a `cluster:` section. */
  cluster: ClusterNode | undefined;
  /** The I/O thread serving a bound session (0 when the main thread serves clients); for tests and diagnostics. */
  ioThreadOf(fullJid: string): number | undefined;
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

  const database = openDatabase(settings.data_dir, settings.storage.durability, { exclusive: true });
  const accountStore = await openAccounts(settings, database, log).catch(async (err: unknown) => {
    await database.close();
    throw err;
  });
  const cluster = settings.cluster ? await ClusterNode.join(settings, log).catch(async (err: unknown) => {
    await accountStore.close();
    await database.close();
    throw err;
  }) : undefined;
  const auth = createAuthBackend(settings, accountStore.accounts);
  const sessions = cluster ? new AnnouncedSessionTable<ClientSession | RemoteSession>(cluster) : new SessionTable<ClientSession | RemoteSession>();
  const services = new AccountServices();
  // Only the server's own domain has accounts (not the guests', whatever the back end).
  const accountExists = (jid: string) => jidDomain(jid) === settings.domain && auth.accountExists(jid);
  const mucShards = new MucShards();
  loadAccountModules({ settings, database, sessions, log, services, accountExists, roomOccupants: (jid) => mucShards.realJids(jid) });
  const router = new StanzaRouter(settings, sessions, log, services);
  // One context for every connection, so that a reload's new certificate reaches the next STARTTLS.
  const c2s: C2sContext = { settings, auth, guests: createGuestBackend(settings), sessions: sessions as SessionTable<ClientSession>, router, tls, log, pacing: new LoginPacing(settings) };
  let pool: ShardPool | undefined;
  let listener: ClientListener | IoThreads | undefined;
  let websocket: WebSocketListener | undefined;
  let component: ComponentService | undefined;
  let http: HttpListener | undefined;
  let closing: Promise<void> | undefined;
  const deliver = (deliveries: Delivery[]): void => {
    if (settings.client.enabled) router.deliver(deliveries);
    component?.deliver(deliveries);
  };
  try {
    // The one seam of a cluster: room stanzas go to their owner node, deliveries to the recipients' nodes.
    pool = await ShardPool.start(settings, log, cluster?.deliver ?? deliver, mucShards);
    const muc = pool;
    const dispatch = (stanza: Element, sender?: StanzaSender) => muc.dispatch(stanza, sender);
    if (cluster) {
      cluster.attach({
        dispatch,
        deliver,
        fromCluster: (stanza) => router.fromCluster(stanza),
        serves: (jid) => sessions.get(jid) !== undefined || sessions.resourceCount(jid) > 0,
        rooms: () => muc.views().reduce((sum, shard) => sum + shard.roomSizes.length, 0),
        restartRooms: async () => void (await Promise.all(muc.views().map((shard) => muc.crashShard(shard.index)))),
      });
      router.attachPeers(cluster);
    }
    router.attachMuc(cluster?.dispatch ?? dispatch);
    if (settings.client.enabled) {
      if (settings.client.io_threads !== 'auto' && settings.client.io_threads > 1 && !REUSE_PORT_SUPPORTED) {
        log.warn({ node: process.versions.node }, 'client.io_threads needs Node >= 22.12; serving clients on the main thread');
      }
      listener =
        settings.ioThreadCount > 1
          ? await IoThreads.start(settings, sessions as SessionTable<RemoteSession>, router, pool, services, log)
          : await ClientListener.listen(c2s);
      log.info({ host: settings.client.host, port: listener.port, domain: settings.domain }, 'listening for clients');
      if (settings.websocket.enabled && listener instanceof ClientListener) {
        const clients = listener;
        websocket = await WebSocketListener.listen(settings, log, (transport) => clients.accept(transport));
        log.info({ host: settings.websocket.host, port: websocket.port, path: settings.websocket.path }, 'listening for WebSocket clients');
      }
    }
    // The links connect in the background and retry until closed: the server runs while its XMPP server is away.
    if (settings.component.enabled) component = new ComponentService(settings, log, (stanza) => muc.dispatch(stanza), options.componentLiveness);
    if (settings.http.enabled) {
      const parts = { settings, auth, shards: muc, clients: listener, component, cluster, mainLoad: new LoadSampler(), closing: () => closing !== undefined };
      http = await HttpListener.listen(parts, log);
      log.info({ host: settings.http.host, port: http.port }, 'listening for HTTP (/metrics, /health, /ready, /status)');
    }
  } catch (err) {
    await component?.close();
    await Promise.all([websocket?.close(), listener?.close()]);
    await pool?.close();
    await cluster?.close();
    await accountStore.close();
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
    cluster,
    ioThreadOf(fullJid) {
      const session = sessions.get(fullJid);
      return session instanceof RemoteSession ? session.thread.index : session && 0;
    },
    httpPort: http?.port ?? 0,
    noAccounts: settings.auth.backend === 'internal' && accountStore.accounts.isEmpty(),
    reload(next) {
      const changed = changedKeys(settings, next).filter((key) => key !== 'sources');
      applyLiveSettings(settings, next, c2s, log);
      if (listener instanceof IoThreads) listener.reload(next);
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
        // A cluster node first hands its rooms to their next owners; its sessions stay in them until their streams end.
        await cluster?.handOver(settings.cluster?.drain_timeout_ms ?? 0);
        await pool?.close();
        // Its sessions in rooms elsewhere hear that they were removed, as those of its own rooms just did (332).
        cluster?.leaveRooms();
        await component?.close();
        // The client listener closes the WebSockets' sessions too.
        await Promise.all([websocket?.close(), listener?.close()]);
        // After the streams: the rooms' 332s and the sessions' ends reach the other nodes first.
        await cluster?.close();
        // Last of the front: /ready says 503 while the others close.
        await http?.close();
        await accountStore.close();
        await database.close();
        log.info('server stopped');
      })();
      return closing;
    },
  };
}
