// Sessions on different I/O threads (`client.io_threads: 3`): they share
// rooms and reach each other as if one thread served them all: user to user,
// directed presence, private messages through a room, the room's deliveries
// going straight from the shard to each thread, also after the shard
// restarts; a resource bound again on another thread replaces the old session
// and its rooms reach it on the new thread; deleting an account ends its
// sessions on every thread. Needs Node >= 22.12 (SO_REUSEPORT): the kernel
// picks each connection's thread, so a client is logged in again until it
// lands on a thread the test wants.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REUSE_PORT_SUPPORTED } from '../../src/config/load.js';
import { counters } from '../../src/ops/counters.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { accountCommand, IO_THREADS_SKIP, rawClient, startTestServer, type RawClient, type TestServer } from '../helpers/server.js';

const ROOM = 'crossing@conference.localhost';
/** With three threads, the odds that this many logins all land on unwanted threads are nil. */
const MAX_LOGINS = 40;

describe('sessions on different I/O threads', { skip: IO_THREADS_SKIP }, () => {
  let server: TestServer;
  let config: string;

  before(async () => {
    server = await startTestServer({ client: { io_threads: 3 }, auth: { backend: 'internal' } });
    config = join(server.dataDir, 'conclave.yaml');
    await writeFile(config, `data_dir: ${JSON.stringify(server.dataDir)}\nlog_level: warn\n`);
    for (const user of ['romeo', 'juliet', 'nurse']) await accountCommand(config, 'adduser', `${user}@localhost`, 'password');
  });

  after(async () => {
    await server.close();
  });

  /** A session of `user` on a thread none of `others` is on. */
  async function loginApart(user: string, ...others: MucTestClient[]): Promise<MucTestClient> {
    const taken = new Set(others.map((other) => threadOf(other)));
    for (let attempt = 0; attempt < MAX_LOGINS; attempt++) {
      const client = await MucTestClient.login(server.port, user);
      // The answer crosses the main thread after the binding did: the session table knows the session now.
      await client.client.ping();
      if (!taken.has(threadOf(client))) return client;
      await client.close();
    }
    throw new Error(`no login of ${user} landed on a thread other than ${[...taken].join(', ')}`);
  }

  function threadOf(client: MucTestClient): number {
    const thread = server.ioThreadOf(client.fullJid);
    assert.notEqual(thread, undefined, `${client.fullJid} is not bound`);
    return thread!;
  }

  /** Romeo creates the room, Juliet joins, and Romeo sees her in. */
  async function meet(room: string, romeo: MucTestClient, juliet: MucTestClient): Promise<void> {
    await romeo.createRoom(room, 'Romeo');
    await juliet.join(room, 'Juliet');
    await romeo.presenceFrom(`${room}/Juliet`);
  }

  /** Juliet says `body` in the room; it crosses from the shard once to each of the two threads, not through the main thread. */
  async function sayStraightToThreads(room: string, romeo: MucTestClient, juliet: MucTestClient, body: string): Promise<void> {
    // The shard answers an inspection after the output it sent before it: the counts are in.
    await server.shards.inspect(room);
    const before = { ...counters };
    juliet.say(room, body);
    assert.equal((await romeo.messageFrom(`${room}/Juliet`)).getChildText('body'), body);
    await juliet.messageFrom(`${room}/Juliet`);
    await server.shards.inspect(room);
    assert.equal(counters.directDeliveries - before.directDeliveries, 2);
    assert.equal(counters.deliveries - before.deliveries, 2);
  }

  test('user to user, directed presence, and a room with private messages', async () => {
    const romeo = await loginApart('romeo');
    const juliet = await loginApart('juliet', romeo);

    romeo.client.send(`<message to='${juliet.fullJid}' type='chat' id='m1'><body>Hello</body></message>`);
    const chat = await juliet.client.next((stanza) => stanza.name === 'message');
    assert.equal(chat.attrs.from, romeo.fullJid);
    assert.equal(chat.getChildText('body'), 'Hello');

    juliet.client.send(`<presence to='${romeo.fullJid}'><show>away</show></presence>`);
    const directed = await romeo.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === juliet.fullJid);
    assert.equal(directed.getChildText('show'), 'away');

    await meet(ROOM, romeo, juliet);
    await sayStraightToThreads(ROOM, romeo, juliet, 'In the room');
    romeo.client.send(`<message to='${ROOM}/Juliet' type='chat' id='pm1'><body>Privately</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`);
    assert.equal((await juliet.messageFrom(`${ROOM}/Romeo`)).getChildText('body'), 'Privately');

    // Juliet's session ends on her thread; Romeo, on his, sees her directed presence undone and her leave the room.
    await juliet.close();
    await romeo.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === juliet.fullJid && stanza.attrs.type === 'unavailable');
    await romeo.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${ROOM}/Juliet` && stanza.attrs.type === 'unavailable');
    await romeo.close();
  });

  test("a shard that dies is linked to every thread again: its occupants hear they were removed, and the room's deliveries go straight to the threads once more", async () => {
    const room = 'phoenix@conference.localhost';
    const romeo = await loginApart('romeo');
    const juliet = await loginApart('juliet', romeo);
    await meet(room, romeo, juliet);

    const removed = (client: MucTestClient, nick: string) =>
      client.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/${nick}` && stanza.toString().includes("code='332'"));
    const told = Promise.all([removed(romeo, 'Romeo'), removed(juliet, 'Juliet')]);
    await server.shards.crashShard(server.shards.shardOf(room));
    await told;

    await meet(room, romeo, juliet);
    await sayStraightToThreads(room, romeo, juliet, 'Again');
    await Promise.all([romeo.close(), juliet.close()]);
  });

  test('binding a resource taken on another thread replaces the old session with conflict, and the room reaches it on its new thread', async () => {
    /** The session that took the JID joins a room: the shard sends to its thread, not the old one. */
    const inRoomOnItsThread = async (newcomer: RawClient): Promise<void> => {
      const room = 'balcony@conference.localhost';
      const romeo = await MucTestClient.login(server.port, 'romeo');
      await romeo.createRoom(room, 'Romeo');
      newcomer.send(`<presence to='${room}/Nurse'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
      await newcomer.next((stanza) => stanza.name === 'message' && stanza.getChild('subject') !== undefined);
      romeo.say(room, 'Anon, good nurse');
      const said = await newcomer.next((stanza) => stanza.name === 'message' && stanza.attrs.from === `${room}/Romeo`);
      assert.equal(said.getChildText('body'), 'Anon, good nurse');
      await Promise.all([romeo.close(), newcomer.close()]);
    };

    let old = await rawClient(server.port, 'nurse', 'phone');
    await old.ping();
    let oldThread = server.ioThreadOf(old.fullJid);
    // The newcomer replaces the old session wherever it lands; the test goes on until it lands on another thread.
    for (let attempt = 0; attempt < MAX_LOGINS; attempt++) {
      const newcomer = await rawClient(server.port, 'nurse', 'phone');
      assert.equal(await old.streamError(), 'conflict');
      await newcomer.ping();
      const thread = server.ioThreadOf(newcomer.fullJid);
      if (thread !== oldThread) return await inRoomOnItsThread(newcomer);
      [old, oldThread] = [newcomer, thread];
    }
    throw new Error('no login landed on another thread');
  });

  test("deleting an account ends its sessions on every thread", async () => {
    const sessions = [await loginApart('juliet')];
    sessions.push(await loginApart('juliet', ...sessions));
    sessions.push(await loginApart('juliet', ...sessions));
    await accountCommand(config, 'deluser', 'juliet@localhost');
    for (const session of sessions) assert.equal(await session.client.streamError(), 'not-authorized');
  });
});

test('without SO_REUSEPORT (Node < 22.12) the main thread serves clients, whatever io_threads says', { skip: REUSE_PORT_SUPPORTED ? 'this Node runs the I/O threads' : undefined }, async () => {
  const server = await startTestServer({ client: { io_threads: 3 } });
  try {
    assert.equal(server.settings.ioThreadCount, 1);
    const client = await rawClient(server.port, 'romeo');
    await client.ping();
    assert.equal(server.ioThreadOf(client.fullJid), 0);
    await client.close();
  } finally {
    await server.close();
  }
});

test('on I/O threads a reload reaches new streams, and shutting down ends every stream with system-shutdown', { skip: IO_THREADS_SKIP }, async () => {
  const server = await startTestServer({ client: { io_threads: 3 } });
  const before = await rawClient(server.port, 'romeo');
  assert.deepEqual(server.reload({ ...server.settings, limits: { ...server.settings.limits, max_stanza_size: 2048 } }), []);
  // Every thread applies it; whichever serves this login, its stream has the new limit.
  const after = await rawClient(server.port, 'juliet');
  after.send(`<message to='${before.fullJid}'><body>${'x'.repeat(4096)}</body></message>`);
  assert.equal(await after.streamError(), 'policy-violation');
  const shutdown = before.streamError();
  await server.close();
  assert.equal(await shutdown, 'system-shutdown');
});
