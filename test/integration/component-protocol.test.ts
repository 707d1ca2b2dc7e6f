// The component link's protocol edges that real servers do not produce on
// demand: a refused secret, a dropped link with stanzas waiting, stanzas with
// bad addresses, a server claiming the local domain. The server side of
// XEP-0114 here is a small one of our own, written from the XEP.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Element } from '../../src/xml/element.js';
import { XmppStreamParser } from '../../src/xml/stream-parser.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SECRET = 'protocol-test-secret';
const MUC_DOMAIN = 'conference.localhost';
const ROOM = `hall@${MUC_DOMAIN}`;
const REMOTE = 'juliet@remote.example/balcony';
const NOT_AUTHORIZED =
  "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>";

/** The XMPP server's component listener: it accepts a handshake made with `secret`. */
class ComponentListener {
  secret = SECRET;
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
    if (accepted) for (const resolve of this.authenticated.splice(0)) resolve(connection);
    else for (const resolve of this.refused.splice(0)) resolve();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** One component connection as the server sees it. */
class ComponentConnection {
  readonly header: Promise<Element>;
  private readonly received: Element[] = [];
  private waiters: { predicate: (stanza: Element) => boolean; resolve(stanza: Element): void }[] = [];

  constructor(
    readonly socket: Socket,
    listener: ComponentListener,
  ) {
    const id = randomUUID();
    let resolveHeader: (header: Element) => void;
    this.header = new Promise((resolve) => (resolveHeader = resolve));
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
        if (stanza.attrs.to === MUC_DOMAIN && stanza.attrs.from === MUC_DOMAIN) return socket.write(stanza.toString());
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

  private deliver(stanza: Element): void {
    const index = this.waiters.findIndex((waiter) => waiter.predicate(stanza));
    if (index === -1) this.received.push(stanza);
    else this.waiters.splice(index, 1)[0].resolve(stanza);
  }
}

describe('component link protocol', { timeout: 60_000 }, () => {
  let listener: ComponentListener;
  let server: TestServer;
  let link: ComponentConnection;

  before(async () => {
    listener = await ComponentListener.listen();
    // Both front ends: local users at localhost, remote ones over the link.
    server = await startTestServer({ component: { enabled: true, port: listener.port, secret: SECRET } });
    link = await listener.nextAuthenticated();
    await server.component!.ready();
  });

  after(async () => {
    await server?.close();
    await listener?.close();
  });

  it('opens the stream to the component domain in jabber:component:accept', async () => {
    const header = await link.header;
    assert.equal(header.attrs.xmlns, 'jabber:component:accept');
    assert.equal(header.attrs.to, MUC_DOMAIN);
  });

  it('answers stanzas with bad addresses with errors from the address they were sent to, or the component domain', async () => {
    const cases: [xml: string, condition: string, from: string][] = [
      [`<message id='m1' from='${REMOTE}'><body>no to</body></message>`, 'bad-request', MUC_DOMAIN],
      [`<message id='m2' from='a@b@c' to='${ROOM}'><body>bad from</body></message>`, 'jid-malformed', ROOM],
      [`<message id='m3' from='${REMOTE}' to='room@elsewhere.example'><body>not ours</body></message>`, 'item-not-found', MUC_DOMAIN],
      [`<message id='m4' from='${REMOTE}' to='a@b@${MUC_DOMAIN}'><body>bad to</body></message>`, 'jid-malformed', MUC_DOMAIN],
      [`<iq type='get' from='${REMOTE}' to='${MUC_DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, 'bad-request', MUC_DOMAIN],
      [`<message id='m5' from='romeo@localhost/x' to='${ROOM}'><body>a local user</body></message>`, 'not-allowed', ROOM],
    ];
    for (const [xml, condition, from] of cases) {
      link.send(xml);
      const error = await link.next((stanza) => stanza.attrs.type === 'error');
      assert.equal(error.attrs.from, from, error.toString());
      assert.ok(error.getChild('error')?.getChild(condition), `${xml} → ${error.toString()}`);
    }
    // A stanza without `from` has nobody to answer; the link carries on.
    link.send(`<message to='${ROOM}'><body>from nobody</body></message>`);
    link.send(`<iq type='get' id='disco' from='${REMOTE}' to='${MUC_DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const disco = await link.next((stanza) => stanza.attrs.id === 'disco');
    assert.equal(disco.attrs.type, 'result');
    assert.equal(disco.attrs.to, REMOTE);
    assert.deepEqual(link.takeAll(), []);
  });

  it('shares a room between local and remote users; retries a refused secret; queues while the link is down', async () => {
    const romeo = await MucTestClient.login(server.port, 'romeo');
    await romeo.createRoom(ROOM, 'Romeo');
    link.send(`<presence from='${REMOTE}' to='${ROOM}/Juliet'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await link.next((stanza) => stanza.name === 'message' && stanza.getChild('subject') !== undefined);
    await romeo.presenceFrom(`${ROOM}/Juliet`);
    romeo.say(ROOM, 'before');
    assert.equal((await romeo.messageFrom(`${ROOM}/Romeo`)).getChildText('body'), 'before');
    assert.equal((await link.next((stanza) => stanza.getChildText('body') === 'before')).attrs.to, REMOTE);

    // The server drops the link and, its secret changed, refuses the next handshake.
    listener.secret = 'changed-on-the-server';
    const refused = listener.nextRefusal();
    link.socket.destroy();
    await refused;
    // The link is down: what the room sends now waits for it.
    romeo.say(ROOM, 'while down');
    assert.equal((await romeo.messageFrom(`${ROOM}/Romeo`)).getChildText('body'), 'while down');
    const reconnected = listener.nextAuthenticated();
    listener.secret = SECRET;
    link = await reconnected;
    const queued = await link.next((stanza) => stanza.name === 'message');
    assert.equal(queued.getChildText('body'), 'while down');
    assert.equal(queued.attrs.to, REMOTE);

    link.send(`<message type='groupchat' from='${REMOTE}' to='${ROOM}'><body>after</body></message>`);
    assert.equal((await romeo.messageFrom(`${ROOM}/Juliet`)).getChildText('body'), 'after');
    assert.equal((await link.next((stanza) => stanza.getChildText('body') === 'after')).attrs.to, REMOTE);
    // Romeo's copies went to his session only, never over the link.
    assert.deepEqual(link.takeAll(), []);
    await romeo.close();
  });
});
