// XMPP over WebSocket (RFC 7395) and guests: `@xmpp/client`'s WebSocket
// transport logs in with SCRAM and as a guest (SASL ANONYMOUS) and talks in a
// room with a TCP client; host-meta discovery (XEP-0156); and the framing as
// a hand-driven WebSocket sees it, its errors included.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { client, xml, type Client, type XmlElement } from '@xmpp/client';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config/load.js';
import { AccountStore } from '../../src/store/accounts.js';
import { openDatabase } from '../../src/store/database.js';
import type { Element } from '../../src/xml/element.js';
import { parseElement } from '../../src/xml/stream-parser.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { received } from '../helpers/xmppjs.js';
import { RawClient, selfSignedCertificate, startTestServer, type TestServer } from '../helpers/server.js';

const ROOM = 'garden@conference.localhost';
const FRAMING_NS = 'urn:ietf:params:xml:ns:xmpp-framing';
const STREAMS_NS = 'http://etherx.jabber.org/streams';
const MUC_USER = 'http://jabber.org/protocol/muc#user';

let server: TestServer;
let romeo: MucTestClient;
const clients: Client[] = [];

// @xmpp/client's WebSocket transport uses the global WebSocket, which Node 20 lacks.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

before(async () => {
  server = await startTestServer({ auth: { backend: 'internal', guest_domain: 'guest.localhost' }, websocket: { enabled: true, port: 0 } });
  const database = openDatabase(server.dataDir);
  const accounts = new AccountStore(database);
  await accounts.create('romeo@localhost', 'password');
  await accounts.create('juliet@localhost', 'password');
  await database.close();
  romeo = await MucTestClient.login(server.port, 'romeo');
  await romeo.createRoom(ROOM, 'Romeo');
});

after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await romeo.close();
  await server.close();
});

function endpoint(): string {
  return `ws://127.0.0.1:${server.websocketPort}/xmpp-websocket`;
}

/** An @xmpp/client over WebSocket; the SASL mechanism it chose is recorded in `mechanisms`. */
async function online(options: { domain: string; username?: string; password?: string }, mechanisms: string[] = []): Promise<Client> {
  const xmpp = client({ service: endpoint(), resource: 'web', ...options });
  xmpp.on('error', () => {}); // start() rejects with the same error
  xmpp.on('send', (element: XmlElement) => {
    if (element.name === 'auth') mechanisms.push(element.attrs.mechanism);
  });
  clients.push(xmpp);
  await xmpp.start();
  return xmpp;
}


