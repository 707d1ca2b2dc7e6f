// A cluster whose NATS fails under it, on a real nats-server: stopped and
// restarted under traffic, and one node cut off from it (through a TCP proxy
// the test severs) while the other goes on. Every revision of a room's entry
// in the shared store is watched: no epoch is ever written by two nodes, the
// epochs never go back, and no acknowledged write is lost; while a node is cut
// off it answers `wait`, and service resumes by itself once NATS is back.
// Also: the session snapshot in parts under a small max_payload, and the cap on
// what one node may have pending toward a peer that has stopped.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as natsConnect, StorageType, type NatsConnection } from 'nats';
import type { ClusterNode } from '../../src/cluster/node.js';
import type { Element } from '../../src/xml/element.js';
import { membersBecome, roomOwnedBy, startNode, type TestNode } from '../helpers/cluster.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { rawClient, spawnServer, startTestServer, type RawClient } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const BOTH = ['n1', 'n2'];
const HTTP = { http: { enabled: true, port: 0 } };

function memberItem(jid: string): string {
  return `<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='${jid}'/></query>`;
}

/** Resolves once the node's NATS connection is up (true) or down (false). */
function connectionBecomes(cluster: ClusterNode, up: boolean): Promise<void> {
  if (cluster.health().connected === up) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = cluster.onConnection((now) => {
      if (now !== up) return;
      stop();
      resolve();
    });
  });
}

async function ready(node: TestNode): Promise<{ status: number; body: { ready: boolean; cluster?: string; checks: Record<string, boolean> } }> {
  const response = await fetch(`http://127.0.0.1:${node.httpPort}/ready`);
  return { status: response.status, body: (await response.json()) as never };
}

async function metric(node: TestNode, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
  const match = line.exec(text);
  return match ? Number(match[1]) : 0;
}

/** The error condition and type of an error stanza. */
function errorOf(stanza: Element): string {
  const error = stanza.getChild('error');
  return `${error?.attrs.type} ${error?.children.find((child) => typeof child !== 'string' && child.name !== 'text')?.toString() ?? ''}`;
}

/** A revision of a room's entry in the shared store. */
interface Revision {
  revision: number;
  owner: string;
  epoch: number;
  members: string[];
}

/**
 * The rooms' bucket, created before any node with the most history JetStream
 * keeps (64 revisions a key; the nodes take the bucket as they find it), so
 * that every write a room's entry went through can be read back at the end.
 */
async function roomsWithHistory(url: string): Promise<{ revisions(room: string): Promise<Revision[]>; close(): Promise<void> }> {
  const connection: NatsConnection = await natsConnect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const kv = await connection.jetstream().views.kv('conclave_rooms', { history: 64, storage: StorageType.File });
  return {
    async revisions(room) {
      const revisions: Revision[] = [];
      for await (const entry of await kv.history({ key: Buffer.from(room).toString('base64url') })) {
        if (entry.operation !== 'PUT') continue;
        const value = entry.json<{ owner: string; epoch: number; affiliations: [string, { affiliation: string }][] }>();
        const members = value.affiliations.filter(([, item]) => item.affiliation === 'member').map(([jid]) => jid);
        revisions.push({ revision: entry.revision, owner: value.owner, epoch: value.epoch, members });
      }
      assert.ok(revisions.length < 64, 'the history holds every revision');
      return revisions.sort((a, b) => a.revision - b.revision);
    },
    close: () => connection.close(),
  };
}

/** No epoch of the room was written by two nodes, and its epochs never went back. */
function assertOneOwnerPerEpoch(revisions: Revision[]): void {
  const ownerOfEpoch = new Map<number, string>();
  let epoch = 0;
  for (const revision of revisions) {
    assert.ok(revision.epoch >= epoch, `epoch ${revision.epoch} written after epoch ${epoch} (revision ${revision.revision})`);
    epoch = revision.epoch;
    const owner = ownerOfEpoch.get(revision.epoch) ?? revision.owner;
    assert.equal(revision.owner, owner, `epoch ${revision.epoch} written by ${owner} and by ${revision.owner}`);
    ownerOfEpoch.set(revision.epoch, owner);
  }
}

