// The client-to-server TCP listener: accepts connections and gives each its
// ClientSession. STARTTLS is offered when a certificate and key are configured.
// WebSockets (websocket.ts) are accepted here too, under the same limits.

import { readFileSync } from 'node:fs';
import { createServer, type ListenOptions, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ConfigError, type Settings } from '../config/load.js';
import { ClientSession, type C2sContext, type Phase } from './c2s-session.js';
import { ConnectionsPerAddress } from './connection-limits.js';
import { resumableSessions } from './stream-management.js';
import type { ClientTransport } from './transport.js';

/** Why a listen fails, in the words an operator needs. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use (another server, or another Conclave?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'no such address on this machine',
};

/** The config error for a listen that failed, naming the keys that chose the address. */
export function listenRefusal(err: NodeJS.ErrnoException, host: string, port: number, keys: string): ConfigError {
  return new ConfigError(`Cannot listen on ${host}:${port} (${keys}): ${LISTEN_ERRORS[err.code ?? ''] ?? err.message}`);
}

export class ClientListener {
  private readonly connections = new Map<ClientTransport, ClientSession>();
  private readonly perAddress: ConnectionsPerAddress;
  /** Settles once the listener is closed and every connection has ended. */
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly context: C2sContext,
  ) {
    this.perAddress = new ConnectionsPerAddress(context.settings);
  }

  /** Listens on `client.port`, or as `share` says when I/O threads listen side by side (io-thread.ts). */
  static listen(context: C2sContext, share?: { port: number; reusePort: true }): Promise<ClientListener> {
    const { host, port, backlog } = context.settings.client;
    const server = createServer({ noDelay: true });
    return new Promise((resolve, reject) => {
      const refused = (err: NodeJS.ErrnoException) => reject(listenRefusal(err, host, port, 'client.host, client.port'));
      server.once('error', refused);
      // `reusePort` is Node >= 22.12 (load.ts checks); @types/node 20 does not know it.
      server.listen({ host, port, backlog, ...share } as ListenOptions, () => {
        server.off('error', refused);
        const address = server.address();
        const listener = new ClientListener(server, typeof address === 'object' && address ? address.port : port, context);
        server.on('connection', (socket: Socket) => listener.accept(socket));
        server.on('error', (err) => context.log.error({ err }, 'client listener error'));
        resolve(listener);
      });
    });
  }

  /** Gives a connection its session, which refuses it when its address has too many. */
  accept(transport: ClientTransport): ClientSession {
    const address = transport.remoteAddress ?? '';
    const admitted = this.perAddress.admit(address);
    const session = new ClientSession(transport, this.context);
    if (!admitted) {
      session.streamError('policy-violation', 'Too many connections from your address');
      return session;
    }
    this.connections.set(transport, session);
    transport.on('close', () => {
      this.connections.delete(transport);
      this.perAddress.release(address);
    });
    return session;
  }

  /** Open connections by the state of their stream. */
  states(): Map<Phase, number> {
    const states = new Map<Phase, number>();
    for (const session of this.connections.values()) states.set(session.state, (states.get(session.state) ?? 0) + 1);
    return states;
  }

  /** Refuses new connections; those open carry on until `close`. */
  stopAccepting(): void {
    this.closed ??= new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Stops accepting, tells every connected client the server is going down, and waits for the sockets to close. */
  async close(): Promise<void> {
    this.stopAccepting();
    for (const session of this.connections.values()) session.streamError('system-shutdown');
    // Sessions waiting for their client to resume them have no connection, and end too.
    for (const session of resumableSessions<ClientSession>(this.context).values()) session.streamError('system-shutdown');
    await this.closed;
  }
}

/** The STARTTLS context, when `client.tls_cert` and `client.tls_key` are both set. */
export function loadTlsContext(settings: Settings): SecureContext | undefined {
  const files = loadTlsFiles(settings);
  return files && createSecureContext(files);
}

/** The certificate and key (PEM) that `client.tls_cert` and `client.tls_key` name, when both are set. */
export function loadTlsFiles(settings: Settings): { cert: Buffer; key: Buffer } | undefined {
  const { tls_cert: certFile, tls_key: keyFile } = settings.client;
  if (certFile === null && keyFile === null) return undefined;
  if (certFile === null || keyFile === null) {
    throw new ConfigError('client.tls_cert and client.tls_key must be set together (STARTTLS needs both)');
  }
  try {
    const files = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
    // Loaded once here so that a bad pair is refused at start-up, naming the files.
    createSecureContext(files);
    return files;
  } catch (err) {
    throw new ConfigError(`Cannot load the TLS certificate ${certFile} and key ${keyFile}: ${(err as Error).message}`);
  }
}
