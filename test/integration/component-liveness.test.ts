// The component link's liveness check: after an idle interval with nothing
// read from the server it pings the server (XEP-0199), any answer (an error
// too) or other traffic keeps the link, and a server that goes silent gets the
// link closed and reconnected. The intervals are shortened to milliseconds;
// the test timeout bounds every wait.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { COMPONENT_TEST_SECRET, ComponentListener, MUC_DOMAIN, SERVER_DOMAIN, type ComponentConnection } from '../helpers/component-server.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const LIVENESS = { idleMs: 100, pingTimeoutMs: 1_000 };
/** For the test of traffic that holds pings back: an interval no stall of a busy test machine reaches between two sends. */
const PATIENT_LIVENESS = { idleMs: 2_000, pingTimeoutMs: 1_000 };
/** Each test on its own, so that one that never sees what it waits for fails alone. */
const EACH = { timeout: 15_000 };
const ROOM = `hall@${MUC_DOMAIN}`;
const REMOTE = 'juliet@remote.example/balcony';

/** Our XEP-0114 server and a Conclave attached to it with short liveness intervals, once the link is up. */
async function startLinked(options: { clientEnabled: boolean; liveness?: typeof LIVENESS }) {
  const listener = await ComponentListener.listen();
  const connected = listener.nextAuthenticated();
  const component = { enabled: true, port: listener.port, secret: COMPONENT_TEST_SECRET };
  const server = await startTestServer({ client: { enabled: options.clientEnabled }, component }, { componentLiveness: options.liveness ?? LIVENESS });
  const link = await connected;
  await server.component!.ready();
  return { listener, server, link };
}

async function stopLinked(listener: ComponentListener | undefined, server: TestServer | undefined): Promise<void> {
  await server?.close();
  await listener?.close();
}

describe('component link liveness, component only', { timeout: 120_000 }, () => {
  let listener: ComponentListener;
  let server: TestServer;
  let link: ComponentConnection;

  before(async () => ({ listener, server, link } = await startLinked({ clientEnabled: false })));
  after(() => stopLinked(listener, server));

  it("pings the server's domain from the component's, and keeps a link whose server answers", EACH, async () => {
    link.pings = 'answer';
    await link.pinged(link.pingsReceived + 5);
    assert.equal(link.lastPing?.name, 'iq');
    assert.equal(link.lastPing.attrs.type, 'get');
    assert.equal(link.lastPing.attrs.from, MUC_DOMAIN);
    assert.equal(link.lastPing.attrs.to, SERVER_DOMAIN);
    assert.equal(link.socket.destroyed, false);
    assert.equal(server.component!.stats()[0].authentications, 1);
  });

  it('counts an error answer (a server without XEP-0199) as alive', EACH, async () => {
    link.pings = 'error';
    await link.pinged(link.pingsReceived + 5);
    assert.equal(link.socket.destroyed, false);
    assert.equal(server.component!.stats()[0].authentications, 1);
    link.pings = 'answer';
  });

  it('routes no ping answer into the rooms', EACH, async () => {
    link.send(`<presence from='${REMOTE}' to='${ROOM}/Juliet'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await link.next((stanza) => stanza.name === 'message' && stanza.getChild('subject') !== undefined);
    link.takeAll();
    const received = server.component!.stats()[0].received;
    link.pings = 'answer';
    await link.pinged(link.pingsReceived + 3);
    link.pings = 'error';
    await link.pinged(link.pingsReceived + 3);
    link.pings = 'answer';
    // Nothing from the server but the answers: the service and the room saw none of them, and answered none.
    assert.equal(server.component!.stats()[0].received, received);
    link.send(`<message type='groupchat' id='after' from='${REMOTE}' to='${ROOM}'><body>after the pings</body></message>`);
    await link.next((stanza) => stanza.getChildText('body') === 'after the pings');
    assert.deepEqual(link.takeAll().map((stanza) => stanza.toString()), []);
  });

  it('closes a link whose server reads but stops answering, and connects and authenticates again', EACH, async () => {
    const reconnected = listener.nextAuthenticated();
    const silent = link;
    silent.pings = 'silent';
    await silent.pinged(silent.pingsReceived + 1);
    await silent.closed;
    link = await reconnected;
    assert.notEqual(link, silent);
    await server.component!.ready();
    assert.equal(server.component!.stats()[0].authentications, 2);
    // The new link is watched too.
    await link.pinged(1);
  });
});

describe('component link liveness, under traffic', { timeout: 120_000 }, () => {
  let listener: ComponentListener;
  let server: TestServer;
  let link: ComponentConnection;

  before(async () => ({ listener, server, link } = await startLinked({ clientEnabled: false, liveness: PATIENT_LIVENESS })));
  after(() => stopLinked(listener, server));

  it('sends no ping while the server is sending anything', EACH, async () => {
    const before = link.pingsReceived;
    // Whitespace between stanzas is traffic too: every 20 ms for two idle intervals.
    for (let i = 0; i < (2 * PATIENT_LIVENESS.idleMs) / 20; i++) {
      link.send(' ');
      await sleep(20);
    }
    assert.equal(link.pingsReceived, before);
    await link.pinged(before + 1);
  });
});

describe('component link liveness, with the client listener on', { timeout: 120_000 }, () => {
  let listener: ComponentListener;
  let server: TestServer;
  let link: ComponentConnection;

  before(async () => ({ listener, server, link } = await startLinked({ clientEnabled: true })));
  after(() => stopLinked(listener, server));

  it('pings its own domain, which the server routes back, since `domain` is ours; the echo reaches no room', EACH, async () => {
    const romeo = await MucTestClient.login(server.port, 'romeo');
    await romeo.createRoom(ROOM, 'Romeo');
    const received = server.component!.stats()[0].received;
    // The echoed pings keep the link and are neither routed nor answered.
    await link.pinged(5);
    assert.equal(link.lastPing?.attrs.to, MUC_DOMAIN);
    assert.equal(link.socket.destroyed, false);
    assert.equal(server.component!.stats()[0].authentications, 1);
    assert.equal(server.component!.stats()[0].received, received);
    assert.deepEqual(link.takeAll().map((stanza) => stanza.toString()), []);
    romeo.say(ROOM, 'still here');
    assert.equal((await romeo.messageFrom(`${ROOM}/Romeo`)).getChildText('body'), 'still here');
    await romeo.close();
  });
});

describe('component link liveness, over two links', { timeout: 120_000 }, () => {
  let listener: ComponentListener;
  let server: TestServer;

  after(() => stopLinked(listener, server));

  it("counts an answer that comes back over the other link (ejabberd routes it by its destination, our domain)", EACH, async () => {
    listener = await ComponentListener.listen();
    const component = { enabled: true, port: listener.port, secret: COMPONENT_TEST_SECRET, connections: 2 };
    server = await startTestServer({ client: { enabled: false }, component }, { componentLiveness: LIVENESS });
    await server.component!.ready();
    const [first, second] = listener.authenticatedConnections;
    listener.routesVia = second;
    await Promise.all([first.pinged(first.pingsReceived + 5), second.pinged(second.pingsReceived + 5)]);
    const links = server.component!.stats().map(({ up, authentications, received }) => ({ up, authentications, received }));
    assert.deepEqual(links, [
      { up: true, authentications: 1, received: 0 },
      { up: true, authentications: 1, received: 0 },
    ]);
  });
});