/**
 * Owner `client` of node `node` adds members to `room` one after the other,
 * as fast as answered, until stopped: each acknowledged one is recorded; a
 * `wait` answer is counted (and the next try comes a moment later); any other
 * answer fails. A request whose answer was on its way when the node lost NATS
 * is left unanswered (NATS delivers at most once), and so is given up.
 */
function addMembers(client: MucTestClient, room: string, node: ClusterNode) {
  const acked: string[] = [];
  let waits = 0;
  let unanswered = 0;
  let stopped = false;
  const listeners = new Set<() => void>();
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!done()) return;
        listeners.delete(check);
        resolve();
      };
      listeners.add(check);
      check();
    });
  const running = (async () => {
    for (let i = 0; !stopped; i++) {
      const jid = `member${i}@localhost`;
      let stopWatching = () => {};
      const lost = new Promise<string>((resolve) => (stopWatching = node.onConnection((connected) => connected || resolve('lost'))));
      const refused = await Promise.race([
        client.iq('set', room, memberItem(jid)).then(
          () => undefined,
          (err: Error) => err.message,
        ),
        lost,
      ]);
      stopWatching();
      if (refused === undefined) acked.push(jid);
      else if (refused === 'lost') unanswered++;
      else if (/type=["']wait["']/.test(refused)) waits++;
      else throw new Error(`a write was refused for good: ${refused}`);
      for (const check of [...listeners]) check();
      // Refused at once while cut off: no need to spin.
      if (refused !== undefined) await sleep(20);
    }
  })();
  return {
    acked,
    /** Resolves once `count` writes in all were answered `wait`. */
    refusals: (count: number) => until(() => waits >= count),
    /** Resolves once `count` writes in all were acknowledged. */
    acknowledged: (count: number) => until(() => acked.length >= count),
    unanswered: () => unanswered,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

describe('a cluster while its NATS is stopped and restarted under traffic', { timeout: 180_000 }, () => {
  let nats: TestNats;
  let nodes: TestNode[];
  let store: Awaited<ReturnType<typeof roomsWithHistory>>;
  const clients: { close(): Promise<void> }[] = [];

  before(async () => {
    nats = await startNats();
    store = await roomsWithHistory(nats.url);
    nodes = [await startNode('n1', nats.url, HTTP), await startNode('n2', nats.url, HTTP)];
    await Promise.all(nodes.map((node) => membersBecome(node.cluster, BOTH)));
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await Promise.all(nodes.map((node) => node.close()));
    await store.close();
    await nats.stop();
  });

  it('answers wait while NATS is away, says so on /ready, resumes by itself, and no epoch of a room has two writers', async (t) => {
    const [n1, n2] = nodes;
    const room = roomOwnedBy('n2', BOTH, 'outage');
    const alice = await MucTestClient.login(n1.port, 'alice');
    const bob = await MucTestClient.login(n2.port, 'bob');
    clients.push(alice, bob);
    await alice.createRoom(room, 'Alice', { 'muc#roomconfig_persistentroom': '1' });
    await bob.join(room, 'Bob');
    await alice.presenceFrom(`${room}/Bob`);

    const writes = addMembers(alice, room, n1.cluster);
    await writes.acknowledged(5);
    await nats.kill();
    await Promise.all(nodes.map((node) => connectionBecomes(node.cluster, false)));

    for (const node of nodes) {
      const { status, body } = await ready(node);
      assert.equal(status, 503);
      assert.equal(body.cluster, 'disconnected');
      assert.equal(body.checks.cluster, false);
      assert.equal(await metric(node, /^conclave_cluster_connected (\d+)$/m), 0);
    }
    await writes.refusals(3);
    alice.client.send(`<message type='chat' to='${bob.fullJid}' id='u1'><body>are you there?</body></message>`);
    const refused = await alice.client.next((stanza) => stanza.name === 'message' && stanza.attrs.id === 'u1');
    assert.equal(refused.attrs.type, 'error', 'a message to a session of another node is answered, not dropped');
    assert.match(errorOf(refused), /^wait <resource-constraint/);
    alice.say(room, 'into the void');
    const roomRefusal = await alice.client.next((stanza) => stanza.name === 'message' && stanza.attrs.type === 'error');
    assert.match(errorOf(roomRefusal), /^wait <resource-constraint/);
    assert.ok((await metric(n1, /^conclave_cluster_refused_total\{reason="unreachable"\} (\d+)$/m)) >= 2);

    // Long enough for each node to count the other out: both drop their rooms when NATS is back.
    await Promise.all([membersBecome(n1.cluster, ['n1']), membersBecome(n2.cluster, ['n2'])]);
    await nats.restart();
    await Promise.all(nodes.map((node) => connectionBecomes(node.cluster, true)));
    await Promise.all(nodes.map((node) => membersBecome(node.cluster, BOTH)));
    for (const node of nodes) {
      const { status, body } = await ready(node);
      assert.equal(status, 200);
      assert.equal(body.cluster, 'connected');
      assert.equal(await metric(node, /^conclave_cluster_disconnects_total (\d+)$/m), 1);
    }

    // The writes go through again by themselves.
    await writes.acknowledged(writes.acked.length + 5);
    await writes.stop();
    t.diagnostic(`${writes.acked.length} writes acknowledged, ${writes.unanswered()} unanswered as NATS went`);

    // Bob's node was counted out: its copy of the room ended, and he heard so (332).
    const ended = await bob.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/Bob` && stanza.attrs.type === 'unavailable');
    assert.match(ended.toString(), /code=["']332["']/);
    await bob.join(room, 'Bob');
    await alice.join(room, 'Alice');
    alice.say(room, 'back');
    assert.equal((await bob.messageFrom(`${room}/Alice`)).getChildText('body'), 'back');

    const members = (await alice.affiliationList(room, 'member')).map((item) => item.attrs.jid);
    for (const jid of writes.acked) assert.ok(members.includes(jid), `acknowledged member ${jid} is kept`);
    const revisions = await store.revisions(room);
    assertOneOwnerPerEpoch(revisions);
    for (const jid of writes.acked) assert.ok(revisions.some((revision) => revision.members.includes(jid)), `${jid} was written`);
  });
});

describe('one node cut off from NATS while the other goes on', { timeout: 180_000 }, () => {
  it("answers wait on the cut-off node; the other takes its room at a higher epoch; back, it drops its copy and serves the room's stored state", async () => {
    const nats = await startNats();
    const port = Number(new URL(nats.url).port);
    const proxy = await startTcpProxy('127.0.0.1', port);
    const store = await roomsWithHistory(nats.url);
    const n1 = await startNode('n1', `nats://127.0.0.1:${proxy.port}`, HTTP);
    const n2 = await startNode('n2', nats.url, HTTP);
    const clients: { close(): Promise<void> }[] = [];
    try {
      await Promise.all([n1, n2].map((node) => membersBecome(node.cluster, BOTH)));
      const room = roomOwnedBy('n1', BOTH, 'island');
      const alice = await MucTestClient.login(n1.port, 'alice');
      const bob = await MucTestClient.login(n2.port, 'bob');
      const carol = await MucTestClient.login(n2.port, 'carol');
      clients.push(alice, bob, carol);
      await alice.createRoom(room, 'Alice', { 'muc#roomconfig_persistentroom': '1', 'muc#roomconfig_roomname': 'Island' });
      await alice.setAffiliation(room, carol.fullJid.split('/')[0], 'admin');
      await bob.join(room, 'Bob');

      await proxy.sever();
      await connectionBecomes(n1.cluster, false);
      const { status, body } = await ready(n1);
      assert.equal(status, 503);
      assert.equal(body.cluster, 'disconnected');
      assert.equal((await ready(n2)).status, 200, 'the other node is still ready');

      // Cut off, n1 acts as no room's owner: its own room included.
      await assert.rejects(alice.iq('set', room, memberItem('mallory@localhost')), /type=["']wait["'][^]*resource-constraint/);
      alice.client.send(`<message type='chat' to='${carol.fullJid}' id='u1'><body>hello?</body></message>`);
      const refused = await alice.client.next((stanza) => stanza.name === 'message' && stanza.attrs.id === 'u1');
      assert.match(errorOf(refused), /^wait <resource-constraint/);

      // n2 counts n1 out and takes the room from the store, at a higher epoch.
      await membersBecome(n2.cluster, ['n2']);
      await carol.join(room, 'Carol');
      await carol.setAffiliation(room, 'dave@localhost', 'member');
      await bob.join(room, 'Bob');
      carol.say(room, 'n2 has it');
      assert.equal((await bob.messageFrom(`${room}/Carol`)).getChildText('body'), 'n2 has it');
      assert.equal((await store.revisions(room)).at(-1)?.owner, 'n2', 'n2 took the lease');

      await proxy.restore();
      // Counted out meanwhile, n1 ended its copy: alice heard 332.
      const ended = await alice.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === `${room}/Alice` && stanza.attrs.type === 'unavailable');
      assert.match(ended.toString(), /code=["']332["']/);
      await connectionBecomes(n1.cluster, true);
      await Promise.all([n1, n2].map((node) => membersBecome(node.cluster, BOTH)));
      assert.equal((await ready(n1)).status, 200);

      // The room hashes to n1 again: it loads what n2 wrote, not its stale copy.
      await alice.join(room, 'Alice');
      const members = (await alice.affiliationList(room, 'member')).map((item) => item.attrs.jid);
      assert.deepEqual(members, ['dave@localhost']);
      const revisions = await store.revisions(room);
      assertOneOwnerPerEpoch(revisions);
      const owners = revisions.map((revision) => revision.owner);
      assert.deepEqual(
        owners.filter((owner, i) => i === 0 || owners[i - 1] !== owner),
        ['n1', 'n2', 'n1'],
        'n1 wrote nothing while n2 held the room',
      );
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await n1.close();
      await n2.close();
      await store.close();
      await proxy.close();
      await nats.stop();
    }
  });
});

describe('the session directory of a node with more sessions than one NATS message holds', { timeout: 120_000 }, () => {
  it('reaches a joining node in parts: it routes to every one of them', async () => {
    // 4 KiB messages: ten sessions with resources of 900 characters take three.
    const nats = await startNats({ maxPayload: 4096 });
    const n1 = await startNode('n1', nats.url);
    const sessions: RawClient[] = [];
    let n2: TestNode | undefined;
    try {
      for (let i = 0; i < 10; i++) sessions.push(await rawClient(n1.port, `user${i}`, `r${i}-`.padEnd(900, 'x')));
      n2 = await startNode('n2', nats.url);
      await Promise.all([n1, n2].map((node) => membersBecome(node.cluster, BOTH)));
      const sender = await rawClient(n2.port, 'sender');
      sessions.push(sender);
      // n2 learns of these sessions only from n1's snapshot, which it asks for when the two meet.
      let attempt = 0;
      for (const session of sessions.slice(0, 10)) {
        for (;;) {
          const id = `m${attempt++}`;
          sender.send(`<message type='chat' to='${session.fullJid}' id='${id}'><body>hi</body></message>`);
          const answer = await Promise.race([
            session.next((stanza) => stanza.name === 'message' && stanza.attrs.id === id).then(() => 'delivered'),
            sender.next((stanza) => stanza.attrs.id === id && stanza.attrs.type === 'error').then(() => 'error'),
          ]);
          if (answer === 'delivered') break;
          // The snapshot may still be on its way.
          await sleep(50);
        }
      }
    } finally {
      await Promise.all(sessions.map((session) => session.close()));
      await n2?.close();
      await n1.close();
      await nats.stop();
    }
  });
});

/** Node n2 as a process of its own that a test may stop (SIGSTOP), and n1 in this process, its cap toward n2 1 KiB; n2 is not counted out while stopped. */
async function nodeAndStoppablePeer() {
  const nats = await startNats();
  const timing = { heartbeat_seconds: 0.2, node_timeout_seconds: 600 };
  const folder = await mkdtemp(join(tmpdir(), 'conclave-cluster-flow-'));
  const config = join(folder, 'n2.yaml');
  const cluster2 = { node: 'n2', nats: { servers: [nats.url] }, ...timing };
  await writeFile(config, JSON.stringify({ data_dir: join(folder, 'data'), log_level: 'warn', client: { port: 0, io_threads: 1 }, muc: { shards: 1 }, cluster: cluster2 }));
  const peer = await spawnServer(['--profile', 'scansion', '--config', config]);
  const n1 = (await startTestServer({
    ...HTTP,
    muc: { shards: 1 },
    cluster: { node: 'n1', nats: { servers: [nats.url] }, ...timing, max_pending_bytes_per_peer: 1024 },
  })) as TestNode;
  await membersBecome(n1.cluster, BOTH);
  return {
    n1,
    peer,
    async stop() {
      peer.process.kill('SIGCONT');
      await peer.stop('SIGKILL');
      await n1.close();
      await nats.stop();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

describe('a node whose peer stops reading', { timeout: 120_000 }, () => {
  it('caps what it has pending toward it: past the cap, stanzas for it get wait; once it reads again, they go', async () => {
    const { n1, peer, stop } = await nodeAndStoppablePeer();
    const clients: { close(): Promise<void> }[] = [];
    try {
      const room = roomOwnedBy('n2', BOTH, 'stalled');
      const alice = await MucTestClient.login(n1.port, 'alice');
      clients.push(alice);
      await alice.createRoom(room, 'Alice');

      peer.process.kill('SIGSTOP');
      let sent = 0;
      for (;;) {
        alice.client.send(`<message type='groupchat' to='${room}' id='g${sent}'><body>${'x'.repeat(100)}</body></message>`);
        sent++;
        // Each is either on its way (answered later) or refused now: wait for the first refusal.
        const refusal = alice.client.queue.find((stanza) => stanza.attrs.type === 'error');
        if (refusal) {
          assert.match(errorOf(refusal), /^wait <resource-constraint/);
          break;
        }
        await sleep(10);
      }
      assert.ok(sent > 1, 'the first messages went');
      assert.ok((await metric(n1, /^conclave_cluster_refused_total\{reason="peer_full"\} (\d+)$/m)) >= 1);

      peer.process.kill('SIGCONT');
      // The peer handles what it was sent and acknowledges it: the room echoes the messages that went, then takes new ones.
      await alice.client.next((stanza) => stanza.name === 'message' && stanza.attrs.id === 'g0' && stanza.attrs.type === 'groupchat');
      for (;;) {
        alice.say(room, 'after');
        const answer = await alice.client.next((stanza) => stanza.name === 'message' && (stanza.getChildText('body') === 'after' || stanza.attrs.type === 'error'));
        if (answer.attrs.type === 'groupchat') break;
        await sleep(50);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await stop();
    }
  });

  it("holds a room's deliveries for it past the cap, and sends them, all and in order, once it reads again", async () => {
    const { n1, peer, stop } = await nodeAndStoppablePeer();
    const clients: { close(): Promise<void> }[] = [];
    try {
      const room = roomOwnedBy('n1', BOTH, 'held');
      const alice = await MucTestClient.login(n1.port, 'alice');
      const bob = await MucTestClient.login(peer.port, 'bob');
      clients.push(alice, bob);
      await alice.createRoom(room, 'Alice');
      await bob.join(room, 'Bob');
      await alice.presenceFrom(`${room}/Bob`);

      peer.process.kill('SIGSTOP');
      // Alice's messages reach the room here; Bob's copies go to his stopped node until its cap is reached, then wait here.
      let sent = 0;
      while (n1.cluster.health().held < 2) {
        alice.say(room, `m${++sent}`);
        await alice.messageFrom(`${room}/Alice`);
      }
      assert.equal(await metric(n1, /^conclave_cluster_held_deliveries (\d+)$/m), n1.cluster.health().held);
      peer.process.kill('SIGCONT');
      for (let i = 1; i <= sent; i++) assert.equal((await bob.messageFrom(`${room}/Alice`)).getChildText('body'), `m${i}`);
      assert.equal(n1.cluster.health().dropped.get('peer_full') ?? 0, 0, 'none dropped');
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await stop();
    }
  });
});
