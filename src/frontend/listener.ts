// The client-to-server TCP listener: accepts connections and gives each its
// ClientSession. STARTTLS is offered when a certificate and key are configured.
// WebSockets (websocket.ts) are accepted here too, under the same limits.

import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ConfigError, type Settings } from '../config/load.js';
import { ClientSession, type C2sContext, type Phase } from './c2s-session.js';
import { ConnectionsPerAddress } from './connection-limits.js';
import { LoginPacing } from './login-pacing.js';
import type { ClientTransport } from './transport.js';

export class ClientListener {
  private readonly connections = new Map<ClientTransport, ClientSession>();
  private readonly perAddress: ConnectionsPerAddress;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly context: C2sContext,
  ) {
    this.perAddress = new ConnectionsPerAddress(context.settings);
  }

  /** Listens for clients; failed logins are paced across this listener's connections. */
  static listen(shared: Omit<C2sContext, 'pacing'>): Promise<ClientListener> {
    const context: C2sContext = { ...shared, pacing: new LoginPacing(shared.settings) };
    const { host, port, backlog } = context.settings.client;
    const server = createServer({ noDelay: true });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog }, () => {
        server.off('error', reject);
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

  /** Stops accepting, tells every connected client the server is going down, and waits for the sockets to close. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.connections.values()) session.streamError('system-shutdown');
    await closed;
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
