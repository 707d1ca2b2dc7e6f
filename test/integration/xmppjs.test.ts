// A second opinion: the independent `@xmpp/client` library logs into the
// server (SCRAM against the internal account store), exchanges a message
// between two clients and pings the server.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { client, xml, type Client, type XmlElement } from '@xmpp/client';
import { AccountStore } from '../../src/store/accounts.js';
import { openDatabase } from '../../src/store/database.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const clients: Client[] = [];

before(async () => {
  server = await startTestServer({ auth: { backend: 'internal' } });
  const database = openDatabase(server.dataDir);
  const accounts = new AccountStore(database);
  await accounts.create('romeo@localhost', 'r0meo');
  await accounts.create('juliet@localhost', 'jul1et');
  await accounts.create('tybalt@localhost', 'tyb4lt');
  await database.close();
});

after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await server.close();
});

async function online(username: string, password: string, resource: string): Promise<Client> {
  const xmpp = client({ service: `xmpp://127.0.0.1:${server.port}`, domain: 'localhost', username, password, resource });
  xmpp.on('error', () => {}); // start() rejects with the same error
  clients.push(xmpp);
  await xmpp.start();
  return xmpp;
}

test('@xmpp/client logs in, sends a message to a second client and pings the server', async () => {
  const romeo = await online('romeo', 'r0meo', 'orchard');
  const juliet = await online('juliet', 'jul1et', 'balcony');
  assert.equal(romeo.jid?.toString(), 'romeo@localhost/orchard');
  assert.equal(juliet.jid?.toString(), 'juliet@localhost/balcony');

  const received = once(juliet, 'stanza') as Promise<[XmlElement]>;
  await romeo.send(xml('message', { to: 'juliet@localhost/balcony', type: 'chat' }, xml('body', {}, 'But soft!')));
  const [message] = await received;
  assert.equal(message.name, 'message');
  assert.equal(message.attrs.from, 'romeo@localhost/orchard');
  assert.equal(message.getChildText('body'), 'But soft!');

  const pong = await romeo.iqCaller.request(xml('iq', { type: 'get', to: 'localhost' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
  assert.equal(pong.attrs.type, 'result');
  assert.equal(pong.attrs.from, 'localhost');
});

test('@xmpp/client is refused with a wrong password', async () => {
  await assert.rejects(online('romeo', 'wrong', 'x'), /not-authorized/);
});

test('@xmpp/client: a blocked contact\'s request is refused service-unavailable, and the blocker\'s gets <blocked/>', async () => {
  const romeo = await online('romeo', 'r0meo', 'hall');
  const tybalt = await online('tybalt', 'tyb4lt', 'street');
  const version = (to: string) => xml('iq', { type: 'get', to }, xml('query', { xmlns: 'jabber:iq:version' }));
  await romeo.iqCaller.request(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'tybalt@localhost' }))));

  await assert.rejects(tybalt.iqCaller.request(version('romeo@localhost/hall')), (err: { condition?: string }) => err.condition === 'service-unavailable');
  const refused = await romeo.iqCaller.request(version('tybalt@localhost/street')).then(
    () => assert.fail('the request went through'),
    (err: { condition?: string; element?: XmlElement }) => err,
  );
  assert.equal(refused.condition, 'not-acceptable');
  assert.ok(refused.element?.getChild('blocked', 'urn:xmpp:blocking:errors'));
});