/** Joins the room and resolves with the self-presence, or the error presence. */
async function enterRoom(xmpp: Client, room: string, nick: string): Promise<XmlElement> {
  const answer = received(xmpp, (s) => s.name === 'presence' && s.attrs.from === `${room}/${nick}`);
  await xmpp.send(xml('presence', { to: `${room}/${nick}` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
  return answer;
}

/** Both ways: the web client and Romeo (TCP) each read what the other said in the room. */
async function talk(xmpp: Client, nick: string): Promise<void> {
  await romeo.presenceFrom(`${ROOM}/${nick}`);
  const heard = romeo.messageFrom(`${ROOM}/${nick}`);
  await xmpp.send(xml('message', { to: ROOM, type: 'groupchat' }, xml('body', {}, `Hello from ${nick}`)));
  assert.equal((await heard).getChildText('body'), `Hello from ${nick}`);
  const answer = received(xmpp, (s) => s.name === 'message' && s.attrs.from === `${ROOM}/Romeo` && s.getChildText('body') !== null);
  romeo.say(ROOM, `Welcome, ${nick}`);
  assert.equal((await answer).getChildText('body'), `Welcome, ${nick}`);
}

describe('@xmpp/client over WebSocket', () => {
  test('logs in with SCRAM, joins a room and talks with a TCP client', async () => {
    const mechanisms: string[] = [];
    const juliet = await online({ domain: 'localhost', username: 'juliet', password: 'password' }, mechanisms);
    assert.equal(juliet.jid?.toString(), 'juliet@localhost/web');
    assert.deepEqual(mechanisms, ['SCRAM-SHA-1']);
    const self = await enterRoom(juliet, ROOM, 'Juliet');
    assert.equal(self.attrs.type, undefined);
    await talk(juliet, 'Juliet');
  });

  test('a wrong password is refused', async () => {
    await assert.rejects(online({ domain: 'localhost', username: 'juliet', password: 'wrong' }), /not-authorized/);
  });

  test('a guest logs in with ANONYMOUS, talks in a room, stores nothing and leaves with its connection', async () => {
    const mechanisms: string[] = [];
    const guest = await online({ domain: 'guest.localhost' }, mechanisms);
    assert.deepEqual(mechanisms, ['ANONYMOUS']);
    assert.match(guest.jid!.toString(), /^[0-9a-f-]{36}@guest\.localhost\/web$/);

    await enterRoom(guest, ROOM, 'Guest');
    await talk(guest, 'Guest');

    // No account to keep a roster, a vCard or a PEP node in.
    for (const payload of [
      xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: 'romeo@localhost' })),
      xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Guest')),
      xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('publish', { node: 'urn:xmpp:bookmarks:1' }, xml('item', { id: ROOM }))),
    ]) {
      await assert.rejects(guest.iqCaller.request(xml('iq', { type: 'set' }, payload)), /not-allowed/);
    }
    // Reading is answered as for anyone: an empty roster.
    const roster = await guest.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
    assert.equal(roster.getChild('query')?.getChild('item'), undefined);
    const refused = received(guest, (s) => s.name === 'presence' && s.attrs.type === 'error');
    await guest.send(xml('presence', { to: 'romeo@localhost', type: 'subscribe' }));
    assert.ok((await refused).getChild('error')?.getChild('not-allowed'));

    // Its session ends with its connection: it leaves the room.
    const left = romeo.presenceFrom(`${ROOM}/Guest`);
    await guest.stop();
    assert.equal((await left).attrs.type, 'unavailable');
  });

  test('a members-only room refuses a guest', async () => {
    const closed = 'cellar@conference.localhost';
    await romeo.createRoom(closed, 'Romeo', { 'muc#roomconfig_membersonly': '1' });
    const guest = await online({ domain: 'guest.localhost' });
    const answer = await enterRoom(guest, closed, 'Guest');
    assert.equal(answer.attrs.type, 'error');
    assert.ok(answer.getChild('error')?.getChild('registration-required'));
    assert.equal(answer.getChild('x', MUC_USER), undefined);
  });
});

describe('guests over TCP', () => {
  test('the guest domain offers ANONYMOUS alone, the server domain never', async () => {
    const tcp = await RawClient.connect(server.port);
    const features = await tcp.openStream('guest.localhost');
    assert.deepEqual(mechanismsOf(features), ['ANONYMOUS']);
    assert.equal(tcp.headers[0]!.attrs.from, 'guest.localhost');
    assert.equal((await tcp.authenticateAnonymous()).name, 'success');
    tcp.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' to='localhost' version='1.0'>`);
    // After authenticating as a guest, the stream stays on the guest domain.
    assert.equal(await tcp.streamError(), 'host-unknown');
    await tcp.closed;

    const member = await RawClient.connect(server.port);
    assert.ok(!mechanismsOf(await member.openStream('localhost')).includes('ANONYMOUS'));
    assert.ok((await member.authenticateAnonymous()).getChild('invalid-mechanism'));
    await member.close();
  });

  test('guest_domain must not be the server domain or the MUC domain; WebSocket needs the client listener', () => {
    for (const guest_domain of ['localhost', 'conference.localhost']) {
      assert.throws(() => loadConfig({ overrides: { auth: { guest_domain } } }), /auth\.guest_domain/);
    }
    const overrides = { websocket: { enabled: true }, client: { enabled: false }, component: { enabled: true, secret: 's' } };
    assert.throws(() => loadConfig({ overrides }), /websocket\.enabled/);
  });
});

function mechanismsOf(features: Element): string[] {
  return (features.getChild('mechanisms')?.getChildren('mechanism') ?? []).map((mechanism) => mechanism.text());
}

describe('discovery (XEP-0156)', () => {
  test('host-meta and host-meta.json point to the WebSocket endpoint', async () => {
    const base = `http://127.0.0.1:${server.websocketPort}`;
    const xrd = await fetch(`${base}/.well-known/host-meta`);
    assert.equal(xrd.status, 200);
    assert.equal(xrd.headers.get('access-control-allow-origin'), '*');
    const link = parseElement(await xrd.text()).getChild('Link')!;
    assert.deepEqual(link.attrs, { rel: 'urn:xmpp:alt-connections:websocket', href: endpoint() });

    const json = await fetch(`${base}/.well-known/host-meta.json`);
    assert.deepEqual(await json.json(), { links: [{ rel: 'urn:xmpp:alt-connections:websocket', href: endpoint() }] });

    assert.equal((await fetch(`${base}/elsewhere`)).status, 404);
    assert.equal((await fetch(`${base}/xmpp-websocket`)).status, 426);
  });
});

