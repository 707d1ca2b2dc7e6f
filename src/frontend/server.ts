// The whole server: storage, authentication, the MUC shard pool, the router
// and the client listener, started in that order and closed in reverse.

import type { Settings } from '../config/load.js';
import { createLogger, type Logger } from '../log.js';
import { ShardPool } from '../runtime/shard-pool.js';
import { openDatabase } from '../store/database.js';
import { assertAuthAllowed, createAuthBackend } from './auth.js';
import type { ClientSession } from './c2s-session.js';
import { ClientListener, loadTlsContext } from './listener.js';
import { StanzaRouter } from './router.js';
import { SessionTable } from './sessions.js';

export interface RunningServer {
  /** The bound client port (the real one when `client.port` is 0); 0 when clients are disabled. */
  port: number;
  settings: Settings;
  close(): Promise<void>;
}

export async function startServer(settings: Settings, log: Logger = createLogger(settings.log_level)): Promise<RunningServer> {
  // Refuse a dangerous or broken configuration before touching anything.
  assertAuthAllowed(settings);
  const tls = loadTlsContext(settings);

  const database = openDatabase(settings.data_dir);
  const auth = createAuthBackend(settings, database);
  const sessions = new SessionTable<ClientSession>();
  const router = new StanzaRouter(settings, sessions, log);
  let pool: ShardPool | undefined;
  let listener: ClientListener | undefined;
  try {
    pool = await ShardPool.start(settings, log, router.deliver);
    const muc = pool;
    router.attachMuc((stanza) => muc.dispatch(stanza));
    if (settings.client.enabled) {
      listener = await ClientListener.listen({ settings, auth, sessions, router, tls, log });
      log.info({ host: settings.client.host, port: listener.port, domain: settings.domain }, 'listening for clients');
    }
  } catch (err) {
    await pool?.close();
    await database.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    port: listener?.port ?? 0,
    settings,
    close() {
      closing ??= (async () => {
        await listener?.close();
        await pool?.close();
        await database.close();
        log.info('server stopped');
      })();
      return closing;
    },
  };
}
