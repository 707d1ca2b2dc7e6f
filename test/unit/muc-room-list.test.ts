// The service's disco#items pages through the public rooms with XEP-0059
// Result Set Management: live and stored rooms together, sorted by JID,
// hidden ones left out, and a live room's settings winning over its stored ones.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { RoomStore } from '../../src/store/rooms.js';
import { shardOf } from '../../src/runtime/shard-of.js';
import type { Element } from '../../src/xml/element.js';
import { errorCondition, MucHarness } from './muc-harness.js';

const OWNER = 'romeo@localhost/a';
const ASKER = 'juliet@localhost/a';
const RSM = 'http://jabber.org/protocol/rsm';
const CONFIG_FORM = 'http://jabber.org/protocol/muc#roomconfig';

const stored = (i: number): string => `stored-${String(i).padStart(2, '0')}@conference.localhost`;
const live = (i: number): string => `live-${String(i).padStart(2, '0')}@conference.localhost`;

/** Public stored rooms (by default ten: 0–9) and hidden ones (10–12), none loaded. */
async function storeRooms(dataDir: string, count = 13, publicCount = 10): Promise<void> {
  const database = openDatabase(dataDir);
  const store = new RoomStore(database);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const config = { persistent: true, name: `Stored ${i}`, public: i < publicCount };
    writes.push(store.write(stored(i), { config, affiliations: [['romeo@localhost', { affiliation: 'owner' }]] }));
  }
  await Promise.all(writes);
  await database.close();
}

/** Submits a room configuration and waits for its iq result, which the room sends once the change is written. */
async function configure(muc: MucHarness, room: string, fields: Record<string, string>, from = OWNER): Promise<void> {
  const body = Object.entries({ FORM_TYPE: CONFIG_FORM, ...fields })
    .map(([name, value]) => `<field var='${name}'><value>${value}</value></field>`)
    .join('');
  muc.receive(
    `<iq from='${from}' to='${room}' type='set' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>${body}</x></query></iq>`,
  );
  for (;;) {
    await muc.waitFor(from);
    if (muc.take(from).some((stanza) => stanza.name === 'iq' && stanza.attrs.id === 'cfg' && stanza.attrs.from === room)) return;
  }
}

async function discoItems(muc: MucHarness, set = ''): Promise<Element> {
  muc.receive(`<iq from='${ASKER}' to='conference.localhost' type='get' id='items'><query xmlns='http://jabber.org/protocol/disco#items'>${set}</query></iq>`);
  await muc.waitFor(ASKER);
  const [answer] = muc.take(ASKER);
  return answer;
}

const jids = (answer: Element): string[] => answer.getChild('query')!.getChildren('item').map((item) => item.attrs.jid);

