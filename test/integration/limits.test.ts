// Front-end bounds (issue 11): connections per address, sessions per account,
// paced failed logins, a second stream header, and idle sessions pinged and
// closed when dead. Each is refused with its own error.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RawClient, rawClient, startTestServer } from '../helpers/server.js';

const BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

describe('front-end limits', () => {
  test('a connection past the per-address bound gets policy-violation; one closing makes room', async () => {
    const server = await startTestServer({ client: { max_connections_per_ip: 3, connection_limit_exempt: [] } });
    try {
      const clients = await Promise.all([1, 2, 3].map((i) => rawClient(server.port, `user${i}`)));
      const refused = await RawClient.connect(server.port);
      assert.equal(await refused.streamError(), 'policy-violation');
      await refused.closed;
      await clients[0].close();
      const admitted = await rawClient(server.port, 'user4');
      assert.equal((await admitted.ping()).attrs.type, 'result');
      await Promise.all([admitted, ...clients.slice(1)].map((client) => client.close()));
    } finally {
      await server.close();
    }
  });

  test('exempt addresses are not counted', async () => {
    const server = await startTestServer({ client: { max_connections_per_ip: 1 } });
    try {
      const clients = await Promise.all([1, 2].map((i) => rawClient(server.port, `user${i}`)));
      await Promise.all(clients.map((client) => client.close()));
    } finally {
      await server.close();
    }
  });

  test('a bind past the sessions per account is refused with resource-constraint; a replaced resource is not counted', async () => {
    const server = await startTestServer({ client: { max_sessions_per_account: 2 } });
    try {
      const first = await rawClient(server.port, 'user', 'one');
      const second = await rawClient(server.port, 'user', 'two');
      const third = await RawClient.connect(server.port);
      await third.openStream();
      assert.equal((await third.authenticatePlain('user', 'password')).name, 'success');
      await third.openStream();
      third.send(`<iq type='set' id='bind'><bind xmlns='${BIND}'><resource>three</resource></bind></iq>`);
      const refused = await third.reply('bind');
      assert.equal(refused.attrs.type, 'error');
      assert.ok(refused.getChild('error')?.getChild('resource-constraint', STANZAS));
      // The same resource again replaces its session instead.
      third.send(`<iq type='set' id='rebind'><bind xmlns='${BIND}'><resource>two</resource></bind></iq>`);
      assert.equal((await third.reply('rebind')).attrs.type, 'result');
      assert.equal(await second.streamError(), 'conflict');
      await Promise.all([first.close(), third.close()]);
    } finally {
      await server.close();
    }
  });

  test('failed logins are answered later and later, from any connection of the address', async () => {
    const server = await startTestServer({ auth: { backend: 'internal', failure_delay_ms: 150, failure_delay_max_ms: 10_000 } });
    try {
      const delays: number[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        const client = await RawClient.connect(server.port);
        await client.openStream();
        const started = performance.now();
        assert.equal((await client.authenticatePlain('nobody', 'wrong')).name, 'failure');
        delays.push(performance.now() - started);
        await client.close();
      }
      // Lower bounds only: a busy machine makes them longer, never shorter.
      assert.ok(delays[0] >= 150 && delays[1] >= 300 && delays[2] >= 600, `delays ${delays.join(', ')}`);
    } finally {
      await server.close();
    }
  });

  test('a second stream header inside the stream is invalid-xml, before and after login', async () => {
    const server = await startTestServer();
    const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
    try {
      const early = await RawClient.connect(server.port);
      await early.openStream();
      early.send(header);
      assert.equal(await early.streamError(), 'invalid-xml');
      const late = await rawClient(server.port, 'user');
      late.send(header);
      assert.equal(await late.streamError(), 'invalid-xml');
      await Promise.all([early.closed, late.closed]);
    } finally {
      await server.close();
    }
  });

  test('an idle session is pinged; one that answers stays, one that does not is closed', async () => {
    const server = await startTestServer({ client: { ping_interval_seconds: 0.2, ping_timeout_seconds: 0.2 } });
    try {
      const alive = await rawClient(server.port, 'alive');
      const dead = await rawClient(server.port, 'dead');
      for (let round = 0; round < 2; round++) {
        const ping = await alive.next((stanza) => stanza.name === 'iq' && stanza.getChild('ping', 'urn:xmpp:ping') !== undefined);
        assert.equal(ping.attrs.to, alive.fullJid);
        alive.send(`<iq type='result' id='${ping.attrs.id}' to='localhost'/>`);
      }
      assert.equal(await dead.streamError(), 'connection-timeout');
      assert.equal((await alive.ping()).attrs.type, 'result');
      await alive.close();
    } finally {
      await server.close();
    }
  });
});
