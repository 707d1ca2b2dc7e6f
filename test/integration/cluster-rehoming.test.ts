// Rooms that change owner in a cluster of three nodes on one nats-server:
// kill -9 of the node that owns a busy room (the room comes back on a
// survivor with its affiliations, archive and surviving occupants; the
// killed node's occupants are announced as gone), and a node that joins
// under traffic (the rooms that now hash to it move with their live state,
// and every occupant gets every sender's messages once and in order), and a
// node stopped cleanly under traffic (it hands its room over the same way;
// its own occupant hears 332), with the surviving nodes' clients on the main
// thread and then on three I/O threads.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Element } from '../../src/xml/element.js';
import { membersBecome, roomOwnedBy, spawnNode, startNode, startThreeNodes, TEST_TIMING, type TestNode, type ThreeNodes } from '../helpers/cluster.js';
import { MucTestClient } from '../helpers/muc-client.js';
import type { TestNats } from '../helpers/nats.js';
import { IO_THREADS_SKIP, type SpawnedServer } from '../helpers/server.js';

const MUC_USER = 'http://jabber.org/protocol/muc#user';
const MAM = 'urn:xmpp:mam:2';

function statusCodes(presence: Element): string[] {
  return (presence.getChild('x', MUC_USER)?.getChildren('status') ?? []).map((status) => status.attrs.code);
}

function isGroupchat(stanza: Element): boolean {
  return stanza.name === 'message' && stanza.attrs.type === 'groupchat' && stanza.getChild('body') !== undefined;
}

/**
 * Senders saying numbered messages (`<name> <n>`) in a room until `changed()`
 * and 40 more each, so that they race a change of owner on both sides of it.
 */
function sequences(room: string, senders: readonly (readonly [MucTestClient, string])[], changed: () => boolean) {
  const sent = new Map<string, number>();
  const flows = senders.map(async ([sender, name]) => {
    let i = 0;
    for (let after = 0; after < 40; after += changed() ? 1 : 0) {
      sender.say(room, `${name} ${++i}`);
      sent.set(name, i);
      await sleep(5);
    }
  });
  return {
    /** Once the flows are over, each sender says `<name> end`. */
    async end(): Promise<void> {
      await Promise.all(flows);
      for (const [sender, name] of senders) sender.say(room, `${name} end`);
    },
    /** Asserts that `reader` got every sender's messages once and in order; resolves with the room's order as it saw it. */
    async readBy(reader: MucTestClient): Promise<string[]> {
      const order: string[] = [];
      const bodies = new Map<string, string[]>(senders.map(([, name]) => [name, []]));
      for (let ends = 0; ends < senders.length; ) {
        const body = (await reader.client.next(isGroupchat)).getChildText('body') ?? '';
        order.push(body);
        const [name, seq] = body.split(' ');
        if (seq === 'end') ends++;
        else bodies.get(name)?.push(seq);
      }
      for (const [, name] of senders) {
        assert.deepEqual(bodies.get(name), Array.from({ length: sent.get(name)! }, (_, i) => String(i + 1)), `what ${reader.fullJid} got from ${name}`);
      }
      return order;
    },
  };
}

