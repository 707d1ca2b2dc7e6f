// The cluster store on a real nats-server: each operation of the room store,
// the lease a load takes, and the fencing that refuses the writes of a node
// that lost a room to another (room state and archive alike); and a cluster
// node while NATS is away: temporary errors, then service again by itself.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as natsConnect } from 'nats';
import { passwordMatches } from '../../src/xmpp/scram.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../../src/store/archive.js';
import { FencedOut } from '../../src/store/interface.js';
import { openJetStreamAccounts, openJetStreamStores } from '../../src/store/jetstream/connect.js';
import { isWrongRevision } from '../../src/store/jetstream/names.js';
import { StreamPublisher } from '../../src/store/jetstream/publisher.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { clusterSettings, startNats, type TestNats } from '../helpers/nats.js';
import { accountCommand, conclave, rawClient, startTestServer, type RawClient } from '../helpers/server.js';

const ROOM = 'lease@conference.localhost';
const OWNER = { affiliation: 'owner' } as const;
const MEMBER = { affiliation: 'member', nick: 'Jules', reason: 'friend' } as const;

describe('JetStream store', { timeout: 60_000 }, () => {
  let nats: TestNats;

  before(async () => {
    nats = await startNats();
  });

  after(async () => {
    await Promise.all(closing.map((close) => close()));
    await nats.stop();
  });

  const closing: (() => Promise<void>)[] = [];
  const cluster = (name: string) => clusterSettings(nats, name);

  /** The room stores as node `name` of the cluster opens them. */
  async function node(name: string): Promise<Awaited<ReturnType<typeof openJetStreamStores>>> {
    const stores = await openJetStreamStores(cluster(name), DEFAULT_ARCHIVE_LIMITS, createLogger('silent'));
    closing.push(() => stores.close());
    return stores;
  }

  /** The accounts store as node `name` opens it. */
  async function accountsOf(name: string): Promise<Awaited<ReturnType<typeof openJetStreamAccounts>>['accounts']> {
    const opened = await openJetStreamAccounts(cluster(name), createLogger('silent'));
    closing.push(() => opened.close());
    return opened.accounts;
  }

  it('loads, writes, lists and deletes a room, under the lease its load took', async () => {
    const { rooms } = await node('a');
    assert.equal(await rooms.load(ROOM), undefined, 'a room nobody stored');
    const lease = rooms.held(ROOM);
    assert.equal(lease?.node, 'a');
    assert.deepEqual(await rooms.owner(ROOM), lease);
    assert.equal(await rooms.has(ROOM), false, 'a lease alone stores no room');

    await rooms.write(ROOM, { config: { name: 'Lease' }, affiliations: [['romeo@localhost', OWNER]], replace: true });
    await rooms.write(ROOM, { affiliations: [['juliet@localhost', MEMBER]] });
    assert.equal(await rooms.has(ROOM), true);
    assert.deepEqual(await rooms.jids(), [ROOM]);
    assert.deepEqual(await rooms.list(), [[ROOM, { name: 'Lease' }]]);
    assert.deepEqual(await rooms.list((room) => room !== ROOM), []);

    await rooms.write(ROOM, { config: { name: 'Renamed' }, affiliations: [['romeo@localhost', undefined]] });
    const { rooms: again } = await node('a2');
    const loaded = await again.load(ROOM);
    assert.deepEqual(loaded?.config, { name: 'Renamed' });
    assert.deepEqual([...(loaded?.affiliations ?? [])], [['juliet@localhost', MEMBER]]);
    assert.ok(again.held(ROOM)!.epoch > lease!.epoch, 'the later owner has the higher epoch');

    await again.delete(ROOM);
    assert.equal(await again.has(ROOM), false);
    assert.deepEqual(await again.jids(), []);
    assert.deepEqual((await again.owner(ROOM))?.node, 'a2', 'the lease outlives the state');
  });

  it('refuses the writes of a node whose room another node has taken since', async () => {
    const room = 'fenced@conference.localhost';
    const { rooms: a } = await node('a');
    const { rooms: b } = await node('b');
    await a.load(room);
    await a.write(room, { config: { name: 'A' }, affiliations: [], replace: true });
    const stale = a.held(room)!;

    const taken = await b.acquire(room);
    assert.ok(taken.epoch > stale.epoch);
    await assert.rejects(a.write(room, { config: { name: 'stale' }, affiliations: [] }), (err: unknown) => {
      assert.ok(err instanceof FencedOut);
      assert.deepEqual(err.stale, stale);
      assert.deepEqual(err.current, { room, node: 'b', epoch: taken.epoch });
      assert.match(err.message, /refused: this node held epoch \d+, and node b owns it at epoch \d+/);
      return true;
    });
    assert.equal(a.held(room), undefined, 'the former owner knows it lost the room');
    await assert.rejects(a.delete(room), FencedOut, 'and stays refused');

    await b.write(room, { affiliations: [['juliet@localhost', MEMBER]] });
    const { rooms: reader } = await node('reader');
    const state = await reader.load(room);
    assert.deepEqual(state?.config, { name: 'A' }, 'the stale write was not applied');
    assert.deepEqual([...(state?.affiliations ?? [])], [['juliet@localhost', MEMBER]]);
  });

  it("forgets a deleted account's affiliations in every stored room, and the owner carries on", async () => {
    const room = 'forgetful@conference.localhost';
    const { rooms: owner } = await node('a');
    await owner.load(room);
    await owner.write(room, { config: { name: 'F' }, affiliations: [['romeo@localhost', OWNER], ['rosaline@localhost', MEMBER]], replace: true });

    const { rooms: admin } = await node('admin');
    assert.deepEqual(await admin.forgetUser('rosaline@localhost'), [room]);
    assert.deepEqual(await admin.forgetUser('rosaline@localhost'), [], 'once');
    assert.equal(admin.held(room), undefined, 'forgetting takes no lease');

    await owner.write(room, { affiliations: [['mercutio@localhost', MEMBER]] });
    const { rooms: reader } = await node('reader');
    const state = await reader.load(room);
    assert.deepEqual(
      [...(state?.affiliations.keys() ?? [])].sort(),
      ['mercutio@localhost', 'romeo@localhost'],
      "the owner's write kept the removal",
    );
  });

  it('creates, changes and deletes accounts, every node seeing each change', async () => {
    const a = await accountsOf('a');
    const b = await accountsOf('b');
    assert.equal(a.isEmpty(), true);
    assert.equal(await a.create('romeo@localhost', 'secret'), true);
    assert.equal(await a.create('romeo@localhost', 'other'), false, 'an account is created once');
    assert.equal(await a.setPassword('nobody@localhost', 'x'), false);
    assert.equal(await a.delete('nobody@localhost'), false);
    const created = a.credential('romeo@localhost', 'sha256');
    assert.ok(created !== undefined && (await passwordMatches('sha256', created, 'secret')), 'the writer reads its own write');

    await b.caughtUp();
    assert.equal(b.isEmpty(), false);
    assert.deepEqual(b.credential('romeo@localhost', 'sha1'), a.credential('romeo@localhost', 'sha1'));
    assert.deepEqual(b.changesAfter(0), [], 'a creation ends no session');

    assert.equal(await a.setPassword('romeo@localhost', 'changed'), true);
    assert.equal(await a.delete('romeo@localhost'), true);
    await b.caughtUp();
    assert.equal(b.credential('romeo@localhost', 'sha256'), undefined);
    assert.deepEqual(b.changesAfter(0), [
      { sequence: 1, bareJid: 'romeo@localhost', kind: 'password-changed' },
      { sequence: 2, bareJid: 'romeo@localhost', kind: 'deleted' },
    ]);
    assert.deepEqual(b.changesAfter(b.changeSequence()), []);

    const late = await accountsOf('late');
    assert.equal(late.isEmpty(), true, 'a node that starts later reads the accounts as they are');
    assert.deepEqual(late.changesAfter(0), [], 'and no change from before it started');
  });

  it('publishes the entries a busy room archives meanwhile in one message, and reads them back one by one', async () => {
    const room = 'busy@conference.localhost';
    const { archive } = await node('a');
    await archive.open(room);
    const ids = Array.from({ length: 50 }, (_, i) => archive.append(room, { stanza: `<message>${i}</message>`, from: `${room}/x` }));
    await archive.settled();
    const connection = await natsConnect({ servers: nats.url });
    const subject = `conclave_archive.${Buffer.from(room).toString('base64url')}`;
    const info = await (await connection.jetstreamManager()).streams.info('conclave_archive', { subjects_filter: subject });
    await connection.close();
    const messages = info.state.subjects?.[subject];
    assert.ok(messages !== undefined && messages >= 2 && messages < ids.length, `fewer messages than entries (${messages})`);

    const { archive: reader } = await node('reader');
    await reader.open(room);
    assert.deepEqual(
      reader.query(room, { max: 100 }).items.map((item) => item.id),
      ids,
    );
  });

  it("publishes conditionally on a subject's last sequence, every answer on one subscription", async () => {
    await node('a'); // The archive's stream.
    const connection = await natsConnect({ servers: nats.url });
    const publisher = new StreamPublisher(connection);
    const subjects = Array.from({ length: 20 }, (_, i) => `conclave_archive.publisher${i}`);
    const sequences = await Promise.all(subjects.map((subject) => publisher.publish(subject, '{}', 0)));
    assert.equal(new Set(sequences).size, subjects.length, 'each publish answered with its own sequence');
    const [first] = subjects as [string];
    await assert.rejects(publisher.publish(first, '{}', 0), (err) => isWrongRevision(err), 'a subject that moved refuses');
    assert.ok((await publisher.publish(first, '{}', sequences[0]!)) > Math.max(...sequences), 'and takes it at its last sequence');
    await assert.rejects(publisher.publish('nostream.here', '{}', 0), /JetStream did not take the message/);
    await connection.close();
  });

  it("refuses a former owner's archive appends once another node opened the room", async () => {
    const room = 'archived@conference.localhost';
    const { archive: a } = await node('a');
    const { archive: b } = await node('b');
    await a.open(room);
    const kept = a.append(room, { stanza: '<message>one</message>', from: `${room}/x` });
    await a.settled();

    await b.open(room);
    assert.ok(b.has(room, kept), "the new owner reads the former owner's entries");
    a.append(room, { stanza: '<message>stale</message>', from: `${room}/x` });
    const accepted = b.append(room, { stanza: '<message>two</message>', from: `${room}/y` });
    await Promise.all([a.settled(), b.settled()]);

    const { archive: reader } = await node('reader');
    await reader.open(room);
    const items = reader.query(room, { max: 10 }).items;
    assert.deepEqual(
      items.map((item) => [item.id, item.stanza]),
      [
        [kept, '<message>one</message>'],
        [accepted, '<message>two</message>'],
      ],
      'the stale append is not in the stream',
    );
  });
});

