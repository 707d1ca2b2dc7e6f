// The client-to-server front end over real sockets: stream negotiation, SASL
// against the internal account store, binding, routing, the server's own iq
// handlers and errors.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AccountStore } from '../../src/store/accounts.js';
import { openDatabase } from '../../src/store/database.js';
import type { Element } from '../../src/xml/element.js';
import { RawClient, rawClient, selfSignedCertificate, startTestServer, type TestServer } from '../helpers/server.js';

const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const STANZAS_NS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

function errorCondition(stanza: Element): string | undefined {
  return stanza.getChild('error')?.elements().find((child) => child.attrs.xmlns === STANZAS_NS)?.name;
}

function saslCondition(failure: Element): string | undefined {
  return failure.elements().find((child) => child.name !== 'text')?.name;
}

describe('SASL with the internal back end', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ auth: { backend: 'internal' } });
    const database = openDatabase(server.dataDir);
    const accounts = new AccountStore(database);
    assert.equal(await accounts.create('romeo@localhost', 'secret åäö'), true);
    await database.close();
  });
  after(() => server.close());

  test('offers SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN', async () => {
    const client = await RawClient.connect(server.port);
    const features = await client.openStream();
    const mechanisms = features.getChild('mechanisms', SASL_NS)!.getChildren('mechanism').map((m) => m.text());
    assert.deepEqual(mechanisms, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    await client.close();
  });

  for (const [name, authenticate] of [
    ['PLAIN', (c: RawClient, password: string) => c.authenticatePlain('romeo', password)],
    ['SCRAM-SHA-1', (c: RawClient, password: string) => c.authenticateScram('romeo', password, 'sha1')],
    ['SCRAM-SHA-256', (c: RawClient, password: string) => c.authenticateScram('romeo', password, 'sha256')],
  ] as const) {
    test(`${name}: the right password logs in and binds`, async () => {
      const client = await RawClient.connect(server.port);
      await client.openStream();
      const outcome = await authenticate(client, 'secret åäö');
      assert.equal(outcome.name, 'success');
      assert.match(await client.bindAfterAuth(), /^romeo@localhost\//);
      assert.equal((await client.ping()).attrs.type, 'result');
      await client.close();
    });

    test(`${name}: a wrong password is not-authorized`, async () => {
      const client = await RawClient.connect(server.port);
      await client.openStream();
      const outcome = await authenticate(client, 'wrong');
      assert.equal(outcome.name, 'failure');
      assert.equal(saslCondition(outcome), 'not-authorized');
      await client.close();
    });
  }

  test('an unknown account is not-authorized with SCRAM too', async () => {
    const client = await RawClient.connect(server.port);
    await client.openStream();
    const outcome = await client.authenticateScram('nobody', 'secret', 'sha256');
    assert.equal(saslCondition(outcome), 'not-authorized');
    await client.close();
  });

  test('an unknown mechanism, a malformed PLAIN message, bad base64 and abort', async () => {
    const client = await RawClient.connect(server.port);
    await client.openStream();
    const failure = () => client.next((s) => s.name === 'failure');
    client.send(`<auth xmlns='${SASL_NS}' mechanism='DIGEST-MD5'/>`);
    assert.equal(saslCondition(await failure()), 'invalid-mechanism');
    client.send(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>${Buffer.from('no separators').toString('base64')}</auth>`);
    assert.equal(saslCondition(await failure()), 'malformed-request');
    client.send(`<auth xmlns='${SASL_NS}' mechanism='SCRAM-SHA-1'/>`);
    assert.equal(saslCondition(await failure()), 'malformed-request');
    // The third failure closes the connection; a fresh one for the rest.
    await client.closed;

    const second = await RawClient.connect(server.port);
    await second.openStream();
    second.send(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>!!!not base64</auth>`);
    assert.equal(saslCondition(await second.next((s) => s.name === 'failure')), 'incorrect-encoding');
    second.send(`<auth xmlns='${SASL_NS}' mechanism='SCRAM-SHA-256'>${Buffer.from('n,,n=romeo,r=abc').toString('base64')}</auth>`);
    assert.equal((await second.next()).name, 'challenge');
    second.send(`<abort xmlns='${SASL_NS}'/>`);
    assert.equal(saslCondition(await second.next((s) => s.name === 'failure')), 'aborted');
    const outcome = await second.authenticatePlain('romeo', 'secret åäö');
    assert.equal(outcome.name, 'success');
    await second.close();
  });

  test('channel binding other than "n" and "y" is refused', async () => {
    const client = await RawClient.connect(server.port);
    await client.openStream();
    const message = Buffer.from('p=tls-unique,,n=romeo,r=abc').toString('base64');
    client.send(`<auth xmlns='${SASL_NS}' mechanism='SCRAM-SHA-1'>${message}</auth>`);
    assert.equal(saslCondition(await client.next((s) => s.name === 'failure')), 'malformed-request');
    await client.close();
  });
});

