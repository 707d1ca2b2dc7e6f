// A shard under attack from its own rooms (issue 11): a flooded room delays
// only itself, and an owner who asks for an endless history gets an error,
// not a dead shard. One shard, so every room here shares it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const FLOOD = 100_000;

/**
 * Counts the groupchat bodies a client receives, reading the raw bytes
 * instead of parsing (a flood's echoes would fill the test's own memory).
 * `reached(n)` resolves once n have come; `marker(body)` with how many came
 * before the one with this body.
 */
function countBodies(client: MucTestClient): { reached(n: number): Promise<void>; marker(body: string): Promise<number> } {
  const socket = client.client.socket;
  socket.removeAllListeners('data');
  let count = 0;
  let carry = '';
  let waiters: { done(body: string): boolean; fail(err: Error): void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    const text = carry + chunk.toString('latin1');
    for (let at = text.indexOf('</body>'); at !== -1; at = text.indexOf('</body>', at + 1)) {
      count++;
      const body = text.slice(text.lastIndexOf('<body>', at) + 6, at);
      waiters = waiters.filter((waiter) => !waiter.done(body));
    }
    const end = text.lastIndexOf('</body>');
    carry = end === -1 ? text : text.slice(end + 7);
  });
  // A closed connection fails the test instead of leaving it waiting.
  socket.on('close', () => {
    for (const waiter of waiters) waiter.fail(new Error(`The connection closed after ${count} bodies: ${carry.slice(0, 300)}`));
    waiters = [];
  });
  const wait = <T>(done: (body: string, resolve: (value: T) => void) => boolean) =>
    new Promise<T>((resolve, reject) => waiters.push({ done: (body) => done(body, resolve), fail: reject }));
  return {
    reached: (n) => (count >= n ? Promise.resolve() : wait<void>((_, resolve) => count >= n && (resolve(), true))),
    marker: (body) => wait<number>((seen, resolve) => seen === body && (resolve(count - 1), true)),
  };
}

describe('rooms sharing one shard', () => {
  let server: TestServer;

  before(async () => {
    // A mailbox deep enough to take the whole flood, and a front end that lets one session post
    // all of it at once: the shard's fairness, not the limits before it, is under test here
    // (flow-control.test.ts covers those).
    server = await startTestServer({
      muc: { shards: 1, mailbox_limit: FLOOD * 2 },
      client: {
        rate: { authenticated: { bytes_per_second: 0, stanzas_per_second: 0, burst_seconds: 1 } },
        max_stanzas_in_flight: FLOOD * 2,
        max_shard_stanzas_in_flight: FLOOD * 2,
      },
    });
  });

  after(() => server.close());

  test('a 100,000-message flood into one room leaves another room on the shard answered before the flood drains', async () => {
    const flooder = await MucTestClient.login(server.port, 'flooder');
    await flooder.createRoom('flooded@conference.localhost', 'F');
    await flooder.createRoom('quiet@conference.localhost', 'F');
    const seen = countBodies(flooder);

    // The message to the other room comes last, behind the whole flood: a shard that works
    // its input in arrival order would answer it after every flood message. The one socket
    // shows in which order the shard answered.
    const answered = seen.marker('still there?');
    const flood = `<message type='groupchat' to='flooded@conference.localhost'><body>flood</body></message>`.repeat(FLOOD);
    flooder.client.send(flood + `<message type='groupchat' to='quiet@conference.localhost'><body>still there?</body></message>`);
    const floodFirst = await answered;
    assert.ok(floodFirst < FLOOD, `the other room was answered only after all ${FLOOD} flood messages`);

    // The flood is served in full, not refused.
    await seen.reached(FLOOD + 1);
    await flooder.close();
  });

  test('an endless history length is refused naming the field; 250 KB messages at the maximum keep history within its byte cap', async () => {
    const owner = await MucTestClient.login(server.port, 'owner');
    const room = 'history@conference.localhost';
    await owner.createRoom(room, 'Owner');
    const form = (length: string) =>
      `<query xmlns='${MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'>` +
      `<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
      `<field var='muc#roomconfig_historylength'><value>${length}</value></field></x></query>`;
    owner.client.send(`<iq type='set' id='endless' to='${room}'>${form('1000000000')}</iq>`);
    const refused = await owner.client.reply('endless');
    assert.equal(refused.attrs.type, 'error');
    assert.match(refused.getChild('error')?.getChildText('text', STANZAS) ?? '', /^muc#roomconfig_historylength: Value out of range/);
    await owner.iq('set', room, form('50'));

    const big = 'x'.repeat(250_000);
    for (let i = 0; i < 60; i++) {
      owner.say(room, `${i} ${big}`);
      await owner.messageFrom(`${room}/Owner`);
    }
    const guest = await MucTestClient.login(server.port, 'guest');
    guest.client.send(`<presence to='${room}/Guest'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='50'/></x></presence>`);
    const history: string[] = [];
    for (;;) {
      const stanza = await guest.client.next((s) => s.name === 'message');
      if (stanza.getChild('subject') !== undefined) break;
      history.push(stanza.toString());
    }
    // Only the newest fits the default cap of 256 KiB.
    assert.equal(history.length, 1);
    assert.match(history[0], /<body>59 x/);
    await guest.close();
    await owner.close();
  });
});
