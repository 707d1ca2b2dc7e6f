// Flow control (issue 11): one user's burst or flood never costs another user
// their connection, and a client that stops reading is dropped alone.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Element } from '../../src/xml/element.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { rawClient, startTestServer } from '../helpers/server.js';

const ROOM = 'burst@conference.localhost';
const BODY = 'x'.repeat(400);

/** `count` groupchat messages of 400 bytes in one write. */
function burst(room: string, count: number, tag: string): string {
  let xml = '';
  for (let i = 0; i < count; i++) xml += `<message type='groupchat' to='${room}' id='${tag}-${i}'><body>${BODY}</body></message>`;
  return xml;
}

/** Resolves with how many of the flooder's messages the reader got once it has the one with this id. */
async function receivedUpTo(reader: MucTestClient, from: string, lastId: string): Promise<number> {
  const isFlood = (stanza: Element) => stanza.name === 'message' && stanza.attrs.from === from && stanza.getChild('body') !== undefined;
  await reader.client.next((stanza) => isFlood(stanza) && stanza.attrs.id === lastId);
  return reader.client.queue.filter(isFlood).length + 1;
}

describe('flow control', () => {
  test('a burst of 8,000 messages of 400 bytes reaches every prompt reader, and none is disconnected', async () => {
    const server = await startTestServer();
    try {
      const flooder = await MucTestClient.login(server.port, 'flooder');
      await flooder.createRoom(ROOM, 'flooder');
      const readers = await Promise.all(Array.from({ length: 10 }, (_, i) => MucTestClient.login(server.port, `reader${i}`)));
      for (const [i, reader] of readers.entries()) await reader.join(ROOM, `reader${i}`);
      flooder.client.send(burst(ROOM, 8000, 'b'));
      const counts = await Promise.all(readers.map((reader) => receivedUpTo(reader, `${ROOM}/flooder`, 'b-7999')));
      assert.deepEqual(counts, readers.map(() => 8000));
      // Still connected, and served.
      for (const reader of readers) assert.equal((await reader.client.ping()).attrs.type, 'result');
      assert.equal((await flooder.client.ping()).attrs.type, 'result');
      await Promise.all([flooder, ...readers].map((client) => client.close()));
    } finally {
      await server.close();
    }
  });

  test('a reader that stops reading is dropped while the others go on', async () => {
    const server = await startTestServer({
      client: { max_unread_bytes: 65536, unread_grace_seconds: 0.5, rate: { authenticated: { bytes_per_second: 0, stanzas_per_second: 0, burst_seconds: 1 } } },
    });
    try {
      const flooder = await MucTestClient.login(server.port, 'flooder');
      await flooder.createRoom(ROOM, 'flooder');
      const reader = await MucTestClient.login(server.port, 'reader');
      await reader.join(ROOM, 'reader');
      const stopped = await MucTestClient.login(server.port, 'stopped');
      await stopped.join(ROOM, 'stopped');
      stopped.client.socket.pause();
      const gone = reader.client.next(
        (stanza) => stanza.name === 'presence' && stanza.attrs.from === `${ROOM}/stopped` && stanza.attrs.type === 'unavailable',
      );
      let round = 0;
      let left = false;
      void gone.then(() => (left = true));
      // Rounds until the server gives up on the stopped reader, each read in full by the prompt one.
      while (!left) {
        assert.ok(round < 100, 'the stopped reader was never dropped');
        flooder.client.send(burst(ROOM, 1000, `r${round}`));
        assert.equal(await receivedUpTo(reader, `${ROOM}/flooder`, `r${round}-999`), 1000);
        reader.client.queue.length = 0;
        round++;
      }
      const status = (await gone).getChild('x', 'http://jabber.org/protocol/muc#user');
      assert.ok(status, 'the room says the stopped reader left');
      assert.equal((await reader.client.ping()).attrs.type, 'result');
      stopped.client.socket.destroy();
      await Promise.all([flooder.close(), reader.close()]);
    } finally {
      await server.close();
    }
  });

  const inFlightBounds = [
    ['a session', { max_stanzas_in_flight: 50 }],
    ['a shard', { max_shard_stanzas_in_flight: 50 }],
  ] as const;
  for (const [what, bound] of inFlightBounds) {
    test(`past the bound on stanzas in flight to ${what}, a session writing to a busy room is not read until they are handled`, async () => {
      const server = await startTestServer({ client: bound });
      try {
        const flooder = await MucTestClient.login(server.port, 'flooder');
        await flooder.createRoom(ROOM, 'flooder');
        const bystander = await rawClient(server.port, 'bystander');
        // The room is busy for a while: what the flooder sends it stays in flight.
        server.shards.stall(ROOM, 3000);
        flooder.client.send(burst(ROOM, 400, 's') + `<iq type='get' id='after' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
        let flooderAnswered = false;
        const after = flooder.client.reply('after').then(() => (flooderAnswered = true));
        await bystander.ping();
        assert.equal(flooderAnswered, false, "the flooder's next stanza waits unread while its backlog is in flight");
        await after;
        assert.equal(await receivedUpTo(flooder, `${ROOM}/flooder`, 's-399'), 400, 'nothing was refused or lost');
        await Promise.all([flooder.close(), bystander.close()]);
      } finally {
        await server.close();
      }
    });
  }

  test('a session over its stanza rate is read later, not dropped, and others are served meanwhile', async () => {
    const server = await startTestServer({
      client: { rate: { authenticated: { bytes_per_second: 0, stanzas_per_second: 40, burst_seconds: 1 } } },
    });
    try {
      const flooder = await rawClient(server.port, 'flooder');
      const bystander = await rawClient(server.port, 'bystander');
      const pings = (tag: string) =>
        Array.from({ length: 80 }, (_, i) => `<iq type='get' id='${tag}${i}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`).join('');
      // What arrived in one read is handled; the debt it ran up holds the next read back.
      flooder.send(pings('a'));
      await flooder.reply('a79');
      flooder.send(pings('b'));
      let flooderAnswered = false;
      const first = flooder.reply('b0').then(() => (flooderAnswered = true));
      await bystander.ping();
      assert.equal(flooderAnswered, false, 'the bystander is answered while the flooder waits for budget');
      await first;
      for (let i = 1; i < 80; i++) assert.equal((await flooder.reply(`b${i}`)).attrs.type, 'result');
      await Promise.all([flooder.close(), bystander.close()]);
    } finally {
      await server.close();
    }
  });
});
