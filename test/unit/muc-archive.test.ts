// The MUC message archive (XEP-0313): the LMDB store's ordering, paging edges
// and bounds, and through a room, archive queries, stanza-ids and the archive
// surviving a restart.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoomArchive } from '../../src/store/archive.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import type { Element } from '../../src/xml/element.js';
import { MucHarness, ROOM, configSet } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';
const NS_MAM = 'urn:xmpp:mam:2';

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2024, 0, 1)): { now(): number; advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

describe('archive store', () => {
  let dir: string;
  let database: Database;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conclave-archive-'));
    database = openDatabase(dir);
  });

  after(async () => {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  function fill(archive: RoomArchive, room: string, count: number, clock?: { advance(ms: number): void }): string[] {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(archive.append(room, { stanza: `<message n='${i}'/>`, from: `${room}/n${i % 2}` }));
      clock?.advance(1000);
    }
    return ids;
  }

  it('gives ids in archive order, also within one millisecond and before the commit', async () => {
    const clock = manualClock();
    const archive = new RoomArchive(database, { maxItems: 100, maxAgeMs: 1e12, now: clock.now });
    const ids = fill(archive, 'order@muc', 5);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, 5);
    const pending = archive.query('order@muc', { max: 10 });
    assert.deepEqual(pending.items.map((item) => item.id), ids, 'pending entries are seen');
    await database.flushed;
    assert.deepEqual(archive.query('order@muc', { max: 10 }).items.map((item) => item.id), ids, 'committed ones, once each');
  });

  it('pages forwards with after, backwards with before, and from the end', async () => {
    const archive = new RoomArchive(database);
    const ids = fill(archive, 'paging@muc', 7);
    await database.flushed;
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
    const archive = new RoomArchive(database, { maxItems: 100, maxAgeMs: 1e12, now: clock.now });
    const start = clock.now();
    const ids = fill(archive, 'filter@muc', 6, clock);
    await database.flushed;
    const window = archive.query('filter@muc', { start: start + 1000, end: start + 3000, max: 10 });
    assert.deepEqual(window.items.map((item) => item.id), ids.slice(1, 4));
    assert.equal(window.count, 3);
    const fromOne = archive.query('filter@muc', { with: 'filter@muc/n1', max: 10 });
    assert.deepEqual(fromOne.items.map((item) => item.id), [ids[1], ids[3], ids[5]]);
    assert.equal(archive.query('filter@muc', { with: 'filter@muc', max: 10 }).count, 6);
  });

  it('keeps at most maxItems per room, the newest', async () => {
    const archive = new RoomArchive(database, { maxItems: 3, maxAgeMs: 1e12, now: Date.now });
    const ids = fill(archive, 'bounded@muc', 5);
    fill(archive, 'other@muc', 2);
    assert.deepEqual(archive.query('bounded@muc', { max: 10 }).items.map((item) => item.id), ids.slice(2));
    await database.flushed;
    assert.deepEqual(archive.query('bounded@muc', { max: 10 }).items.map((item) => item.id), ids.slice(2));
    assert.equal(archive.query('other@muc', { max: 10 }).count, 2, 'other rooms keep theirs');
  });

  it('over the bound, drops the oldest committed entries before the pending ones', async () => {
    const archive = new RoomArchive(database, { maxItems: 3, maxAgeMs: 1e12, now: Date.now });
    const committed = fill(archive, 'committed@muc', 3);
    await database.flushed;
    const pending = fill(archive, 'committed@muc', 2);
    const kept = [...committed, ...pending].slice(2);
    assert.deepEqual(archive.query('committed@muc', { max: 10 }).items.map((item) => item.id), kept);
    await database.flushed;
    assert.deepEqual(archive.query('committed@muc', { max: 10 }).items.map((item) => item.id), kept);
  });

  it('drops entries older than maxAgeMs', async () => {
    const clock = manualClock();
    const archive = new RoomArchive(database, { maxItems: 100, maxAgeMs: 3600_000, now: clock.now });
    fill(archive, 'aging@muc', 3);
    clock.advance(2 * 3600_000);
    const fresh = fill(archive, 'aging@muc', 1);
    await database.flushed;
    assert.deepEqual(archive.query('aging@muc', { max: 10 }).items.map((item) => item.id), fresh);
  });

  it('forgets a deleted room at once, and a new archive carries on after a restart', async () => {
    const archive = new RoomArchive(database);
    const ids = fill(archive, 'gone@muc', 3);
    archive.delete('gone@muc');
    assert.equal(archive.query('gone@muc', { max: 10 }).count, 0);
    await database.flushed;
    assert.equal(archive.query('gone@muc', { max: 10 }).count, 0);

    const kept = fill(archive, 'kept@muc', 2);
    await database.flushed;
    const restarted = new RoomArchive(database);
    assert.deepEqual(restarted.query('kept@muc', { max: 10 }).items.map((item) => item.id), kept);
    const next = restarted.append('kept@muc', { stanza: '<message/>', from: 'kept@muc/x' });
    assert.ok(next > kept[1], 'ids keep growing');
    assert.ok(!restarted.has('kept@muc', ids[0]));
  });
});

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