// The surviving nodes serve their clients on the main thread, then on three I/O threads (Node >= 22.12).
for (const ioThreads of [1, 3]) describe(`rooms that change owner in a cluster (I/O threads: ${ioThreads})`, { skip: ioThreads > 1 ? IO_THREADS_SKIP : undefined }, () => {
  const overrides = { client: { io_threads: ioThreads } };
  let cluster: ThreeNodes;
  let nats: TestNats;
  let nodes: TestNode[];
  let third: SpawnedServer;
  const clients: MucTestClient[] = [];

  before(async () => {
    cluster = await startThreeNodes(overrides);
    ({ nats, nodes, third } = cluster);
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await cluster.stop();
  });

  async function login(port: number, name: string): Promise<MucTestClient> {
    const client = await MucTestClient.login(port, name);
    clients.push(client);
    return client;
  }

  it('kill -9 of the owner of a busy room: the room is back on a survivor with its affiliations, archive and surviving occupants', async (t) => {
    const room = roomOwnedBy('n3', ['n1', 'n2', 'n3'], 'busy');
    const alice = await login(nodes[0].port, 'alice');
    const bob = await login(nodes[1].port, 'bob');
    const carol = await login(third.port, 'carol');
    await alice.createRoom(room, 'Alice', { 'muc#roomconfig_persistentroom': '1' });
    await alice.setAffiliation(room, 'bob@localhost', 'member');
    await bob.join(room, 'Bob');
    await carol.join(room, 'Carol');
    await alice.presenceFrom(`${room}/Carol`);
    await bob.presenceFrom(`${room}/Carol`);
    for (let i = 1; i <= 10; i++) alice.say(room, `before ${i}`);
    for (let i = 1; i <= 10; i++) assert.equal((await bob.messageFrom(`${room}/Alice`)).getChildText('body'), `before ${i}`);
    // An acknowledged change, after the archived messages: the store has both once it is answered.
    await alice.setAffiliation(room, 'dave@localhost', 'admin');
    // A temporary room of the same node, its configuration and affiliations changed.
    const temporary = roomOwnedBy('n3', ['n1', 'n2', 'n3'], 'temporary');
    await alice.createRoom(temporary, 'Alice', { 'muc#roomconfig_roomname': 'Kept' });
    await alice.setAffiliation(temporary, 'zed@localhost', 'member');

    // Messages flow while the owner dies: Carol's node's and the survivors'.
    let flowing = true;
    const flow = (async () => {
      for (let i = 1; flowing; i++) {
        bob.say(room, `flow ${i}`);
        await sleep(10);
      }
    })();
    await bob.messageFrom(`${room}/Bob`);
    const killed = performance.now();
    await third.stop('SIGKILL');
    const gone = await alice.presenceFrom(`${room}/Carol`);
    const back = performance.now() - killed;
    flowing = false;
    await flow;
    t.diagnostic(`room back on ${nodes[0].cluster.ownerOf(room)} ${Math.round(back)} ms after kill -9 of its owner (detector: heartbeat ${TEST_TIMING.heartbeat_seconds} s, timeout ${TEST_TIMING.node_timeout_seconds} s)`);
    assert.equal(gone.attrs.type, 'unavailable');
    assert.deepEqual(statusCodes(gone), ['333']);
    assert.equal((await bob.presenceFrom(`${room}/Carol`)).attrs.type, 'unavailable');

    // The survivors are still in the room, without rejoining: they speak and hear.
    bob.say(room, 'after the failover');
    for (const reader of [alice, bob]) {
      let message = await reader.messageFrom(`${room}/Bob`);
      while (message.getChildText('body')?.startsWith('flow ')) message = await reader.messageFrom(`${room}/Bob`);
      assert.equal(message.getChildText('body'), 'after the failover');
    }
    alice.say(room, 'and the owner too');
    assert.equal((await bob.messageFrom(`${room}/Alice`)).getChildText('body'), 'and the owner too');
    for (const [reader, nick] of [[alice, 'Alice'], [bob, 'Bob']] as const) {
      const left = reader.client.queue.filter((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'unavailable' && stanza.attrs.from !== `${room}/Carol`);
      assert.deepEqual(left.map(String), [], `${nick} saw someone leave`);
    }

    // The acknowledged changes and the archive are intact; the owner is still the owner.
    assert.deepEqual((await alice.affiliationList(room, 'member')).map((item) => item.attrs.jid), ['bob@localhost']);
    assert.deepEqual((await alice.affiliationList(room, 'admin')).map((item) => item.attrs.jid), ['dave@localhost']);
    alice.client.send(`<iq type='set' id='mam1' to='${room}'><query xmlns='${MAM}' queryid='q1'><set xmlns='http://jabber.org/protocol/rsm'><max>1000</max></set></query></iq>`);
    const archived: string[] = [];
    for (;;) {
      const stanza = await alice.client.next((s) => (s.name === 'message' && s.getChild('result', MAM) !== undefined) || (s.name === 'iq' && s.attrs.id === 'mam1'));
      if (stanza.name === 'iq') break;
      archived.push(stanza.getChild('result', MAM)?.getChild('forwarded')?.getChild('message')?.getChildText('body') ?? '');
    }
    assert.deepEqual(archived.filter((body) => body.startsWith('before ')), Array.from({ length: 10 }, (_, i) => `before ${i + 1}`));

    // The temporary room kept its configuration and affiliations in the shared state, and its owner.
    const info = await alice.iq('get', temporary, `<query xmlns='http://jabber.org/protocol/disco#info'/>`);
    assert.equal(info.getChild('query')?.getChild('identity')?.attrs.name, 'Kept');
    assert.deepEqual((await alice.affiliationList(temporary, 'member')).map((item) => item.attrs.jid), ['zed@localhost']);
  });

  it('a node that joins under traffic: the rooms that now hash to it move, and every sequence arrives complete, once and in order', async () => {
    // Whoever is left of the three: the room moves from n1 to the newcomer.
    const members = [...nodes[0].cluster.members];
    const room = roomOwnedBy('n1', members, 'moving', { then: 'n4', members: [...members, 'n4'] });
    const erin = await login(nodes[0].port, 'erin');
    const frank = await login(nodes[1].port, 'frank');
    const grace = await login(nodes[1].port, 'grace');
    await erin.createRoom(room, 'Erin');
    await frank.join(room, 'Frank');
    await grace.join(room, 'Grace');
    await erin.presenceFrom(`${room}/Grace`);
    await frank.presenceFrom(`${room}/Grace`);
    erin.say(room, 'history');
    for (const reader of [erin, frank, grace]) await reader.messageFrom(`${room}/Erin`);

    let joined = false;
    const flow = sequences(
      room,
      [
        [erin, 'e'],
        [frank, 'f'],
      ],
      () => joined,
    );
    const fourth = await startNode('n4', nats.url, overrides);
    try {
      await Promise.all([...nodes, fourth].map((node) => membersBecome(node.cluster, [...members, 'n4'])));
      joined = true;
      await flow.end();
      // The room's one order, as a reader saw it (the senders' messages interleave as their nodes' paths let them).
      let order: string[] = [];
      for (const reader of [erin, frank, grace]) order = await flow.readBy(reader);
      // The room lives on the new node now, with its occupants and history.
      assert.equal(fourth.cluster.ownerOf(room), 'n4');
      const hank = await login(fourth.port, 'hank');
      hank.client.send(`<presence to='${room}/Hank'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
      const seen = new Set<string>();
      const history: string[] = [];
      for (;;) {
        const stanza = await hank.client.next((s) => s.name === 'presence' || s.name === 'message');
        if (stanza.name === 'presence') seen.add(stanza.attrs.from ?? '');
        else if (stanza.getChild('subject') !== undefined) break;
        else if (isGroupchat(stanza)) history.push(stanza.getChildText('body') ?? '');
      }
      assert.deepEqual([...seen].sort(), [`${room}/Erin`, `${room}/Frank`, `${room}/Grace`, `${room}/Hank`]);
      assert.deepEqual(history.slice(-2), order.slice(-2));
    } finally {
      await fourth.close();
    }
  });

  it('a node stopped cleanly under traffic hands its room over: no failover, and every sequence arrives complete, once and in order', async () => {
    const members = [...nodes[0].cluster.members];
    const room = roomOwnedBy('n5', [...members, 'n5'], 'draining');
    const folder = await mkdtemp(join(tmpdir(), 'conclave-cluster-'));
    const { server: fifth } = await spawnNode('n5', nats.url, folder);
    try {
      await Promise.all(nodes.map((node) => membersBecome(node.cluster, [...members, 'n5'])));
      const ida = await login(nodes[0].port, 'ida');
      const jack = await login(nodes[1].port, 'jack');
      const kate = await login(fifth.port, 'kate');
      await ida.createRoom(room, 'Ida', { 'muc#roomconfig_persistentroom': '1' });
      await jack.join(room, 'Jack');
      await kate.join(room, 'Kate');
      await ida.presenceFrom(`${room}/Kate`);
      await jack.presenceFrom(`${room}/Kate`);
      const taken = nodes.map((node) => new Map(node.cluster.health().taken));

      let stopped = false;
      const flow = sequences(
        room,
        [
          [ida, 'i'],
          [jack, 'j'],
        ],
        () => stopped,
      );
      await ida.client.arrived((stanza) => isGroupchat(stanza) && stanza.attrs.from === `${room}/Jack`);
      assert.equal(await fifth.stop('SIGTERM'), 0);
      stopped = true;
      await flow.end();
      for (const reader of [ida, jack]) {
        await flow.readBy(reader);        // Kate's session ended with her node; nobody else left, nobody rejoined.
        const left = reader.client.queue.filter((stanza) => stanza.name === 'presence' && stanza.attrs.type === 'unavailable');
        assert.deepEqual(left.map((presence) => presence.attrs.from), [`${room}/Kate`]);
      }
      // Kate heard that she was removed as the server shut down, before her stream ended.
      const removed = kate.client.queue.find((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/Kate` && stanza.attrs.type === 'unavailable');
      assert.deepEqual(removed && statusCodes(removed).sort(), ['110', '332']);

      // The room's new owner took it handed over, not rebuilt.
      const owner = nodes.findIndex((node) => node.cluster.ownerOf(room) === node.cluster.self);
      const now = nodes[owner].cluster.health().taken;
      assert.equal(now.get('rebuilt') ?? 0, taken[owner].get('rebuilt') ?? 0);
      assert.ok((now.get('handed-over') ?? 0) > (taken[owner].get('handed-over') ?? 0), 'the room came with its live state');
    } finally {
      await fifth.stop('SIGKILL');
      await rm(folder, { recursive: true, force: true });
    }
  });
});
