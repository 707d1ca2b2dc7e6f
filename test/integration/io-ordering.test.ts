// A session's room-bound stanzas take one ordered path to each room, on any
// number of I/O threads: with threads, straight from the session's thread to
// the room's shard (room-path.ts), never partly through the main thread. A
// client that writes a join, a message and a leave in one go, or a burst of
// them across rooms on several shards, and ends its stream at once, is seen
// by each room in the order it wrote them. Threads > 1 need Node >= 22.12.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeAttribute } from '../../src/xml/escape.js';
import type { Element } from '../../src/xml/element.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { IO_THREADS_SKIP, rawClient, startTestServer, type TestServer } from '../helpers/server.js';

const MUC = 'http://jabber.org/protocol/muc';
const SHARDS = 2;
const ROOMS_PER_SHARD = 3;

/** Room JIDs, `perShard` on each shard of the server, found by trying names in order. */
function roomsOnEachShard(server: TestServer, perShard: number): string[] {
  const rooms: string[] = [];
  const counts = new Array<number>(SHARDS).fill(0);
  for (let i = 0; rooms.length < SHARDS * perShard; i++) {
    const room = `order-${i}@conference.localhost`;
    const shard = server.shards!.shardOf(room);
    if (counts[shard]! < perShard) {
      counts[shard]!++;
      rooms.push(room);
    }
  }
  return rooms;
}

/** What the watcher saw of an occupant: 'in', 'out', or a message's body. */
function seen(stanza: Element): string {
  if (stanza.name === 'message') return stanza.getChildText('body') ?? '';
  return stanza.attrs.type === 'unavailable' ? 'out' : 'in';
}

for (const ioThreads of [1, 2, 3]) {
  test(`on ${ioThreads} I/O thread(s), joins, messages and leaves written in one go, then the stream's end, reach each room in order, across rooms on several shards`, { skip: ioThreads > 1 ? IO_THREADS_SKIP : undefined }, async () => {
    const server = await startTestServer({ client: { io_threads: ioThreads }, muc: { shards: SHARDS } });
    try {
      const rooms = roomsOnEachShard(server, ROOMS_PER_SHARD);
      const watcher = await MucTestClient.login(server.port, 'watcher');
      for (const room of rooms) await watcher.createRoom(room, 'Watcher');
      // Several clients, so that with threads some land on each.
      for (let round = 0; round < 6; round++) {
        const nick = `Hasty${round}`;
        const hasty = await rawClient(server.port, `hasty${round}`);
        const join = (room: string) => `<presence to='${escapeAttribute(`${room}/${nick}`)}'><x xmlns='${MUC}'/></presence>`;
        const say = (room: string, body: string) => `<message type='groupchat' to='${escapeAttribute(room)}'><body>${body}</body></message>`;
        const leave = (room: string) => `<presence type='unavailable' to='${escapeAttribute(`${room}/${nick}`)}'/>`;
        let burst = '';
        for (const room of rooms) burst += join(room) + say(room, 'first');
        for (const room of rooms) burst += leave(room) + join(room) + say(room, 'second');
        hasty.send(burst + '</stream:stream>');
        for (const room of rooms) {
          const occupant = `${room}/${nick}`;
          const got: string[] = [];
          while (got.length < 6) got.push(seen(await watcher.client.next((s) => s.attrs.from === occupant && (s.name === 'presence' || s.name === 'message'))));
          assert.deepEqual(got, ['in', 'first', 'out', 'in', 'second', 'out'], `${occupant} on ${ioThreads} thread(s)`);
        }
        await hasty.closed;
      }
      await watcher.close();
    } finally {
      await server.close();
    }
  });
}
