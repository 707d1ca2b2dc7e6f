// A cluster of three Conclave nodes on one nats-server, all on loopback: two
// in this process, the third a `conclave start` of its own so that it can be
// killed (-9). Clients spread over the nodes share rooms, exchange private
// and user-to-user messages; the killed node is counted out and its rooms
// re-home on the survivors, with their occupants there.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { ownerOf } from '../../src/cluster/placement.js';
import { loadConfig } from '../../src/config/load.js';
import { clusterTiming } from '../../src/config/schema.js';
import { membersBecome, roomOwnedBy, startNode, startThreeNodes, TEST_TIMING, type TestNode, type ThreeNodes } from '../helpers/cluster.js';
import { MucTestClient } from '../helpers/muc-client.js';
import type { TestNats } from '../helpers/nats.js';
import { conclave, IO_THREADS_SKIP, rawClient, type RawClient, type SpawnedServer } from '../helpers/server.js';

const ALL = ['n1', 'n2', 'n3'];

// n1 and n2 serve their clients on the main thread, then on three I/O threads (Node >= 22.12).
for (const ioThreads of [1, 3]) describe(`a cluster of three nodes on NATS (I/O threads: ${ioThreads})`, { skip: ioThreads > 1 ? IO_THREADS_SKIP : undefined }, () => {
  const overrides = { client: { io_threads: ioThreads } };
  let cluster: ThreeNodes;
  let nats: TestNats;
  let config: string;
  let nodes: TestNode[];
  let third: SpawnedServer;
  const clients: { close(): Promise<void> }[] = [];

  before(async () => {
    cluster = await startThreeNodes(overrides);
    ({ nats, nodes, third, config } = cluster);
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await cluster.stop();
  });

  async function login(port: number, name: string): Promise<MucTestClient> {
    const client = await MucTestClient.login(port, name);
    clients.push(client.client);
    return client;
  }

  async function raw(port: number, name: string): Promise<RawClient> {
    const client = await rawClient(port, name);
    clients.push(client);
    return client;
  }

  it('places every room on one node, and the nodes agree on which', () => {
    const owners = Array.from({ length: 60 }, (_, i) => nodes.map((node) => node.cluster.ownerOf(`room${i}@conference.localhost`)));
    for (const views of owners) assert.equal(new Set(views).size, 1, `the nodes disagree: ${views.join(' ')}`);
    assert.deepEqual(new Set(owners.map((views) => views[0])), new Set(ALL));
  });

  it('clients on three nodes share a room owned by one of them: presences, groupchat in order, private messages', async () => {
    const room = roomOwnedBy('n3', ALL, 'shared');
    const alice = await login(nodes[0].port, 'alice');
    const bob = await login(nodes[1].port, 'bob');
    const carol = await login(third.port, 'carol');
    await alice.createRoom(room, 'Alice');
    await bob.join(room, 'Bob');
    await carol.join(room, 'Carol');
    await alice.presenceFrom(`${room}/Carol`);
    await bob.presenceFrom(`${room}/Carol`);

    const count = 30;
    for (let i = 1; i <= count; i++) alice.say(room, `message ${i}`);
    for (const reader of [alice, bob, carol]) {
      for (let i = 1; i <= count; i++) {
        const message = await reader.messageFrom(`${room}/Alice`);
        assert.equal(message.getChildText('body'), `message ${i}`);
      }
    }

    // Senders on three nodes: each node's messages keep their order, and every reader sees the room's one order.
    for (let i = 1; i <= 10; i++) for (const [sender, name] of [[alice, 'a'], [bob, 'b'], [carol, 'c']] as const) sender.say(room, `${name}${i}`);
    const seen = await Promise.all(
      [alice, bob, carol].map(async (reader) => {
        const bodies: string[] = [];
        while (bodies.length < 30) {
          const message = await reader.client.next((stanza) => stanza.name === 'message' && stanza.attrs.type === 'groupchat');
          bodies.push(message.getChildText('body') ?? '');
        }
        return bodies.join(' ');
      }),
    );
    assert.equal(seen[1], seen[0]);
    assert.equal(seen[2], seen[0]);
    for (const name of ['a', 'b', 'c']) {
      const own = seen[0].split(' ').filter((body) => body.startsWith(name));
      assert.deepEqual(own, Array.from({ length: 10 }, (_, i) => `${name}${i + 1}`));
    }

    carol.client.send(`<message type='chat' to='${room}/Bob' id='pm1'><body>psst</body></message>`);
    const pm = await bob.client.next((stanza) => stanza.name === 'message' && stanza.attrs.type === 'chat');
    assert.equal(pm.attrs.from, `${room}/Carol`);
    assert.equal(pm.getChildText('body'), 'psst');
  });

  it('user-to-user stanzas find the recipient on its node: to a full JID, to a bare JID, an iq and its answer', async () => {
    const dave = await raw(nodes[0].port, 'dave');
    const erin = await raw(third.port, 'erin');
    const frank = await raw(nodes[1].port, 'frank');
    // A message to a bare JID goes to an available resource.
    frank.send(`<presence/>`);
    await frank.next((stanza) => stanza.name === 'presence');

    dave.send(`<message type='chat' to='${erin.fullJid}' id='m1'><body>to erin</body></message>`);
    const toErin = await erin.next((stanza) => stanza.name === 'message');
    assert.equal(toErin.attrs.from, dave.fullJid);
    assert.equal(toErin.getChildText('body'), 'to erin');

    dave.send(`<message type='chat' to='frank@localhost' id='m2'><body>to frank</body></message>`);
    const toFrank = await frank.next((stanza) => stanza.name === 'message');
    assert.equal(toFrank.attrs.from, dave.fullJid);

    dave.send(`<iq type='get' to='${erin.fullJid}' id='v1'><query xmlns='jabber:iq:version'/></iq>`);
    const iq = await erin.next((stanza) => stanza.name === 'iq');
    assert.equal(iq.attrs.from, dave.fullJid);
    erin.send(`<iq type='result' to='${dave.fullJid}' id='v1'><query xmlns='jabber:iq:version'><name>erin's client</name></query></iq>`);
    const answer = await dave.reply('v1');
    assert.equal(answer.attrs.type, 'result');
    assert.equal(answer.attrs.from, erin.fullJid);

    // A full JID bound nowhere is answered by the sender's node, as on a single server.
    dave.send(`<iq type='get' to='nobody@localhost/gone' id='v2'><query xmlns='jabber:iq:version'/></iq>`);
    const missing = await dave.reply('v2');
    assert.equal(missing.attrs.type, 'error');
    assert.ok(missing.getChild('error')?.getChild('service-unavailable'));
  });

  it("a block list applies to stanzas from other nodes: refused as from a local sender, the others pass", async () => {
    const olga = await raw(nodes[0].port, 'olga');
    const pete = await raw(third.port, 'pete');
    const quinn = await raw(nodes[1].port, 'quinn');
    olga.send(`<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='pete@localhost'/></block></iq>`);
    assert.equal((await olga.reply('b1')).attrs.type, 'result');
    olga.send(`<presence/>`);
    await olga.next((stanza) => stanza.name === 'presence');

    // A chat message to the bare JID and an iq request are answered service-unavailable; the rest is dropped.
    pete.send(`<message type='chat' to='olga@localhost' id='p1'><body>to the bare JID</body></message>`);
    assert.ok((await pete.next((stanza) => stanza.attrs.id === 'p1')).getChild('error')?.getChild('service-unavailable'));
    pete.send(`<iq type='get' to='${olga.fullJid}' id='p2'><query xmlns='jabber:iq:version'/></iq>`);
    const refused = await pete.reply('p2');
    assert.equal(refused.attrs.type, 'error');
    assert.ok(refused.getChild('error')?.getChild('service-unavailable'));
    pete.send(`<message type='chat' to='${olga.fullJid}' id='p3'><body>to the full JID</body></message>`);
    pete.send(`<presence to='${olga.fullJid}'/>`);
    // Olga's node handles Pete's stanzas in order: once it has refused one more, it has dropped those two.
    pete.send(`<iq type='get' to='${olga.fullJid}' id='p4'><query xmlns='jabber:iq:version'/></iq>`);
    assert.equal((await pete.reply('p4')).attrs.type, 'error');
    quinn.send(`<message type='chat' to='${olga.fullJid}' id='q1'><body>not blocked</body></message>`);
    const next = await olga.next((stanza) => stanza.name === 'message' || (stanza.name === 'presence' && stanza.attrs.from !== olga.fullJid));
    assert.equal(next.attrs.from, quinn.fullJid);
    assert.ok(!olga.queue.some((stanza) => stanza.attrs.from?.startsWith('pete@')), 'nothing of Pete reached Olga');
  });

  it('a node that joins takes only the rooms that now hash to it: the others go on with their occupants', async () => {
    const staying = roomOwnedBy('n2', [...ALL, 'n4'], 'staying');
    const kim = await login(nodes[0].port, 'kim');
    const lee = await login(third.port, 'lee');
    await kim.createRoom(staying, 'Kim');
    await lee.join(staying, 'Lee');
    await kim.presenceFrom(`${staying}/Lee`);

    const fourth = await startNode('n4', nats.url, overrides);
    try {
      await Promise.all([...nodes, fourth].map((node) => membersBecome(node.cluster, [...ALL, 'n4'])));
      const moved = Array.from({ length: 200 }, (_, i) => `room${i}@conference.localhost`).filter((room) => ownerOf(room, ALL) !== ownerOf(room, [...ALL, 'n4']));
      assert.ok(moved.every((room) => fourth.cluster.ownerOf(room) === 'n4'));
      lee.say(staying, 'still here');
      assert.equal((await kim.messageFrom(`${staying}/Lee`)).getChildText('body'), 'still here');
    } finally {
      await fourth.close();
    }
    // A node that stops cleanly says so: it is out at once.
    await Promise.all(nodes.map((node) => membersBecome(node.cluster, ALL)));
  });

  it('refuses a second process with the name of a live node', async () => {
    await assert.rejects(startNode('n1', nats.url), /cluster\.node "n1" .* is already a live node of the cluster/);
  });

  it('conclave cluster status lists every node with its rooms and sessions', async () => {
    const { code, stdout, stderr } = await conclave(['cluster', 'status', '--profile', 'scansion', '--config', config]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^3 node\(s\) answered/m);
    for (const node of ALL) assert.match(stdout, new RegExp(`^${node}\\s+\\d+\\s+\\d+\\s+n1 n2 n3$`, 'm'));
  });

  it('a killed node is out within the bound, its occupants leave the rooms of the others, and its rooms re-home', async (t) => {
    const room = roomOwnedBy('n3', ALL, 'orphan');
    const grace = await login(nodes[0].port, 'grace');
    await grace.createRoom(room, 'Grace');
    const survivor = roomOwnedBy('n1', ALL, 'survivor');
    const judy = await login(nodes[1].port, 'judy');
    const ivan = await login(third.port, 'ivan');
    await judy.createRoom(survivor, 'Judy');
    await ivan.join(survivor, 'Ivan');
    await judy.presenceFrom(`${survivor}/Ivan`);

    const killed = performance.now();
    await third.stop('SIGKILL');
    await Promise.all(nodes.map((node) => membersBecome(node.cluster, ['n1', 'n2'])));
    const bound = (TEST_TIMING.node_timeout_seconds + TEST_TIMING.heartbeat_seconds) * 1000;
    t.diagnostic(`n3 out on both survivors ${Math.round(performance.now() - killed)} ms after kill -9 (bound ${bound} ms)`);
    const gone = await judy.presenceFrom(`${survivor}/Ivan`);
    assert.equal(gone.attrs.type, 'unavailable');

    // The room re-homes on a survivor with the occupant it had there (cluster-rehoming.test.ts tests the rest).
    const owner = nodes[0].cluster.ownerOf(room);
    assert.notEqual(owner, 'n3');
    assert.equal(nodes[1].cluster.ownerOf(room), owner);
    const heidi = await login(nodes[1].port, 'heidi');
    await heidi.join(room, 'Heidi');
    heidi.say(room, 'back');
    assert.equal((await grace.messageFrom(`${room}/Heidi`)).getChildText('body'), 'back');
  });
});