/** A hand-driven WebSocket: it sends raw messages and keeps every message received. */
class RawWebSocket {
  readonly messages: string[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<number>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(data.toString());
      for (const waiter of this.waiters.splice(0)) waiter();
    });
    this.closed = once(socket, 'close').then(([code]) => code as number);
  }

  static async open(url = endpoint()): Promise<RawWebSocket> {
    // The test certificate is self-signed.
    const socket = new WebSocket(url, ['xmpp'], { rejectUnauthorized: false });
    // Listening before the handshake ends: the server may write at once.
    const raw = new RawWebSocket(socket);
    await once(socket, 'open');
    return raw;
  }

  /** Opens the stream, logs in with PLAIN and binds; resolves with the full JID. */
  async login(username: string): Promise<string> {
    await this.openStream();
    this.socket.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${username}\0password`).toString('base64')}</auth>`);
    await this.next((element) => element.name === 'success');
    await this.openStream();
    this.socket.send(`<iq type='set' id='bind' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    return (await this.next((element) => element.attrs.id === 'bind')).element.getChild('bind')!.getChildText('jid')!;
  }

  /** The first message received whose element matches, waiting for it. */
  async next(predicate: (element: Element) => boolean): Promise<{ element: Element; raw: string }> {
    for (;;) {
      const raw = this.messages.find((message) => predicate(parseElement(message)));
      if (raw !== undefined) return { element: parseElement(raw), raw };
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Opens the stream and resolves with the features. */
  async openStream(): Promise<Element> {
    this.socket.send(`<open xmlns='${FRAMING_NS}' to='localhost' version='1.0'/>`);
    return (await this.next((element) => element.name === 'stream:features')).element;
  }

  /** The stream error the server sent, its raw message, and the close that must follow it. */
  async streamError(): Promise<{ condition: string; raw: string }> {
    const { element, raw } = await this.next((e) => e.name === 'stream:error');
    const condition = element.elements().find((child) => child.name !== 'text')!.name;
    assert.equal(this.messages.at(-1), `<close xmlns='${FRAMING_NS}'/>`);
    assert.equal(await this.closed, 1000);
    return { condition, raw };
  }
}

describe('RFC 7395 framing', () => {
  test('<open/> is answered with <open/> and features that declare the stream prefix; <close/> with <close/>', async () => {
    const ws = await RawWebSocket.open();
    assert.equal(ws.socket.protocol, 'xmpp');
    const features = await ws.openStream();
    const open = parseElement(ws.messages[0]!);
    assert.equal(open.name, 'open');
    assert.equal(open.attrs.xmlns, FRAMING_NS);
    assert.equal(open.attrs.from, 'localhost');
    assert.equal(open.attrs.version, '1.0');
    assert.ok(open.attrs.id);
    assert.equal(features.attrs['xmlns:stream'], STREAMS_NS);
    // TLS is the WebSocket's: no STARTTLS inside it.
    assert.equal(features.getChild('starttls'), undefined);
    assert.deepEqual(mechanismsOf(features), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);

    ws.socket.send(`<close xmlns='${FRAMING_NS}'/>`);
    assert.equal(await ws.closed, 1000);
    assert.equal(ws.messages.at(-1), `<close xmlns='${FRAMING_NS}'/>`);
  });

  test('a stanza is a message of its own, in the jabber:client namespace', async () => {
    const ws = await RawWebSocket.open();
    await ws.login('juliet');
    ws.socket.send(`<iq type='get' id='p' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const { element: pong, raw } = await ws.next((element) => element.attrs.id === 'p');
    assert.equal(pong.attrs.type, 'result');
    assert.ok(raw.startsWith(`<iq xmlns='jabber:client'`), raw);
    ws.socket.close();
  });

  for (const [what, message, condition] of [
    ['two elements in one message', `<open xmlns='${FRAMING_NS}' to='localhost' version='1.0'/><presence/>`, 'not-well-formed'],
    ['half an element', `<open xmlns='${FRAMING_NS}' to='localhost'`, 'not-well-formed'],
    ['a TCP stream header', `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' to='localhost' version='1.0'>`, 'not-well-formed'],
    ['a closed TCP stream header', `<stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' to='localhost' version='1.0'/>`, 'bad-format'],
    ['a binary message', Buffer.from(`<open xmlns='${FRAMING_NS}' to='localhost' version='1.0'/>`), 'bad-format'],
    ['an <open/> to another domain', `<open xmlns='${FRAMING_NS}' to='elsewhere.example' version='1.0'/>`, 'host-unknown'],
  ] as const) {
    test(`${what} is a stream error, then <close/>`, async () => {
      const ws = await RawWebSocket.open();
      ws.socket.send(message);
      const { condition: got, raw } = await ws.streamError();
      assert.equal(got, condition);
      assert.ok(raw.startsWith(`<stream:error xmlns:stream='${STREAMS_NS}'>`), raw);
      // The stream opened before its error.
      assert.equal(parseElement(ws.messages[0]!).name, 'open');
    });
  }

  test('a WebSocket without the xmpp subprotocol, or on another path, is refused', async () => {
    for (const [url, protocols] of [
      [endpoint(), []],
      [`ws://127.0.0.1:${server.websocketPort}/other`, ['xmpp']],
    ] as const) {
      const socket = new WebSocket(url, [...protocols]);
      socket.on('error', () => {}); // terminate() reports the handshake it cut short
      const [, response] = await once(socket, 'unexpected-response');
      assert.equal(response.statusCode, url === endpoint() ? 400 : 404);
      socket.terminate();
    }
  });

});