describe('a cluster node while NATS is away', { timeout: 120_000 }, () => {
  it('answers with temporary errors, never silence, and serves again once NATS is back', async () => {
    const nats = await startNats();
    const server = await startTestServer({ cluster: { node: 'n1', nats: { servers: [nats.url] } } });
    const room = 'outage@conference.localhost';
    const romeo = await MucTestClient.login(server.port, 'romeo');
    try {
      await romeo.createRoom(room, 'Romeo', { 'muc#roomconfig_persistentroom': '1' });
      await nats.kill();

      const refused = await romeo.iq('set', room, memberItem('juliet@localhost')).then(
        () => assert.fail('a write with NATS away was acknowledged'),
        (err: Error) => err.message,
      );
      assert.match(refused, /type=["']wait["']/, 'the write is refused with a temporary error');
      romeo.client.send(`<presence to='elsewhere@conference.localhost/Romeo'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
      const notLoaded = await romeo.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from?.startsWith('elsewhere@') === true);
      assert.equal(notLoaded.attrs.type, 'error', 'a room that cannot be loaded is not joined');
      assert.equal(notLoaded.getChild('error')?.attrs.type, 'wait');

      await nats.restart();
      // The node reconnects by itself: the same request succeeds once it has.
      for (;;) {
        const ok = await romeo.iq('set', room, memberItem('juliet@localhost')).then(
          () => true,
          (err: Error) => (/type=["']wait["']/.test(err.message) ? false : Promise.reject(err)),
        );
        if (ok) break;
      }
      const members = await romeo.affiliationList(room, 'member');
      assert.deepEqual(
        members.map((item) => item.attrs.jid),
        ['juliet@localhost'],
      );
    } finally {
      await romeo.close();
      await server.close();
      await nats.stop();
    }
  });
});

describe('two cluster nodes that both think they own a room', { timeout: 120_000 }, () => {
  // Two nodes that do not hear each other (each its own subject prefix, as across a partition
  // of the cluster's traffic) but share the store: each sees itself alone, so each owns every room.
  it("refuses the former owner's writes once the other node loaded the room", async () => {
    const nats = await startNats();
    const node = (name: string) => startTestServer({ cluster: { node: name, subject_prefix: `split.${name}`, nats: { servers: [nats.url] } } });
    const servers = [await node('a'), await node('b')];
    const room = 'split@conference.localhost';
    const onA = await MucTestClient.login(servers[0].port, 'romeo');
    const onB = await MucTestClient.login(servers[1].port, 'romeo');
    try {
      assert.deepEqual([servers[0].cluster?.members, servers[1].cluster?.members], [['a'], ['b']], 'the nodes disagree about the members');
      await onA.createRoom(room, 'Romeo', { 'muc#roomconfig_persistentroom': '1' });
      // Node b takes the room (its first stanza loads it) while node a still has it live.
      await onB.join(room, 'Romeo');
      await onB.iq('set', room, memberItem('juliet@localhost'));

      const refused = await onA.iq('set', room, memberItem('tybalt@localhost')).then(
        () => assert.fail("the former owner's write was acknowledged"),
        (err: Error) => err.message,
      );
      assert.match(refused, /type=["']wait["'][^]*internal-server-error/, 'refused by the store (FencedOut), not by the cluster layer');
      const members = await onB.affiliationList(room, 'member');
      assert.deepEqual(
        members.map((item) => item.attrs.jid),
        ['juliet@localhost'],
        "the refused write is nowhere, the owner's is kept",
      );

      // Fenced out, node a no longer acts on its stale copy: the cluster places the room on a (its view
      // has no other node), which takes the lease back with the stored state and its occupant, who did not rejoin.
      await onA.iq('set', room, memberItem('tybalt@localhost'));
      assert.deepEqual((await onA.affiliationList(room, 'member')).map((item) => item.attrs.jid).sort(), ['juliet@localhost', 'tybalt@localhost']);
      onA.say(room, 'still here');
      assert.equal((await onA.messageFrom(`${room}/Romeo`)).getChildText('body'), 'still here');
      // And node b, fenced out in turn, is refused once, then goes on the same way.
      const refusedOnB = await onB.iq('set', room, memberItem('mercutio@localhost')).then(
        () => assert.fail("the fenced-out node's write was acknowledged"),
        (err: Error) => err.message,
      );
      assert.match(refusedOnB, /type=["']wait["']/);
      await onB.iq('set', room, memberItem('mercutio@localhost'));
      assert.deepEqual((await onB.affiliationList(room, 'member')).map((item) => item.attrs.jid).sort(), ['juliet@localhost', 'mercutio@localhost', 'tybalt@localhost']);
    } finally {
      await Promise.all([onA.close(), onB.close()]);
      await Promise.all(servers.map((server) => server.close()));
      await nats.stop();
    }
  });
});

describe('accounts of a cluster', { timeout: 120_000 }, () => {
  it('adduser makes an account every node logs in to; deluser ends its sessions on any node', async () => {
    const nats = await startNats();
    const dir = await mkdtemp(join(tmpdir(), 'conclave-cluster-accounts-'));
    // The command line runs with a data folder of its own: the account is in NATS, not there.
    const config = join(dir, 'conclave.yaml');
    await writeFile(config, `data_dir: ${JSON.stringify(join(dir, 'cli'))}\nlog_level: warn\ncluster:\n  node: admin\n  nats:\n    servers: [${nats.url}]\n`);
    const server = await startTestServer({ auth: { backend: 'internal' }, cluster: { node: 'a', nats: { servers: [nats.url] } } });
    try {
      await accountCommand(config, 'adduser', 'romeo@localhost', 'secret');
      // The node learns of the account from its watcher: a login may come before it has.
      let romeo: RawClient | undefined;
      while (romeo === undefined) romeo = await rawClient(server.port, 'romeo', undefined, 'secret').catch(() => undefined);
      await accountCommand(config, 'deluser', 'romeo@localhost');
      const error = await romeo.next((stanza) => stanza.name === 'stream:error');
      assert.equal(error.getChildText('text'), 'Account deleted');
    } finally {
      await server.close();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('conclave start with a cluster: section it cannot use', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'conclave-cluster-config-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  async function start(name: string, cluster: string): Promise<{ code: number | null; stderr: string; file: string }> {
    const file = join(dir, name + '.yaml');
    await writeFile(file, `data_dir: ${JSON.stringify(join(dir, name))}\nclient:\n  port: 0\ncluster:\n${cluster}`);
    return { ...(await conclave(['start', '--config', file])), file };
  }

  it('names the key and the file of a node name NATS would not take', async () => {
    const { code, stderr, file } = await start('name', '  node: "node 1"\n  nats:\n    servers: [nats://127.0.0.1:4222]\n');
    assert.equal(code, 2);
    assert.match(stderr, /cluster\.node/);
    assert.ok(stderr.includes(file), stderr);
  });

  it('says which servers it could not reach, and under which key', async () => {
    // A port nothing listens on: that of a nats-server just stopped.
    const gone = await startNats();
    await gone.stop();
    const { code, stderr } = await start('unreachable', `  node: n1\n  nats:\n    servers: [${gone.url}]\n`);
    assert.equal(code, 2);
    assert.match(stderr, /Cannot reach NATS at .* \(cluster\.nats\.servers\)/);
  });
});

function memberItem(jid: string): string {
  return `<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='${jid}'/></query>`;
}