describe('the cluster section', () => {
  it('names the key of a bad node name or timing', () => {
    const cluster = (more: Record<string, unknown>) => ({ cluster: { node: 'n1', nats: { servers: ['nats://127.0.0.1:4222'] }, ...more } });
    assert.throws(() => loadConfig({ overrides: cluster({ node: 'a.b' }) }), /key cluster\.node/);
    assert.throws(() => loadConfig({ overrides: cluster({ heartbeat_seconds: 3 }) }), /cluster\.node_timeout_seconds.*must exceed cluster\.heartbeat_seconds/);
    assert.throws(() => loadConfig({ overrides: cluster({ subject_prefix: 'two words' }) }), /key cluster\.subject_prefix/);
    assert.throws(() => loadConfig({ overrides: cluster({ subject_prefix: 'conclave.>' }) }), /key cluster\.subject_prefix/);
    assert.throws(() => loadConfig({ overrides: cluster({ max_pending_bytes_per_peer: 10 }) }), /key cluster\.max_pending_bytes_per_peer/);
    assert.throws(() => loadConfig({ overrides: cluster({ batch_delay_ms: -1 }) }), /key cluster\.batch_delay_ms/);
    assert.equal(loadConfig({ overrides: cluster({}) }).cluster?.batch_delay_ms, 2);
    assert.equal(loadConfig({ overrides: cluster({ subject_prefix: 'tenant-a.chat' }) }).cluster?.subject_prefix, 'tenant-a.chat');
    assert.throws(() => loadConfig({ overrides: { ...cluster({}), component: { enabled: true, secret: 's' } } }), /client connections only/);
    assert.throws(() => loadConfig({ overrides: { cluster: { node: 'n1' } } }), /key cluster\.nats/);
    assert.deepEqual(clusterTiming(loadConfig({ overrides: cluster({}) }).cluster!), { heartbeat_seconds: 1, node_timeout_seconds: 3 });
  });

  it('conclave start says in one line that NATS is unreachable, naming the key, and exits 2', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    probe.close();
    const folder = await mkdtemp(join(tmpdir(), 'conclave-cluster-'));
    const config = join(folder, 'node.yaml');
    const file = { data_dir: join(folder, 'data'), client: { port: 0 }, cluster: { node: 'n1', nats: { servers: [`nats://127.0.0.1:${port}`] } } };
    await writeFile(config, JSON.stringify(file));
    try {
      const { code, stderr } = await conclave(['start', '--config', config]);
      assert.equal(code, 2);
      assert.match(stderr, /^conclave start: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+ \(cluster\.nats\.servers[^)]*\): .*\n$/i);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
