// The component link's protocol edges that real servers do not produce on
// demand: a refused secret, a dropped link with stanzas waiting, stanzas with
// bad addresses, a server claiming the local domain, against the small
// XEP-0114 server in ../helpers/component-server.ts.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COMPONENT_TEST_SECRET as SECRET, ComponentListener, MUC_DOMAIN, type ComponentConnection } from '../helpers/component-server.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ROOM = `hall@${MUC_DOMAIN}`;
const REMOTE = 'juliet@remote.example/balcony';

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
