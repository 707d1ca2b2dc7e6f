// The client-to-server TCP listener: accepts connections and gives each its
// ClientSession. STARTTLS is offered when a certificate and key are configured.

import { readFileSync } from 'node:fs';
import { createServer, type ListenOptions, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ConfigError, type Settings } from '../config/load.js';
import { ClientSession, type C2sContext, type Phase } from './c2s-session.js';
import { ConnectionsPerAddress } from './connection-limits.js';

/** Why a listen fails, in the words an operator needs. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use (another server, or another Conclave?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'no such address on this machine',
};

export class ClientListener {
  private readonly connections = new Map<Socket, ClientSession>();
  private readonly perAddress: ConnectionsPerAddress;
  /** Settles once the listener is closed and every connection has ended. */
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    settings: Settings,
  ) {
    this.perAddress = new ConnectionsPerAddress(settings);
  }

  /** Listens on `client.port`, or as `share` says when I/O threads listen side by side (io-thread.ts). */
  static listen(context: C2sContext, share?: { port: number; reusePort: true }): Promise<ClientListener> {
    const { host, port, backlog } = context.settings.client;
    const server = createServer({ noDelay: true });
    return new Promise((resolve, reject) => {
      const refused = (err: NodeJS.ErrnoException) =>
        reject(new ConfigError(`Cannot listen on ${host}:${port} (client.host, client.port): ${LISTEN_ERRORS[err.code ?? ''] ?? err.message}`));
      server.once('error', refused);
      // `reusePort` is Node >= 22.12 (load.ts checks); @types/node 20 does not know it.
      server.listen({ host, port, backlog, ...share } as ListenOptions, () => {
        server.off('error', refused);
        const address = server.address();
        const listener = new ClientListener(server, typeof address === 'object' && address ? address.port : port, context.settings);
        server.on('connection', (socket) => listener.accept(socket, context));
        server.on('error', (err) => context.log.error({ err }, 'client listener error'));
        resolve(listener);
      });
    });
  }

  private accept(socket: Socket, context: C2sContext): void {
    const address = socket.remoteAddress ?? '';
    const admitted = this.perAddress.admit(address);
    const session = new ClientSession(socket, context);
    if (!admitted) {
      session.streamError('policy-violation', 'Too many connections from your address');
      return;
    }
    this.connections.set(socket, session);
    socket.on('close', () => {
      this.connections.delete(socket);
      this.perAddress.release(address);
    });
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
    await this.closed;
  }
}

/** The STARTTLS context, when `client.tls_cert` and `client.tls_key` are both set. */
export function loadTlsContext(settings: Settings): SecureContext | undefined {
  const { tls_cert: certFile, tls_key: keyFile } = settings.client;
  if (certFile === null && keyFile === null) return undefined;
  if (certFile === null || keyFile === null) {
    throw new ConfigError('client.tls_cert and client.tls_key must be set together (STARTTLS needs both)');
  }
  try {
    return createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  } catch (err) {
    throw new ConfigError(`Cannot load the TLS certificate ${certFile} and key ${keyFile}: ${(err as Error).message}`);
  }
}
