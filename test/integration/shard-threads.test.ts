// The shards of a running server, seen through real client sockets: rooms
// placed on different shards live on different worker threads, none of them
// the main thread, and each worker holds its rooms' occupants. A stalled room
// holds back only its own stanzas: a room on another shard and a room on the
// same shard both answer while it waits.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { threadId as mainThreadId } from 'node:worker_threads';
import type { Element } from '../../src/xml/element.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SHARDS = 3;
const SERVICE = 'conference.localhost';

/**
 * How long the stalled room waits. The proof rests on the other rooms' round
 * trips (a few local socket hops) finishing inside it, so it is generous; the
 * assertions compare order of arrival, never durations.
 */
const STALL_MS = 2_000;

interface Occupant {
  nick: string;
  jid: string;
  sessions: string[];
}

describe('shards behind the client port', { timeout: 60_000 }, () => {
  let server: TestServer;
  let alice: MucTestClient;
  let bob: MucTestClient;
  /** One room per shard, by shard index. */
  const rooms: string[] = [];
  /** A second room on the shard of `rooms[0]`. */
  let neighbour: string;

  /** The first `count` room JIDs that hash to `shard`, trying names in order. */
  const roomsOn = (shard: number, count: number): string[] => {
    const found: string[] = [];
    for (let i = 0; found.length < count; i++) {
      const room = `threads${i}@${SERVICE}`;
      if (server.shards.shardOf(room) === shard) found.push(room);
    }
    return found;
  };

  before(async () => {
    server = await startTestServer({ muc: { shards: SHARDS } });
    [alice, bob] = await Promise.all([MucTestClient.login(server.port, 'alice'), MucTestClient.login(server.port, 'bob')]);
    [rooms[0], neighbour] = roomsOn(0, 2);
    for (let shard = 1; shard < SHARDS; shard++) rooms[shard] = roomsOn(shard, 1)[0];
    for (const room of [...rooms, neighbour]) {
      await alice.createRoom(room, 'Alice');
      await bob.join(room, 'Bob');
    }
  });

  after(async () => {
    await Promise.all([alice?.close(), bob?.close()]);
    await server?.close();
  });

  it('runs each shard’s rooms, with their occupants, on a worker thread of its own', async () => {
    const threads = new Set<number>();
    for (const [shard, room] of rooms.entries()) {
      const view = await server.shards.inspect(room);
      assert.equal(view.shard, shard, room);
      assert.notEqual(view.threadId, mainThreadId, `${room} is off the main thread`);
      threads.add(view.threadId);
      // The room answering is the worker's own: it knows its shard, and the sessions that joined over the sockets.
      assert.equal(view.room?.shard, shard);
      assert.deepEqual(
        (view.room?.occupants as Occupant[]).map(({ nick, jid, sessions }) => ({ nick, jid, sessions })),
        [
          { nick: 'Alice', jid: 'alice@localhost', sessions: [alice.fullJid] },
          { nick: 'Bob', jid: 'bob@localhost', sessions: [bob.fullJid] },
        ],
      );
    }
    assert.equal(threads.size, SHARDS, 'one thread per shard');
    assert.equal((await server.shards.inspect(neighbour)).threadId, (await server.shards.inspect(rooms[0])).threadId);
  });

  it('holds only the stalled room’s stanzas; its shard and the others keep answering', async () => {
    const [stalled, otherShard] = rooms;
    const body = (stanza: Element) => stanza.getChildText('body') ?? '';
    const stallTest = (stanza: Element) => stanza.name === 'message' && stanza.attrs.type === 'groupchat' && body(stanza).startsWith('stall-');
    /** The bodies of the next `count` messages of this test the client receives, in order of arrival. */
    const arrivals = async (client: MucTestClient, count: number): Promise<string[]> => {
      const bodies: string[] = [];
      for (let i = 0; i < count; i++) bodies.push(body(await client.client.next(stallTest)));
      return bodies;
    };

    // Queued in the pool now, so it reaches the worker ahead of Alice's messages below.
    server.shards.stall(stalled, STALL_MS);
    alice.say(stalled, 'stall-stalled');
    alice.say(neighbour, 'stall-same-shard');
    alice.say(otherShard, 'stall-other-shard');

    assert.deepEqual((await arrivals(bob, 2)).sort(), ['stall-other-shard', 'stall-same-shard']);
    // Both were answered while the stalled room still holds Alice's message in its mailbox, behind the stall.
    assert.equal((await server.shards.inspect(stalled)).room?.queued, 1);
    assert.deepEqual(await arrivals(bob, 1), ['stall-stalled']);

    // The sender's own round trips come back in the same order.
    const reflected = await arrivals(alice, 3);
    assert.equal(reflected[2], 'stall-stalled', `reflected in the order ${reflected.join(', ')}`);
  });
});
