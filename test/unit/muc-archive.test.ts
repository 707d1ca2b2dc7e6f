// The MUC message archive (XEP-0313): each store's (LMDB, JetStream) ordering,
// paging edges and bounds, and through a room, archive queries, stanza-ids and the archive
// surviving a restart.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { DEFAULT_ARCHIVE_LIMITS, RoomArchive, type ArchiveLimits } from '../../src/store/archive.js';
import type { ArchiveStore, RoomStores } from '../../src/store/interface.js';
import { openJetStreamStores } from '../../src/store/jetstream/connect.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import type { Element } from '../../src/xml/element.js';
import { clusterSettings, startNats, type TestNats } from '../helpers/nats.js';
import { MucHarness, ROOM, configSet } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const NS_MAM = 'urn:xmpp:mam:2';

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2024, 0, 1)): { now(): number; advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

/** An archive store to test: LMDB, or JetStream on a nats-server of its own. */
interface Backend {
  name: string;
  start(): Promise<void>;
  open(limits?: ArchiveLimits): Promise<ArchiveStore>;
  stop(): Promise<void>;
}

function lmdbBackend(): Backend {
  let dir: string;
  let database: Database;
  return {
    name: 'LMDB',
    async start() {
      dir = await mkdtemp(join(tmpdir(), 'conclave-archive-'));
      database = openDatabase(dir);
    },
    open: async (limits) => new RoomArchive(database, limits),
    async stop() {
      await database.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function jetStreamBackend(): Backend {
  let nats: TestNats;
  const opened: RoomStores<unknown>[] = [];
  return {
    name: 'JetStream',
    async start() {
      nats = await startNats();
    },
    async open(limits = DEFAULT_ARCHIVE_LIMITS) {
      const stores = await openJetStreamStores(clusterSettings(nats, 'test'), limits, createLogger('silent'));
      opened.push(stores);
      return stores.archive;
    },
    async stop() {
      await Promise.all(opened.map((stores) => stores.close()));
      await nats.stop();
    },
  };
}

for (const backend of [lmdbBackend(), jetStreamBackend()]) {
  describe(`archive store: ${backend.name}`, () => {
    before(() => backend.start());
    after(() => backend.stop());

    /** Appends `count` messages to the room (opened first, as a room's actor does). */
    async function fill(archive: ArchiveStore, room: string, count: number, clock?: { advance(ms: number): void }): Promise<string[]> {
      await archive.open(room);
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        ids.push(archive.append(room, { stanza: `<message n='${i}'/>`, from: `${room}/n${i % 2}` }));
        clock?.advance(1000);
      }
      return ids;
    }

    it('gives ids in archive order, also within one millisecond and before the commit', async () => {
      const clock = manualClock();
      const archive = await backend.open({ maxItems: 100, maxAgeMs: 1e12, now: clock.now });
      const ids = await fill(archive, 'order@muc', 5);
      assert.deepEqual([...ids].sort(), ids);
      assert.equal(new Set(ids).size, 5);
      const pending = archive.query('order@muc', { max: 10 });
      assert.deepEqual(pending.items.map((item) => item.id), ids, 'pending entries are seen');
      await archive.settled();
      assert.deepEqual(archive.query('order@muc', { max: 10 }).items.map((item) => item.id), ids, 'committed ones, once each');
    });

    it('pages forwards with after, backwards with before, and from the end', async () => {
      const archive = await backend.open();
      const ids = await fill(archive, 'paging@muc', 7);
      await archive.settled();
      const first = archive.query('paging@muc', { max: 3 });
      assert.deepEqual(first.items.map((item) => item.id), ids.slice(0, 3));
      assert.equal(first.complete, false);
      assert.equal(first.count, 7);
      const last = archive.query('paging@muc', { max: 3, after: ids[3] });
      assert.deepEqual(last.items.map((item) => item.id), ids.slice(4));
      assert.equal(last.complete, true, 'a page that ends with the archive is complete');
      const end = archive.query('paging@muc', { max: 3, fromEnd: true });
      assert.deepEqual(end.items.map((item) => item.id), ids.slice(4));
      assert.equal(end.complete, false);
      const previous = archive.query('paging@muc', { max: 3, fromEnd: true, before: ids[2] });
      assert.deepEqual(previous.items.map((item) => item.id), ids.slice(0, 2));
      assert.equal(previous.complete, true);
      const none = archive.query('paging@muc', { max: 0 });
      assert.deepEqual([none.items.length, none.count, none.complete], [0, 7, false]);
      assert.equal(archive.query('paging@muc', { max: 3, after: ids[6] }).items.length, 0);
    });

    it('filters by time and by sender', async () => {
      const clock = manualClock();
      const archive = await backend.open({ maxItems: 100, maxAgeMs: 1e12, now: clock.now });
      const start = clock.now();
      const ids = await fill(archive, 'filter@muc', 6, clock);
      await archive.settled();
      const window = archive.query('filter@muc', { start: start + 1000, end: start + 3000, max: 10 });
      assert.deepEqual(window.items.map((item) => item.id), ids.slice(1, 4));
      assert.equal(window.count, 3);
      const fromOne = archive.query('filter@muc', { with: 'filter@muc/n1', max: 10 });
      assert.deepEqual(fromOne.items.map((item) => item.id), [ids[1], ids[3], ids[5]]);
      assert.equal(archive.query('filter@muc', { with: 'filter@muc', max: 10 }).count, 6);
    });

    it('keeps at most maxItems per room, the newest', async () => {
      const archive = await backend.open({ maxItems: 3, maxAgeMs: 1e12, now: Date.now });
      const ids = await fill(archive, 'bounded@muc', 5);
      await fill(archive, 'other@muc', 2);
      assert.deepEqual(archive.query('bounded@muc', { max: 10 }).items.map((item) => item.id), ids.slice(2));
      await archive.settled();
      assert.deepEqual(archive.query('bounded@muc', { max: 10 }).items.map((item) => item.id), ids.slice(2));
      assert.equal(archive.query('other@muc', { max: 10 }).count, 2, 'other rooms keep theirs');
    });

    it('over the bound, drops the oldest committed entries before the pending ones', async () => {
      const archive = await backend.open({ maxItems: 3, maxAgeMs: 1e12, now: Date.now });
      const committed = await fill(archive, 'committed@muc', 3);
      await archive.settled();
      const pending = await fill(archive, 'committed@muc', 2);
      const kept = [...committed, ...pending].slice(2);
      assert.deepEqual(archive.query('committed@muc', { max: 10 }).items.map((item) => item.id), kept);
      await archive.settled();
      assert.deepEqual(archive.query('committed@muc', { max: 10 }).items.map((item) => item.id), kept);
    });

    it('drops entries older than maxAgeMs', async () => {
      const clock = manualClock();
      const archive = await backend.open({ maxItems: 100, maxAgeMs: 3600_000, now: clock.now });
      await fill(archive, 'aging@muc', 3);
      clock.advance(2 * 3600_000);
      const fresh = await fill(archive, 'aging@muc', 1);
      await archive.settled();
      assert.deepEqual(archive.query('aging@muc', { max: 10 }).items.map((item) => item.id), fresh);
    });

    it('forgets a deleted room at once, and a new archive carries on after a restart', async () => {
      const archive = await backend.open();
      const ids = await fill(archive, 'gone@muc', 3);
      archive.delete('gone@muc');
      assert.equal(archive.query('gone@muc', { max: 10 }).count, 0);
      await archive.settled();
      assert.equal(archive.query('gone@muc', { max: 10 }).count, 0);

      const kept = await fill(archive, 'kept@muc', 2);
      await archive.settled();
      const restarted = await backend.open();
      await restarted.open('kept@muc');
      assert.deepEqual(restarted.query('kept@muc', { max: 10 }).items.map((item) => item.id), kept);
      const next = restarted.append('kept@muc', { stanza: '<message/>', from: 'kept@muc/x' });
      assert.ok(next > kept[1], 'ids keep growing');
      assert.ok(!restarted.has('kept@muc', ids[0]));
    });
  });
}

function say(muc: MucHarness, from: string, body: string, extra = ''): void {
  muc.receive(`<message from='${from}' to='${ROOM}' type='groupchat'><body>${body}</body>${extra}</message>`);
}

function mamQuery(muc: MucHarness, from: string, inner = ''): Element[] {
  muc.receive(`<iq from='${from}' to='${ROOM}' type='set' id='q'><query xmlns='${NS_MAM}' queryid='f'>${inner}</query></iq>`);
  return muc.take(from);
}

describe('room archive', () => {
  it('stamps archived messages with a stanza-id, strips forged ones, and serves queries', async () => {
    const muc = await MucHarness.start();
    muc.createRoom(ROMEO, 'Romeo');
    say(muc, ROMEO, 'one', `<stanza-id xmlns='urn:xmpp:sid:0' by='${ROOM}' id='forged'/>`);
    const [broadcast] = muc.take(ROMEO);
    const ids = broadcast.getChildren('stanza-id', 'urn:xmpp:sid:0');
    assert.equal(ids.length, 1);
    assert.notEqual(ids[0].attrs.id, 'forged');
    say(muc, ROMEO, 'two', `<no-store xmlns='urn:xmpp:hints'/>`);
    assert.equal(muc.take(ROMEO)[0].getChild('stanza-id', 'urn:xmpp:sid:0'), undefined, 'not archived, no id');
    say(muc, ROMEO, 'three');
    muc.take(ROMEO);

    const replies = mamQuery(muc, ROMEO, `<set xmlns='http://jabber.org/protocol/rsm'><max>1</max><before/></set>`);
    assert.equal(replies.length, 2);
    const result = replies[0].getChild('result', NS_MAM)!;
    assert.equal(result.attrs.queryid, 'f');
    assert.equal(result.getChild('forwarded')!.getChild('message')!.getChildText('body'), 'three');
    const fin = replies[1].getChild('fin', NS_MAM)!;
    assert.equal(fin.attrs.complete, undefined);
    assert.equal(fin.getChild('set')!.getChildText('count'), '2');

    const earlier = mamQuery(muc, ROMEO, `<set xmlns='http://jabber.org/protocol/rsm'><before>${result.attrs.id}</before></set>`);
    assert.equal(earlier[0].getChild('result', NS_MAM)!.attrs.id, ids[0].attrs.id);
    assert.equal(earlier[1].getChild('fin', NS_MAM)!.attrs.complete, 'true');
    await muc.close();
  });

  it('keeps a persistent room archive and history across a restart', async () => {
    const muc = await MucHarness.start();
    muc.createRoom(ROMEO, 'Romeo');
    muc.receive(configSet(ROMEO, { 'muc#roomconfig_persistentroom': '1' }));
    await muc.waitFor(ROMEO);
    muc.take(ROMEO);
    say(muc, ROMEO, 'before the restart');
    muc.take(ROMEO);
    await muc.close(true);

    const reopened = await MucHarness.start({}, muc.dataDir);
    const replies = mamQuery(reopened, ROMEO);
    assert.equal(replies[0].getChild('result', NS_MAM)!.getChild('forwarded')!.getChild('message')!.getChildText('body'), 'before the restart');
    const joined = reopened.join('juliet@localhost/balcony', 'Juliet');
    const history = joined.find((stanza) => stanza.getChildText('body') === 'before the restart');
    assert.ok(history?.getChild('delay', 'urn:xmpp:delay'), 'history comes back from the archive');
    await reopened.close();
  });
});