describe('stream negotiation', () => {
  let server: TestServer;
  before(async () => (server = await startTestServer()));
  after(() => server.close());

  async function headerError(header: string): Promise<string> {
    const client = await RawClient.connect(server.port);
    client.send(header);
    const condition = await client.streamError();
    await client.closed;
    return condition;
  }

  test('a wrong "to" is host-unknown', async () => {
    const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>`;
    assert.equal(await headerError(header), 'host-unknown');
  });

  test('a missing "to" is improper-addressing', async () => {
    const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`;
    assert.equal(await headerError(header), 'improper-addressing');
  });

  test('a wrong content namespace or streams namespace is invalid-namespace', async () => {
    const wrongContent = `<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
    assert.equal(await headerError(wrongContent), 'invalid-namespace');
    const wrongStreams = `<stream:stream xmlns='jabber:client' xmlns:stream='urn:example' to='localhost' version='1.0'>`;
    assert.equal(await headerError(wrongStreams), 'invalid-namespace');
  });

  test('a missing or old version is unsupported-version', async () => {
    const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>`;
    assert.equal(await headerError(header), 'unsupported-version');
    const old = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='0.9'>`;
    assert.equal(await headerError(old), 'unsupported-version');
  });

  test('the insecure back end offers PLAIN only; a stanza before authentication is not-authorized', async () => {
    const client = await RawClient.connect(server.port);
    const features = await client.openStream();
    assert.deepEqual(
      features.getChild('mechanisms', SASL_NS)!.getChildren('mechanism').map((m) => m.text()),
      ['PLAIN'],
    );
    assert.equal(client.headers[0].attrs.from, 'localhost');
    client.send(`<message to='someone@localhost'><body>hi</body></message>`);
    assert.equal(await client.streamError(), 'not-authorized');
    await client.closed;
  });

  test('after authentication: bind is offered with an optional legacy session; other stanzas are refused', async () => {
    const client = await RawClient.connect(server.port);
    await client.openStream();
    await client.authenticatePlain('juliet', 'x');
    const features = await client.openStream();
    assert.ok(features.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind'));
    assert.ok(features.getChild('session', 'urn:ietf:params:xml:ns:xmpp-session')?.getChild('optional'));
    client.send(`<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.equal(await client.streamError(), 'not-authorized');
    await client.closed;
  });

  test('the legacy session iq is answered', async () => {
    const client = await rawClient(server.port, 'juliet');
    client.send(`<iq type='set' id='s1' to='localhost'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`);
    assert.equal((await client.reply('s1')).attrs.type, 'result');
    await client.close();
  });

  test('a closing stream tag is answered with one', async () => {
    const client = await rawClient(server.port, 'juliet');
    await client.close();
    assert.equal(client.streamEnded, true);
  });
});