describe('with a certificate', () => {
  let secure: TestServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conclave-wss-'));
    secure = await startTestServer({ client: selfSignedCertificate(dir), websocket: { enabled: true, port: 0 } });
  });
  after(async () => {
    await secure.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the listener is wss:// and HTTPS, and offers SASL at once: the WebSocket is the encryption', async () => {
    const url = `wss://localhost:${secure.websocketPort}/xmpp-websocket`;
    const ws = await RawWebSocket.open(url);
    const features = await ws.openStream();
    assert.equal(features.getChild('starttls'), undefined);
    assert.ok(mechanismsOf(features).includes('PLAIN'));
    ws.socket.close();

    const hostMeta = await new Promise<string>((resolve, reject) => {
      request(`https://localhost:${secure.websocketPort}/.well-known/host-meta.json`, { rejectUnauthorized: false }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(JSON.parse(hostMeta).links[0].href, url);
  });
});

describe("the front end's limits over WebSocket", () => {
  test('connections per address count TCP and WebSocket together', async () => {
    const limited = await startTestServer({ client: { max_connections_per_ip: 1, connection_limit_exempt: [] }, websocket: { enabled: true, port: 0 } });
    try {
      const tcp = await RawClient.connect(limited.port);
      const ws = await RawWebSocket.open(`ws://127.0.0.1:${limited.websocketPort}/xmpp-websocket`);
      assert.equal((await ws.streamError()).condition, 'policy-violation');
      await tcp.close();
    } finally {
      await limited.close();
    }
  });

  test('a WebSocket client that stops reading is dropped, and leaves its rooms', async () => {
    const limited = await startTestServer({
      auth: { backend: 'insecure' },
      client: { max_unread_bytes: 65536, unread_grace_seconds: 0.5, rate: { authenticated: { bytes_per_second: 0, stanzas_per_second: 0, burst_seconds: 1 } } },
      websocket: { enabled: true, port: 0 },
    });
    try {
      const watcher = await MucTestClient.login(limited.port, 'watcher');
      await watcher.createRoom(ROOM, 'watcher');
      const ws = await RawWebSocket.open(`ws://127.0.0.1:${limited.websocketPort}/xmpp-websocket`);
      const jid = await ws.login('stopped');
      ws.socket.send(`<presence to='${ROOM}/stopped' xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
      await watcher.presenceFrom(`${ROOM}/stopped`);
      const gone = watcher.presenceFrom(`${ROOM}/stopped`);
      // It stops reading and sends itself far more than the socket buffers hold.
      ws.socket.pause();
      const body = 'x'.repeat(200_000);
      for (let i = 0; i < 150; i++) ws.socket.send(`<message to='${jid}' type='chat' xmlns='jabber:client'><body>${body}</body></message>`);
      assert.equal((await gone).attrs.type, 'unavailable');
      ws.socket.terminate();
      await watcher.close();
    } finally {
      await limited.close();
    }
  });
});
