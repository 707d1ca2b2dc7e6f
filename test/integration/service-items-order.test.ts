// The service's disco#items gathers the public rooms from every shard over a
// channel of its own between the shards. A query sent after a leave that
// empties a room must not list it, as in Prosody: each shard answers only
// once it has handled the stanzas it was sent before the query. Here the
// leave waits in the room's mailbox behind a stall, so an answer that did
// not wait for it would list the room.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { shardOf } from '../../src/runtime/shard-of.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SHARDS = 3;
const SERVICE = 'conference.localhost';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
/** Long enough that the query reaches the room's shard during it; well inside the shards' 2 s to answer. */
const STALL_MS = 300;

/** `count` room JIDs on one shard other than the service's. */
function roomsElsewhere(count: number): string[] {
  const serviceShard = shardOf(SERVICE, SHARDS);
  const shard = (serviceShard + 1) % SHARDS;
  const rooms: string[] = [];
  for (let i = 0; rooms.length < count; i++) {
    const room = `order-${i}@${SERVICE}`;
    if (shardOf(room, SHARDS) === shard) rooms.push(room);
  }
  return rooms;
}

let server: TestServer;
before(async () => (server = await startTestServer({ muc: { shards: SHARDS } })));
after(() => server.close());

it("a room emptied before the service's disco#items is asked is not listed, from whichever shard", async () => {
  const [leaving, staying] = roomsElsewhere(2);
  const alice = await MucTestClient.login(server.port, 'alice');
  for (const room of [leaving, staying]) await alice.createRoom(room, 'alice', { 'muc#roomconfig_publicroom': '1' });

  // The stall reaches the shard ahead of the leave, which waits behind it in the room's mailbox;
  // the query follows the leave on the same stream.
  server.shards.stall(leaving, STALL_MS);
  const left = alice.leave(leaving, 'alice');
  const items = await alice.iq('get', SERVICE, `<query xmlns='${DISCO_ITEMS}'/>`);
  await left;

  const listed = (items.getChild('query')?.getChildren('item') ?? []).map((item) => item.attrs.jid);
  assert.deepEqual(listed, [staying]);
  await alice.close();
});