describe('STARTTLS', () => {
  let server: TestServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conclave-tls-'));
    server = await startTestServer({ client: selfSignedCertificate(dir) });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('is required before authentication, then SASL and binding work inside it', async () => {
    const client = await RawClient.connect(server.port);
    const features = await client.openStream();
    assert.ok(features.getChild('starttls', 'urn:ietf:params:xml:ns:xmpp-tls')?.getChild('required'));
    assert.equal(features.getChild('mechanisms', SASL_NS), undefined);
    client.send(`<auth xmlns='${SASL_NS}' mechanism='PLAIN'>${Buffer.from('\0a\0b').toString('base64')}</auth>`);
    assert.equal(saslCondition(await client.next((s) => s.name === 'failure')), 'encryption-required');

    const secured = await client.startTls();
    assert.ok(secured.getChild('mechanisms', SASL_NS));
    assert.equal(secured.getChild('starttls'), undefined);
    assert.equal((await client.authenticatePlain('romeo', 'x')).name, 'success');
    assert.match(await client.bindAfterAuth(), /^romeo@localhost\//);
    assert.equal((await client.ping()).attrs.type, 'result');
    await client.close();
  });
});

describe('resource binding', () => {
  let server: TestServer;
  before(async () => (server = await startTestServer()));
  after(() => server.close());

  test('a chosen resource is resourceprepped; a missing one is generated', async () => {
    const chosen = await rawClient(server.port, 'Mercutio', 'Balcony');
    assert.equal(chosen.fullJid, 'mercutio@localhost/Balcony');
    const generated = await rawClient(server.port, 'mercutio');
    assert.match(generated.fullJid, /^mercutio@localhost\/.+/);
    assert.notEqual(generated.fullJid, chosen.fullJid);
    await chosen.close();
    await generated.close();
  });

  test('an invalid resource is bad-request', async () => {
    const client = await RawClient.connect(server.port);
    await client.openStream();
    await client.authenticatePlain('mercutio', 'x');
    await client.openStream();
    client.send(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>&#xE000;private</resource></bind></iq>`);
    const error = await client.reply('b');
    assert.equal(errorCondition(error), 'bad-request');
    await client.close();
  });

  test('a conflicting bind replaces the old session, which gets a conflict stream error', async () => {
    const watcher = await rawClient(server.port, 'benvolio', 'watcher');
    const old = await rawClient(server.port, 'tybalt', 'same');
    // The old session is in a "room": directed presence to the watcher.
    old.send(`<presence to='${watcher.fullJid}'/>`);
    await watcher.next((s) => s.name === 'presence' && s.attrs.from === old.fullJid);
    const replacement = await rawClient(server.port, 'tybalt', 'same');
    assert.equal(replacement.fullJid, 'tybalt@localhost/same');
    assert.equal(await old.streamError(), 'conflict');
    await old.closed;
    const gone = await watcher.next((s) => s.name === 'presence');
    assert.equal(gone.attrs.type, 'unavailable');
    assert.equal(gone.attrs.from, 'tybalt@localhost/same');
    // The new session is the one messages reach.
    watcher.send(`<message to='tybalt@localhost/same' id='m'><body>hello</body></message>`);
    assert.equal((await replacement.next((s) => s.name === 'message')).getChildText('body'), 'hello');
    await watcher.close();
    await replacement.close();
  });
});

describe('routing', () => {
  let server: TestServer;
  before(async () => (server = await startTestServer()));
  after(() => server.close());

  test('a message to a full JID reaches that session, with "from" stamped by the server', async () => {
    const romeo = await rawClient(server.port, 'romeo', 'a');
    const juliet = await rawClient(server.port, 'juliet', 'b');
    romeo.send(`<message to='juliet@localhost/b' from='mallory@localhost/x' type='chat'><body>hi</body></message>`);
    const message = await juliet.next((s) => s.name === 'message');
    assert.equal(message.attrs.from, 'romeo@localhost/a');
    assert.equal(message.attrs.to, 'juliet@localhost/b');
    assert.equal(message.getChildText('body'), 'hi');
    await romeo.close();
    await juliet.close();
  });

  test('a message to a bare JID goes to the available resources of the highest non-negative priority', async () => {
    const sender = await rawClient(server.port, 'nurse');
    const high = await rawClient(server.port, 'capulet', 'high');
    const low = await rawClient(server.port, 'capulet', 'low');
    const negative = await rawClient(server.port, 'capulet', 'negative');
    high.send(`<presence><priority>5</priority></presence>`);
    low.send(`<presence><priority>1</priority></presence>`);
    negative.send(`<presence><priority>-1</priority></presence>`);
    await negative.next((s) => s.name === 'presence' && s.attrs.from === negative.fullJid);
    await Promise.all([high.ping(), low.ping(), negative.ping()]);

    sender.send(`<message to='capulet@localhost' type='chat' id='m1'><body>one</body></message>`);
    assert.equal((await high.next((s) => s.name === 'message')).getChildText('body'), 'one');
    // A message to an absent full JID falls back to the bare JID rules.
    sender.send(`<message to='capulet@localhost/gone' type='chat' id='m2'><body>two</body></message>`);
    assert.equal((await high.next((s) => s.name === 'message')).getChildText('body'), 'two');
    // The other resources got nothing: their next message is one sent to them directly.
    sender.send(`<message to='${low.fullJid}' id='m3'><body>direct</body></message>`);
    sender.send(`<message to='${negative.fullJid}' id='m4'><body>direct</body></message>`);
    assert.equal((await low.next((s) => s.name === 'message')).attrs.id, 'm3');
    assert.equal((await negative.next((s) => s.name === 'message')).attrs.id, 'm4');
    for (const client of [sender, high, low, negative]) await client.close();
  });

  test('messages to accounts without available resources are kept offline; headlines vanish; groupchat is service-unavailable', async () => {
    const sender = await rawClient(server.port, 'friar');
    const idle = await rawClient(server.port, 'balthasar'); // bound but never available
    sender.send(`<message to='balthasar@localhost' type='chat' id='c1'><body>x</body></message>`);
    sender.send(`<message to='nobody@localhost' type='headline' id='h1'><body>x</body></message>`);
    sender.send(`<message to='nobody@localhost' type='groupchat' id='g1'><body>x</body></message>`);
    const error = await sender.next();
    assert.equal(error.attrs.id, 'g1', 'the chat message was kept for later and the headline dropped, without an answer');
    assert.equal(error.attrs.from, 'nobody@localhost');
    assert.equal(error.attrs.to, sender.fullJid);
    assert.equal(errorCondition(error), 'service-unavailable');
    assert.equal(sender.queue.length, 0);
    // An error is never answered with an error.
    sender.send(`<message to='nobody@localhost' type='error' id='e1'/>`);
    assert.equal((await sender.ping('after-error')).attrs.id, 'after-error');
    await sender.close();
    await idle.close();
  });

  test('iq to a full JID reaches it; to an absent one is service-unavailable', async () => {
    const a = await rawClient(server.port, 'peter', 'a');
    const b = await rawClient(server.port, 'sampson', 'b');
    a.send(`<iq type='get' id='q1' to='${b.fullJid}'><query xmlns='jabber:iq:version'/></iq>`);
    const request = await b.reply('q1');
    assert.equal(request.attrs.from, a.fullJid);
    b.send(`<iq type='result' id='q1' to='${a.fullJid}'/>`);
    assert.equal((await a.reply('q1')).attrs.type, 'result');
    a.send(`<iq type='get' id='q2' to='sampson@localhost/absent'><query xmlns='jabber:iq:version'/></iq>`);
    assert.equal(errorCondition(await a.reply('q2')), 'service-unavailable');
    // A result to an absent JID gets nothing back.
    a.send(`<iq type='result' id='q3' to='sampson@localhost/absent'/>`);
    assert.equal((await a.ping('p3')).attrs.id, 'p3');
    await a.close();
    await b.close();
  });

  test('presence to an absent full JID is dropped', async () => {
    const a = await rawClient(server.port, 'gregory');
    a.send(`<presence to='abraham@localhost/absent'/>`);
    assert.equal((await a.ping('p')).attrs.id, 'p');
    assert.equal(a.queue.length, 0);
    await a.close();
  });

  test('unknown domains are remote-server-not-found; malformed JIDs are jid-malformed', async () => {
    const a = await rawClient(server.port, 'rosaline');
    a.send(`<message to='someone@example.org' id='r1'><body>x</body></message>`);
    const error = await a.next((s) => s.attrs.id === 'r1');
    assert.equal(errorCondition(error), 'remote-server-not-found');
    assert.equal(error.attrs.from, 'someone@example.org');
    a.send(`<iq type='get' id='r2' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.equal(errorCondition(await a.reply('r2')), 'remote-server-not-found');
    a.send(`<message to='a@b@localhost' id='r3'/>`);
    assert.equal(errorCondition(await a.next((s) => s.attrs.id === 'r3')), 'jid-malformed');
    await a.close();
  });
});

describe('presence', () => {
  let server: TestServer;
  before(async () => (server = await startTestServer()));
  after(() => server.close());

  test('available presence is echoed to self and sent to the other available resources, with an empty avatar hash', async () => {
    const first = await rawClient(server.port, 'lady', 'first');
    const second = await rawClient(server.port, 'lady', 'second');
    first.send(`<presence><show>away</show></presence>`);
    const echo = await first.next((s) => s.name === 'presence');
    assert.equal(echo.attrs.from, first.fullJid);
    assert.equal(echo.getChildText('show'), 'away');
    assert.ok(echo.getChild('x', 'vcard-temp:x:update')?.getChild('photo'));

    // The second resource becomes available: it sees its echo and the first's presence; the first sees it.
    second.send(`<presence/>`);
    const own = await second.next((s) => s.name === 'presence' && s.attrs.from === second.fullJid);
    assert.equal(own.attrs.type, undefined);
    const others = await second.next((s) => s.name === 'presence' && s.attrs.from === first.fullJid);
    assert.equal(others.attrs.to, second.fullJid);
    assert.equal(others.getChildText('show'), 'away');
    const seen = await first.next((s) => s.name === 'presence' && s.attrs.from === second.fullJid);
    assert.equal(seen.attrs.to, first.fullJid);

    // A client that sends its own avatar hash keeps it.
    second.send(`<presence><x xmlns='vcard-temp:x:update'><photo>abc</photo></x></presence>`);
    const withHash = await first.next((s) => s.name === 'presence' && s.attrs.from === second.fullJid);
    assert.equal(withHash.getChild('x', 'vcard-temp:x:update')?.getChildText('photo'), 'abc');
    await second.next((s) => s.name === 'presence' && s.attrs.from === second.fullJid);

    // Unavailable goes to self and the others; a vanished resource's goes to the others.
    second.send(`<presence type='unavailable'/>`);
    assert.equal((await second.next((s) => s.name === 'presence')).attrs.type, 'unavailable');
    assert.equal((await first.next((s) => s.name === 'presence')).attrs.type, 'unavailable');
    second.send(`<presence/>`);
    await first.next((s) => s.name === 'presence' && s.attrs.from === second.fullJid);
    second.socket.destroy();
    const vanished = await first.next((s) => s.name === 'presence');
    assert.equal(vanished.attrs.type, 'unavailable');
    assert.equal(vanished.attrs.from, second.fullJid);
    await first.close();
  });

  test('directed presence is undone with unavailable presence when the session ends', async () => {
    const watcher = await rawClient(server.port, 'paris');
    const leaver = await rawClient(server.port, 'montague');
    leaver.send(`<presence to='${watcher.fullJid}'><status>here</status></presence>`);
    const directed = await watcher.next((s) => s.name === 'presence');
    assert.ok(directed.getChild('x', 'vcard-temp:x:update'));
    leaver.socket.destroy();
    const gone = await watcher.next((s) => s.name === 'presence');
    assert.equal(gone.attrs.type, 'unavailable');
    assert.equal(gone.attrs.from, leaver.fullJid);
    await watcher.close();
  });

  test('an invalid presence type is bad-request', async () => {
    const client = await rawClient(server.port, 'escalus');
    client.send(`<presence type='bogus' id='b'/>`);
    assert.equal(errorCondition(await client.next()), 'bad-request');
    await client.close();
  });
});

describe('the server itself', () => {
  let server: TestServer;
  let client: RawClient;
  before(async () => {
    server = await startTestServer();
    client = await rawClient(server.port, 'apothecary');
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  test('ping, with and without "to"', async () => {
    const result = await client.ping('p1');
    assert.equal(result.attrs.type, 'result');
    assert.equal(result.attrs.from, 'localhost');
    assert.equal(result.attrs.to, client.fullJid);
    client.send(`<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.equal((await client.reply('p2')).attrs.type, 'result');
  });

  test('disco#info: a server/im identity with ping and disco features; disco#items lists the MUC service', async () => {
    client.send(`<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const query = (await client.reply('d1')).getChild('query', 'http://jabber.org/protocol/disco#info')!;
    const identity = query.getChild('identity')!;
    assert.equal(identity.attrs.category, 'server');
    assert.equal(identity.attrs.type, 'im');
    const features = query.getChildren('feature').map((f) => f.attrs.var);
    assert.ok(features.includes('urn:xmpp:ping'));
    assert.ok(features.includes('http://jabber.org/protocol/disco#info'));
    client.send(`<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`);
    const items = (await client.reply('d2')).getChild('query')!.getChildren('item');
    assert.deepEqual(items.map((item) => item.attrs.jid), ['conference.localhost']);
  });

  test('the roster is empty; vCards are empty', async () => {
    client.send(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`);
    const roster = await client.reply('r1');
    assert.equal(roster.attrs.type, 'result');
    assert.equal(roster.getChild('query', 'jabber:iq:roster')!.elements().length, 0);
    client.send(`<iq type='get' id='v1' to='localhost'><vCard xmlns='vcard-temp'/></iq>`);
    assert.ok((await client.reply('v1')).getChild('vCard', 'vcard-temp'));
    client.send(`<iq type='get' id='v2' to='someone@localhost'><vCard xmlns='vcard-temp'/></iq>`);
    assert.ok((await client.reply('v2')).getChild('vCard', 'vcard-temp'));
  });

  test('unknown payloads are service-unavailable; malformed iqs are bad-request; results are not answered', async () => {
    client.send(`<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:unknown'/></iq>`);
    const error = await client.reply('u1');
    assert.equal(error.attrs.type, 'error');
    assert.equal(error.attrs.from, 'localhost');
    assert.equal(error.getChild('error')!.attrs.type, 'cancel');
    assert.equal(errorCondition(error), 'service-unavailable');
    client.send(`<iq type='get' id='u2' to='localhost'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.equal(errorCondition(await client.reply('u2')), 'bad-request');
    client.send(`<iq type='fetch' id='u3' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.equal(errorCondition(await client.reply('u3')), 'bad-request');
    client.send(`<iq type='result' id='u4' to='localhost'/>`);
    client.send(`<iq type='error' id='u5' to='localhost'/>`);
    assert.equal((await client.ping('u6')).attrs.id, 'u6');
    assert.equal(client.queue.length, 0);
  });

  test('a non-stanza element after binding is unsupported-stanza-type', async () => {
    const other = await rawClient(server.port, 'chorus');
    other.send(`<foo/>`);
    assert.equal(await other.streamError(), 'unsupported-stanza-type');
    await other.closed;
  });
});
