// The account services of standalone mode over real sockets: software
// version, entity time, vCards, private storage, blocking, carbons and
// offline messages, as a client sees them (scansion profile: any password).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { forgetAccountData } from '../../src/account/stored-data.js';
import { openDatabase } from '../../src/store/database.js';
import { rawClient, startTestServer, type RawClient, type TestServer } from '../helpers/server.js';

let server: TestServer;
const clients: RawClient[] = [];

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
  await server.close();
});

async function online(user: string, resource: string, available = true): Promise<RawClient> {
  const client = await rawClient(server.port, user, resource);
  clients.push(client);
  if (available) {
    client.send('<presence/>');
    await client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === client.fullJid);
  }
  return client;
}

async function iq(client: RawClient, id: string, xml: string) {
  client.send(xml.replace('<iq ', `<iq id='${id}' `));
  return client.reply(id);
}

describe('server information', () => {
  test('disco lists what the modules offer; version and time answer', async () => {
    const client = await online('info', 'a', false);
    const info = await iq(client, 'd1', "<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    const features = info.getChild('query')!.getChildren('feature').map((feature) => feature.attrs.var);
    for (const ns of ['vcard-temp', 'jabber:iq:private', 'urn:xmpp:blocking', 'urn:xmpp:carbons:2', 'msgoffline', 'jabber:iq:version', 'urn:xmpp:time']) {
      assert.ok(features.includes(ns), ns);
    }
    const version = await iq(client, 'v1', "<iq type='get' to='localhost'><query xmlns='jabber:iq:version'/></iq>");
    assert.equal(version.getChild('query')!.getChildText('name'), 'Conclave');
    const time = await iq(client, 't1', "<iq type='get' to='localhost'><time xmlns='urn:xmpp:time'/></iq>");
    assert.equal(time.getChild('time')!.getChildText('tzo'), '+00:00');
    assert.match(time.getChild('time')!.getChildText('utc')!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

describe('vCards and private storage', () => {
  test('an account sets its vCard; others read it and may not set it', async () => {
    const alice = await online('alice', 'a', false);
    const bob = await online('bob', 'b', false);
    const set = await iq(alice, 's1', "<iq type='set'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>");
    assert.equal(set.attrs.type, 'result');
    const read = await iq(bob, 'g1', "<iq type='get' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>");
    assert.equal(read.getChild('vCard', 'vcard-temp')!.getChildText('FN'), 'Alice');
    const forged = await iq(bob, 's2', "<iq type='set' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>");
    assert.ok(forged.getChild('error')!.getChild('forbidden'));
    const none = await iq(alice, 'g2', "<iq type='get' to='nobody@localhost'><vCard xmlns='vcard-temp'/></iq>");
    assert.equal(none.getChild('vCard', 'vcard-temp')!.elements().length, 0);
  });

  test('private storage keeps an element for its account alone, and goes with the account', async () => {
    const carol = await online('carol', 'a', false);
    const bookmarks = "<storage xmlns='storage:bookmarks'><conference jid='room@conference.localhost' autojoin='true'/></storage>";
    assert.equal((await iq(carol, 'p1', `<iq type='set'><query xmlns='jabber:iq:private'>${bookmarks}</query></iq>`)).attrs.type, 'result');
    const read = await iq(carol, 'p2', "<iq type='get'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>");
    assert.equal(read.getChild('query')!.getChild('storage', 'storage:bookmarks')!.getChild('conference')!.attrs.jid, 'room@conference.localhost');
    const reserved = await iq(carol, 'p3', "<iq type='get'><query xmlns='jabber:iq:private'><query xmlns='jabber:iq:roster'/></query></iq>");
    assert.ok(reserved.getChild('error')!.getChild('not-acceptable'));
    const dave = await online('dave', 'a', false);
    const foreign = await iq(dave, 'p4', "<iq type='get' to='carol@localhost'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>");
    assert.ok(foreign.getChild('error')!.getChild('forbidden'));

    const database = openDatabase(server.dataDir);
    await database.transaction(() => forgetAccountData(database, 'carol@localhost'));
    await database.close();
    const after = await iq(carol, 'p5', "<iq type='get'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>");
    assert.equal(after.getChild('query')!.getChild('storage')!.elements().length, 0);
  });
});

describe('blocking', () => {
  test('a blocked sender reaches no session; a message to a blocked JID is refused; pushes reach the sessions that asked', async () => {
    const juliet = await online('juliet', 'balcony');
    const romeo = await online('romeo', 'orchard');
    const nurse = await online('nurse', 'hall');
    const list = await iq(juliet, 'b1', "<iq type='get'><blocklist xmlns='urn:xmpp:blocking'/></iq>");
    assert.equal(list.getChild('blocklist')!.elements().length, 0);
    assert.equal((await iq(juliet, 'b2', "<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='romeo@localhost'/></block></iq>")).attrs.type, 'result');
    const push = await juliet.next((stanza) => stanza.name === 'iq' && stanza.attrs.type === 'set');
    assert.equal(push.getChild('block', 'urn:xmpp:blocking')!.getChild('item')!.attrs.jid, 'romeo@localhost');

    romeo.send("<message to='juliet@localhost' type='chat'><body>blocked</body></message>");
    nurse.send("<message to='juliet@localhost' type='chat'><body>after</body></message>");
    const first = await juliet.next((stanza) => stanza.name === 'message');
    assert.equal(first.getChildText('body'), 'after', 'the blocked message never arrived, the later one did');

    juliet.send("<message id='m1' to='romeo@localhost/orchard' type='chat'><body>hi</body></message>");
    const refused = await juliet.next((stanza) => stanza.name === 'message' && stanza.attrs.id === 'm1');
    assert.equal(refused.attrs.type, 'error');
    assert.ok(refused.getChild('error')!.getChild('blocked', 'urn:xmpp:blocking:errors'));

    assert.equal((await iq(juliet, 'b3', "<iq type='set'><unblock xmlns='urn:xmpp:blocking'/></iq>")).attrs.type, 'result');
    romeo.send("<message to='juliet@localhost' type='chat'><body>again</body></message>");
    assert.equal((await juliet.next((stanza) => stanza.name === 'message')).getChildText('body'), 'again');
  });
});

describe('blocking presence', () => {
  const presenceFrom = (client: RawClient) => (stanza: { name: string; attrs: Record<string, string | undefined> }) =>
    stanza.name === 'presence' && stanza.attrs.from === client.fullJid;
  /** `from` subscribes to `to`'s presence, both online, and gets it. */
  async function subscribe(from: RawClient, to: RawClient): Promise<void> {
    const toBare = to.fullJid.split('/')[0]!;
    const fromBare = from.fullJid.split('/')[0]!;
    from.send(`<presence type='subscribe' to='${toBare}'/>`);
    await to.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'subscribe');
    to.send(`<presence type='subscribed' to='${fromBare}'/>`);
    await from.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'subscribed');
    await from.next(presenceFrom(to));
  }

  test("the blocker's broadcasts reach no blocked subscriber and cost it no error; unblocking sends the latest; requests from the blocked are refused", async () => {
    const juliet = await online('bpjuliet', 'balcony');
    const romeo = await online('bpromeo', 'orchard');
    const nurse = await online('bpnurse', 'hall');
    // Sessions that read the roster get the answers to their requests (RFC 6121 §3.1.6).
    for (const client of [juliet, romeo]) await iq(client, 'r0', "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    await subscribe(romeo, juliet);
    await subscribe(juliet, romeo);

    const block = "<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='bpromeo@localhost'/><item jid='bpnurse@localhost'/></block></iq>";
    assert.equal((await iq(juliet, 'b1', block)).attrs.type, 'result');
    assert.equal((await romeo.next(presenceFrom(juliet))).attrs.type, 'unavailable');
    // A stranger she blocked cannot ask for her presence, nor send her his.
    nurse.send("<presence type='subscribe' to='bpjuliet@localhost'/>");
    nurse.send(`<presence to='${juliet.fullJid}'><show>chat</show></presence>`);
    // Handled in order: by the pong, whatever reached her is on her stream before her next answer.
    await nurse.ping();

    // Her two broadcasts while he is blocked: she gets her echoes and nothing else; he gets neither.
    juliet.send('<presence><status>one</status></presence>');
    juliet.send('<presence><status>two</status></presence>');
    // His broadcast does not reach her either.
    romeo.send('<presence><status>hidden</status></presence>');
    await romeo.next((stanza) => stanza.name === 'presence' && stanza.getChildText('status') === 'hidden' && stanza.attrs.from === romeo.fullJid);
    // An iq to her bare JID (her vCard) is answered for her: refused.
    const vcard = await iq(romeo, 'v1', "<iq type='get' to='bpjuliet@localhost'><vCard xmlns='vcard-temp'/></iq>");
    assert.equal(vcard.attrs.type, 'error');
    assert.ok(vcard.getChild('error')!.getChild('service-unavailable'));

    assert.equal((await iq(juliet, 'b2', "<iq type='set'><unblock xmlns='urn:xmpp:blocking'><item jid='bpromeo@localhost'/></unblock></iq>")).attrs.type, 'result');
    assert.equal((await romeo.next(presenceFrom(juliet))).getChildText('status'), 'two', 'her latest presence, and not the ones sent while he was blocked');
    assert.equal((await juliet.next(presenceFrom(romeo))).getChildText('status'), 'hidden', 'his current presence, both subscribed');
    const herStanzas = juliet.queue.filter((stanza) => stanza.name === 'presence');
    assert.deepEqual(
      herStanzas.map((stanza) => [stanza.attrs.from, stanza.attrs.type, stanza.getChildText('status')]),
      [
        [juliet.fullJid, undefined, 'one'],
        [juliet.fullJid, undefined, 'two'],
      ],
      'only her echoes: no error for a broadcast, nothing from the nurse',
    );
  });
});

describe('blocking a room', () => {
  test('a user who blocked a room cannot join it again, and can still leave it', async () => {
    const room = 'blockedroom@conference.localhost';
    const nurse = await online('bronurse', 'hall');
    const juliet = await online('brojuliet', 'balcony');
    nurse.send(`<presence to='${room}/Nurse'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await nurse.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/Nurse`);
    assert.equal((await iq(nurse, 'c1', `<iq type='set' to='${room}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)).attrs.type, 'result');
    juliet.send(`<presence to='${room}/Juliet'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await juliet.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/Juliet`);
    await nurse.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/Juliet`);

    assert.equal((await iq(juliet, 'b1', `<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='${room}'/></block></iq>`)).attrs.type, 'result');
    juliet.send(`<presence type='unavailable' to='${room}/Juliet'/>`);
    assert.equal((await nurse.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/Juliet`)).attrs.type, 'unavailable');
    juliet.send(`<presence id='again' to='${room}/Juliet'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    const refused = await juliet.next((stanza) => stanza.name === 'presence' && stanza.attrs.id === 'again');
    assert.equal(refused.attrs.type, 'error');
    assert.ok(refused.getChild('error')!.getChild('blocked', 'urn:xmpp:blocking:errors'), refused.toString());
  });
});

describe('carbons', () => {
  test('a session with carbons enabled sees what its other resources send and receive', async () => {
    const desk = await online('mercutio', 'desk');
    const phone = await online('mercutio', 'phone');
    const tybalt = await online('tybalt', 'street');
    assert.equal((await iq(phone, 'c1', "<iq type='set'><enable xmlns='urn:xmpp:carbons:2'/></iq>")).attrs.type, 'result');

    desk.send("<message to='tybalt@localhost/street' type='chat'><body>a plague</body></message>");
    const sent = await phone.next((stanza) => stanza.name === 'message');
    assert.equal(sent.attrs.from, 'mercutio@localhost');
    const sentCopy = sent.getChild('sent', 'urn:xmpp:carbons:2')!.getChild('forwarded')!.getChild('message')!;
    assert.equal(sentCopy.getChildText('body'), 'a plague');
    assert.equal(sentCopy.attrs.from, 'mercutio@localhost/desk');

    tybalt.send("<message to='mercutio@localhost/desk' type='chat'><body>thou consortest</body></message>");
    const received = await phone.next((stanza) => stanza.name === 'message');
    assert.equal(received.getChild('received', 'urn:xmpp:carbons:2')!.getChild('forwarded')!.getChild('message')!.getChildText('body'), 'thou consortest');
    assert.equal((await desk.next((stanza) => stanza.name === 'message')).getChildText('body'), 'thou consortest');
  });
});

describe('offline messages', () => {
  test('a message to an account with no session waits for its next initial presence, with its time', async () => {
    const sender = await online('benvolio', 'a');
    sender.send("<message to='rosaline@localhost' type='chat' id='o1'><body>while you were out</body></message>");
    // Sent after the first: when it is answered, the first has been handled.
    await iq(sender, 'o2', "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    const rosaline = await online('rosaline', 'home', false);
    rosaline.send('<presence/>');
    const kept = await rosaline.next((stanza) => stanza.name === 'message');
    assert.equal(kept.getChildText('body'), 'while you were out');
    assert.ok(kept.getChild('delay', 'urn:xmpp:delay')!.attrs.stamp);
  });
});

describe('roster', () => {
  const rosterItem = (stanza: { getChild(name: string): { getChildren(name: string): { attrs: Record<string, string> }[] } | undefined }) =>
    stanza.getChild('query')!.getChildren('item')[0]!.attrs;

  test('roster set, get with versioning, pushes and removal', async () => {
    const own = await online('paris', 'a');
    const other = await online('paris', 'b');
    const first = await iq(own, 'r1', "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    const version = first.getChild('query')!.attrs.ver!;
    await iq(other, 'r0', "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");

    const set = await iq(own, 'r2', "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='capulet@localhost' name='Lord'><group>Family</group></item></query></iq>");
    assert.equal(set.attrs.type, 'result');
    const push = await other.next((stanza) => stanza.name === 'iq' && stanza.attrs.type === 'set');
    assert.deepEqual(rosterItem(push), { jid: 'capulet@localhost', name: 'Lord', subscription: 'none' });

    const stale = await iq(own, 'r3', `<iq type='get'><query xmlns='jabber:iq:roster' ver='${version}'/></iq>`);
    assert.equal(rosterItem(stale).jid, 'capulet@localhost');
    const current = stale.getChild('query')!.attrs.ver!;
    const unchanged = await iq(own, 'r4', `<iq type='get'><query xmlns='jabber:iq:roster' ver='${current}'/></iq>`);
    assert.equal(unchanged.elements().length, 0, 'an up-to-date roster is answered with an empty result');

    const twoItems = await iq(own, 'r5', "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='a@localhost'/><item jid='b@localhost'/></query></iq>");
    assert.ok(twoItems.getChild('error')!.getChild('bad-request'));
    await iq(own, 'r6', "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='capulet@localhost' subscription='remove'/></query></iq>");
    const removed = await other.next((stanza) => stanza.name === 'iq' && stanza.attrs.type === 'set');
    assert.equal(rosterItem(removed).subscription, 'remove');
  });

  test('a subscription request, its approval, and the presence it then carries', async () => {
    const romeo = await online('romeo2', 'orchard');
    const juliet = await online('juliet2', 'balcony');
    await iq(romeo, 's0', "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    romeo.send("<presence to='juliet2@localhost' type='subscribe'/>");
    const pending = await romeo.next((stanza) => stanza.name === 'iq' && stanza.attrs.type === 'set');
    assert.deepEqual(rosterItem(pending), { jid: 'juliet2@localhost', subscription: 'none', ask: 'subscribe' });
    const request = await juliet.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'subscribe');
    assert.equal(request.attrs.from, 'romeo2@localhost');

    juliet.send("<presence to='romeo2@localhost' type='subscribed'/>");
    const approved = await romeo.next((stanza) => stanza.name === 'iq' && stanza.attrs.type === 'set');
    assert.deepEqual(rosterItem(approved), { jid: 'juliet2@localhost', subscription: 'to' });
    assert.equal((await romeo.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'subscribed')).attrs.from, 'juliet2@localhost');
    const presence = await romeo.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === undefined && stanza.attrs.from === 'juliet2@localhost/balcony');
    assert.equal(presence.attrs.to, 'romeo2@localhost/orchard');

    const julietRoster = await iq(juliet, 's1', "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    assert.deepEqual(rosterItem(julietRoster), { jid: 'romeo2@localhost', subscription: 'from' });

    juliet.send("<presence type='unavailable'/>");
    const gone = await romeo.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'unavailable');
    assert.equal(gone.attrs.from, 'juliet2@localhost/balcony');

    // Initial presence brings back the presence of those the account is subscribed to.
    juliet.send('<presence/>');
    await romeo.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === 'juliet2@localhost/balcony' && stanza.attrs.type === undefined);
    const later = await online('romeo2', 'garden');
    const probed = await later.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === 'juliet2@localhost/balcony');
    assert.equal(probed.attrs.to, 'romeo2@localhost/garden');
  });

  test('a request to an account with no session is shown at its next initial presence', async () => {
    const tybalt = await online('tybalt2', 'street');
    tybalt.send("<presence to='benvolio2@localhost' type='subscribe'/>");
    await iq(tybalt, 'q1', "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    const benvolio = await online('benvolio2', 'home', false);
    benvolio.send('<presence/>');
    const request = await benvolio.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'subscribe');
    assert.equal(request.attrs.from, 'tybalt2@localhost');
  });
});

describe('PEP', () => {
  const BOOKMARKS = 'urn:xmpp:bookmarks:1';
  const NICK = 'http://jabber.org/protocol/nick';

  /** Comes online advertising capabilities and answers the server's disco#info with these +notify features. */
  async function withCaps(user: string, resource: string, notify: string[]): Promise<RawClient> {
    const client = await online(user, resource, false);
    client.send(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:test' ver='${notify.join(',')}'/></presence>`);
    const query = await client.next((stanza) => stanza.name === 'iq' && stanza.attrs.type === 'get');
    assert.equal(query.getChild('query', 'http://jabber.org/protocol/disco#info')!.attrs.node, `urn:test#${notify.join(',')}`);
    const features = notify.map((node) => `<feature var='${node}+notify'/>`).join('');
    client.send(`<iq type='result' id='${query.attrs.id}' to='${query.attrs.from}'><query xmlns='http://jabber.org/protocol/disco#info'>${features}</query></iq>`);
    return client;
  }

  const publishBookmark = (jid: string, options = "<field var='pubsub#access_model'><value>whitelist</value></field><field var='pubsub#max_items'><value>max</value></field>") =>
    `<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${BOOKMARKS}'><item id='${jid}'><conference xmlns='${BOOKMARKS}' autojoin='true'/></item></publish>` +
    `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>${options}</x></publish-options></pubsub></iq>`;

  test('bookmarks: published with publish-options, notified to the sessions that want them, read back, private to the owner', async () => {
    const phone = await withCaps('hermia', 'phone', [BOOKMARKS]);
    const published = await iq(phone, 'b1', publishBookmark('forest@conference.localhost'));
    assert.equal(published.getChild('pubsub')!.getChild('publish')!.getChild('item')!.attrs.id, 'forest@conference.localhost');
    const event = await phone.next((stanza) => stanza.name === 'message');
    assert.equal(event.attrs.from, 'hermia@localhost');
    assert.equal(event.getChild('event', 'http://jabber.org/protocol/pubsub#event')!.getChild('items')!.getChild('item')!.attrs.id, 'forest@conference.localhost');

    await iq(phone, 'b2', publishBookmark('court@conference.localhost'));
    const read = await iq(phone, 'b3', `<iq type='get' to='hermia@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${BOOKMARKS}'/></pubsub></iq>`);
    assert.deepEqual(read.getChild('pubsub')!.getChild('items')!.getChildren('item').map((item) => item.attrs.id), ['forest@conference.localhost', 'court@conference.localhost']);

    const other = await online('lysander', 'a', false);
    const refused = await iq(other, 'b4', `<iq type='get' to='hermia@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='${BOOKMARKS}'/></pubsub></iq>`);
    assert.ok(refused.getChild('error')!.getChild('forbidden'));

    const mismatch = await iq(phone, 'b5', publishBookmark('x@conference.localhost', "<field var='pubsub#access_model'><value>open</value></field>"));
    assert.ok(mismatch.getChild('error')!.getChild('precondition-not-met', 'http://jabber.org/protocol/pubsub#errors'));

    // A later session that wants bookmarks gets the last one at once.
    const laptop = await withCaps('hermia', 'laptop', [BOOKMARKS]);
    const last = await laptop.next((stanza) => stanza.name === 'message');
    assert.equal(last.getChild('event')!.getChild('items')!.getChild('item')!.attrs.id, 'court@conference.localhost');

    const info = await iq(phone, 'b6', "<iq type='get' to='hermia@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    assert.ok(info.getChild('query')!.getChildren('identity').some((identity) => identity.attrs.category === 'pubsub' && identity.attrs.type === 'pep'));
  });

  test('a nickname published with the default (presence) access reaches subscribed contacts that want it', async () => {
    const demetrius = await withCaps('demetrius', 'a', [NICK]);
    const helena = await online('helena', 'a');
    // An answer to a subscription request goes to the resources that read the roster (RFC 6121 §3.1.6).
    await iq(helena, 'n0', "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>");
    helena.send("<presence to='demetrius@localhost' type='subscribe'/>");
    await demetrius.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'subscribe');
    demetrius.send("<presence to='helena@localhost' type='subscribed'/>");
    await helena.next((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'subscribed');
    const watcher = await withCaps('helena', 'b', [NICK]);

    await iq(demetrius, 'n1', `<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${NICK}'><item><nick xmlns='${NICK}'>Demetrius</nick></item></publish></pubsub></iq>`);
    const event = await watcher.next((stanza) => stanza.name === 'message' && stanza.attrs.from === 'demetrius@localhost');
    assert.equal(event.getChild('event')!.getChild('items')!.getChild('item')!.getChildText('nick'), 'Demetrius');
    assert.equal(helena.queue.filter((stanza) => stanza.name === 'message').length, 0, 'a session without +notify gets no event');
  });
});
