// The server side of XEP-0114 for tests: a small component listener of our
// own, written from the XEP, for the link's edges that real servers do not
// produce on demand (a refused secret, a dropped link, a server that stops
// answering).

import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Element } from '../../src/xml/element.js';
import { XmppStreamParser } from '../../src/xml/stream-parser.js';

export const COMPONENT_TEST_SECRET = 'protocol-test-secret';
export const MUC_DOMAIN = 'conference.localhost';
/** The XMPP server's own domain (Conclave's `domain` when its client listener is off). */
export const SERVER_DOMAIN = 'localhost';
const NOT_AUTHORIZED =
  "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>";

/**
 * What the server does with an XEP-0199 ping to its domain: answer it, answer
 * it with an error as a server without mod_ping does, or read it and stay silent.
 */
export type PingBehaviour = 'answer' | 'error' | 'silent';

/** The XMPP server's component listener: it accepts a handshake made with `secret`. */
export class ComponentListener {
  secret = COMPONENT_TEST_SECRET;
  /** How connections accepted from now on treat pings. */
  pings: PingBehaviour = 'answer';
  /**
   * When set, everything for the component's domain (ping answers, the stanzas
   * it addresses to itself) goes over this connection, as ejabberd routes what
   * is for our domain over one of several.
   */
  routesVia: ComponentConnection | undefined;
  /** Every connection that completed the handshake, in order. */
  readonly authenticatedConnections: ComponentConnection[] = [];
  private readonly authenticated: ((connection: ComponentConnection) => void)[] = [];
  private readonly refused: (() => void)[] = [];

  private constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => new ComponentConnection(socket, this));
  }

  static async listen(): Promise<ComponentListener> {
    const server = createServer();
    server.listen({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    return new ComponentListener(server);
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** Resolves with the next connection that completes the handshake. */
  nextAuthenticated(): Promise<ComponentConnection> {
    return new Promise((resolve) => this.authenticated.push(resolve));
  }

  /** Resolves at the next refused handshake. */
  nextRefusal(): Promise<void> {
    return new Promise((resolve) => this.refused.push(resolve));
  }

  handshake(connection: ComponentConnection, accepted: boolean): void {
    if (accepted) this.authenticatedConnections.push(connection);
    if (accepted) for (const resolve of this.authenticated.splice(0)) resolve(connection);
    else for (const resolve of this.refused.splice(0)) resolve();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** One component connection as the server sees it. */
export class ComponentConnection {
  readonly header: Promise<Element>;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  pings: PingBehaviour;
  /** XEP-0199 pings read so far (to the server's domain, or to the component's own, which is routed back). */
  pingsReceived = 0;
  lastPing: Element | undefined;
  private readonly received: Element[] = [];
  private waiters: { predicate: (stanza: Element) => boolean; resolve(stanza: Element): void }[] = [];
  private pingWaiters: { count: number; resolve(): void }[] = [];

  constructor(
    readonly socket: Socket,
    private readonly listener: ComponentListener,
  ) {
    this.pings = listener.pings;
    const id = randomUUID();
    let resolveHeader: (header: Element) => void;
    this.header = new Promise((resolve) => (resolveHeader = resolve));
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    const parser = new XmppStreamParser({
      streamStart: (header) => {
        resolveHeader(header);
        socket.write(
          `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='${id}' from='${MUC_DOMAIN}'>`,
        );
      },
      stanza: (stanza) => {
        // A stanza the component addresses to its own domain comes back to it, as
        // a real server routes it (the link's write-order barrier relies on that).
        if (stanza.getChild('ping', 'urn:xmpp:ping') !== undefined) this.countPing(stanza);
        if (stanza.attrs.to === MUC_DOMAIN && stanza.attrs.from === MUC_DOMAIN) return this.routeToComponent(stanza.toString());
        if (stanza.attrs.to === SERVER_DOMAIN && stanza.getChild('ping', 'urn:xmpp:ping') !== undefined) return this.answerPing(stanza);
        if (stanza.name !== 'handshake') return this.deliver(stanza);
        const accepted = stanza.text() === createHash('sha1').update(id + listener.secret).digest('hex');
        socket.write(accepted ? '<handshake/>' : NOT_AUTHORIZED);
        if (!accepted) socket.end();
        listener.handshake(this, accepted);
      },
      streamEnd: () => socket.end('</stream:stream>'),
      error: () => socket.destroy(),
    });
    socket.on('data', (chunk: Buffer) => parser.write(chunk));
    socket.on('error', () => {});
  }

  send(xml: string): void {
    this.socket.write(xml);
  }

  /** The first stanza from Conclave (received or still to come) that matches. */
  next(predicate: (stanza: Element) => boolean): Promise<Element> {
    const index = this.received.findIndex(predicate);
    if (index !== -1) return Promise.resolve(this.received.splice(index, 1)[0]);
    return new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }

  /** Every stanza received so far, taken. */
  takeAll(): Element[] {
    return this.received.splice(0);
  }

  /** Resolves once `count` pings in all have been read on this connection. */
  pinged(count: number): Promise<void> {
    if (this.pingsReceived >= count) return Promise.resolve();
    return new Promise((resolve) => this.pingWaiters.push({ count, resolve }));
  }

  private countPing(ping: Element): void {
    this.pingsReceived++;
    this.lastPing = ping;
    const reached = this.pingWaiters.filter((waiter) => waiter.count <= this.pingsReceived);
    this.pingWaiters = this.pingWaiters.filter((waiter) => waiter.count > this.pingsReceived);
    for (const waiter of reached) waiter.resolve();
  }

  private answerPing(ping: Element): void {
    const { id, from } = ping.attrs;
    const addresses = `id='${id}' from='${SERVER_DOMAIN}' to='${from}'`;
    if (this.pings === 'answer') this.routeToComponent(`<iq type='result' ${addresses}/>`);
    if (this.pings === 'error') {
      this.routeToComponent(
        `<iq type='error' ${addresses}><error type='cancel'>` +
          `<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
      );
    }
  }

  /** Sends what is for the component's domain back over this connection, or the one the listener routes it all over. */
  private routeToComponent(xml: string): void {
    (this.listener.routesVia ?? this).send(xml);
  }

  private deliver(stanza: Element): void {
    const index = this.waiters.findIndex((waiter) => waiter.predicate(stanza));
    if (index === -1) this.received.push(stanza);
    else this.waiters.splice(index, 1)[0].resolve(stanza);
  }
}