describe('the service disco#items with result set management', () => {
  let muc: MucHarness;
  /** Every public room, sorted: 10 stored ones (0–9) and 15 live ones. */
  const publicRooms = [...Array.from({ length: 15 }, (_, i) => live(i)), ...Array.from({ length: 10 }, (_, i) => stored(i))].sort();

  before(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-room-list-'));
    await storeRooms(dataDir);
    muc = await MucHarness.start({}, dataDir);
    // Fifteen live public rooms, and two live hidden ones.
    for (let i = 0; i < 17; i++) {
      muc.createRoom(OWNER, 'Romeo', live(i));
      await configure(muc, live(i), { 'muc#roomconfig_publicroom': i < 15 ? '1' : '0' });
    }
    // A stored public room loaded and made hidden, and a stored hidden one made public: the live settings win.
    muc.join(OWNER, 'Romeo', stored(10));
    await configure(muc, stored(10), { 'muc#roomconfig_publicroom': '1', 'muc#roomconfig_roomname': 'Shown' });
    muc.join(OWNER, 'Romeo', stored(0));
    await configure(muc, stored(0), { 'muc#roomconfig_publicroom': '0' });
    publicRooms.splice(publicRooms.indexOf(stored(0)), 1, stored(10));
    publicRooms.sort();
    muc.take(OWNER);
  });

  after(() => muc.close());

  const items = (set = ''): Promise<Element> => discoItems(muc, set);
  const resultSet = (answer: Element) => {
    const set = answer.getChild('query')!.getChild('set', RSM);
    return set && { first: set.getChildText('first'), index: set.getChild('first')?.attrs.index, last: set.getChildText('last'), count: set.getChildText('count') };
  };

  it('lists every public room without a <set/>, and no <set/> in the answer', async () => {
    const answer = await items();
    assert.equal(answer.attrs.type, 'result');
    assert.deepEqual(jids(answer), publicRooms);
    assert.equal(resultSet(answer), undefined);
    const names = Object.fromEntries(answer.getChild('query')!.getChildren('item').map((item) => [item.attrs.jid, item.attrs.name]));
    assert.equal(names[stored(10)], 'Shown');
    assert.equal(names[stored(3)], 'Stored 3');
  });

  it('pages forward with max and after', async () => {
    const seen: string[] = [];
    let afterId: string | undefined;
    for (const [index, size] of [[0, 10], [10, 10], [20, 5]] as const) {
      const answer = await items(`<set xmlns='${RSM}'><max>10</max>${afterId === undefined ? '' : `<after>${afterId}</after>`}</set>`);
      const page = jids(answer);
      assert.equal(page.length, size);
      assert.deepEqual(resultSet(answer), { first: page[0], index: String(index), last: page.at(-1), count: '25' });
      seen.push(...page);
      afterId = page.at(-1);
    }
    assert.deepEqual(seen, publicRooms);
    const beyond = await items(`<set xmlns='${RSM}'><max>10</max><after>${afterId}</after></set>`);
    assert.deepEqual(jids(beyond), []);
    assert.deepEqual(resultSet(beyond), { first: undefined, index: undefined, last: undefined, count: '25' });
  });

  it('gives the last page for an empty <before/>, and pages backwards', async () => {
    const last = await items(`<set xmlns='${RSM}'><max>10</max><before/></set>`);
    assert.deepEqual(jids(last), publicRooms.slice(15));
    assert.deepEqual(resultSet(last), { first: publicRooms[15], index: '15', last: publicRooms[24], count: '25' });
    const previous = await items(`<set xmlns='${RSM}'><max>10</max><before>${publicRooms[15]}</before></set>`);
    assert.deepEqual(jids(previous), publicRooms.slice(5, 15));
    assert.equal(resultSet(previous)?.index, '5');
  });

  it('jumps to an index, and counts without items for max 0', async () => {
    const page = await items(`<set xmlns='${RSM}'><max>3</max><index>7</index></set>`);
    assert.deepEqual(jids(page), publicRooms.slice(7, 10));
    assert.equal(resultSet(page)?.index, '7');
    const count = await items(`<set xmlns='${RSM}'><max>0</max></set>`);
    assert.deepEqual(jids(count), []);
    assert.equal(resultSet(count)?.count, '25');
  });

  it('answers item-not-found for an unknown after, bad-request for a bad max', async () => {
    const unknown = await items(`<set xmlns='${RSM}'><max>10</max><after>nowhere@conference.localhost</after></set>`);
    assert.equal(unknown.attrs.type, 'error');
    assert.equal(unknown.getChild('error')?.attrs.type, 'cancel');
    assert.equal(errorCondition(unknown), 'item-not-found');
    for (const max of ['-1', 'ten', '1.5']) {
      const bad = await items(`<set xmlns='${RSM}'><max>${max}</max></set>`);
      assert.equal(bad.attrs.type, 'error');
      assert.equal(errorCondition(bad), 'bad-request', `max ${max}`);
    }
  });

  it('advertises RSM in the service disco#info', async () => {
    muc.receive(`<iq from='${ASKER}' to='conference.localhost' type='get' id='info'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const features = muc.take(ASKER)[0].getChild('query')!.getChildren('feature').map((feature) => feature.attrs.var);
    assert.ok(features.includes(RSM));
  });
});

describe('the public rooms of two shards over one store', () => {
  const ADMIN = 'admin@localhost/console';

  it('are each listed once, from memory, and follow configuration changes and destruction', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-room-list-shards-'));
    await storeRooms(dataDir, 30, 20);
    const shards = [
      await MucHarness.start({ admins: ['admin@localhost'] }, dataDir, { index: 0, count: 2 }),
      await MucHarness.start({ admins: ['admin@localhost'] }, dataDir, { index: 1, count: 2 }),
    ];
    const owner = (room: string): MucHarness => shards[shardOf(room, 2)];
    const expected = Array.from({ length: 20 }, (_, i) => stored(i));
    assert.ok(expected.some((room) => shardOf(room, 2) === 0) && expected.some((room) => shardOf(room, 2) === 1), 'rooms on both shards');

    // disco#items reads no stored configuration once the shards have started.
    const list = t.mock.method(RoomStore.prototype, 'list');
    assert.deepEqual(jids(await discoItems(shards[0])), expected);
    assert.deepEqual(jids(await discoItems(shards[1])), expected);
    assert.equal(list.mock.callCount(), 0);
    t.mock.restoreAll();

    // Hidden by its owner (live, then stored), and a hidden one made public.
    for (const [room, isPublic] of [[stored(4), '0'], [stored(25), '1']] as const) {
      const shard = owner(room);
      shard.join(OWNER, 'Romeo', room);
      await configure(shard, room, { 'muc#roomconfig_publicroom': isPublic });
      shard.take(OWNER);
    }
    expected.splice(expected.indexOf(stored(4)), 1);
    expected.push(stored(25));
    expected.sort();
    assert.deepEqual(jids(await discoItems(shards[0])), expected);

    // The admin destroys, through shard 0, a stored room that is not loaded, owned by shard 1.
    const victim = expected.find((room) => shardOf(room, 2) === 1)!;
    shards[0].receive(
      `<iq from='${ADMIN}' to='conference.localhost' type='set' id='d'><command xmlns='http://jabber.org/protocol/commands' node='http://prosody.im/protocol/muc#destroy'><x xmlns='jabber:x:data' type='submit'><field var='rooms'><value>${victim}</value></field></x></command></iq>`,
    );
    await shards[0].waitFor(ADMIN);
    assert.match(shards[0].take(ADMIN)[0].getChild('command')?.getChild('note')?.text() ?? '', new RegExp(victim));
    expected.splice(expected.indexOf(victim), 1);
    assert.deepEqual(jids(await discoItems(shards[0])), expected);
    assert.deepEqual(jids(await discoItems(shards[1])), expected);

    // After a restart, the index read from the store agrees.
    await shards[0].close(true);
    await shards[1].close(true);
    const restarted = [
      await MucHarness.start({}, dataDir, { index: 0, count: 2 }),
      await MucHarness.start({}, dataDir, { index: 1, count: 2 }),
    ];
    assert.deepEqual(jids(await discoItems(restarted[1])), expected);
    await restarted[0].close(true);
    await restarted[1].close();
  });
});
