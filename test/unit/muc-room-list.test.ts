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
import type { Element } from '../../src/xml/element.js';
import { errorCondition, MucHarness } from './muc-harness.js';

const OWNER = 'romeo@localhost/a';
const ASKER = 'juliet@localhost/a';
const RSM = 'http://jabber.org/protocol/rsm';
const CONFIG_FORM = 'http://jabber.org/protocol/muc#roomconfig';

const stored = (i: number): string => `stored-${String(i).padStart(2, '0')}@conference.localhost`;
const live = (i: number): string => `live-${String(i).padStart(2, '0')}@conference.localhost`;

/** Ten public stored rooms (0–9) and three hidden ones (10–12), none loaded. */
async function storeRooms(dataDir: string): Promise<void> {
  const database = openDatabase(dataDir);
  const store = new RoomStore(database);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 13; i++) {
    const config = { persistent: true, name: `Stored ${i}`, public: i < 10 };
    writes.push(store.write(stored(i), { config, affiliations: [['romeo@localhost', { affiliation: 'owner' }]] }));
  }
  await Promise.all(writes);
  await database.close();
}

function configure(muc: MucHarness, room: string, fields: Record<string, string>): void {
  const body = Object.entries({ FORM_TYPE: CONFIG_FORM, ...fields })
    .map(([name, value]) => `<field var='${name}'><value>${value}</value></field>`)
    .join('');
  muc.receive(
    `<iq from='${OWNER}' to='${room}' type='set' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>${body}</x></query></iq>`,
  );
}

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
      configure(muc, live(i), { 'muc#roomconfig_publicroom': i < 15 ? '1' : '0' });
    }
    // A stored public room loaded and made hidden, and a stored hidden one made public: the live settings win.
    muc.join(OWNER, 'Romeo', stored(10));
    configure(muc, stored(10), { 'muc#roomconfig_publicroom': '1', 'muc#roomconfig_roomname': 'Shown' });
    muc.join(OWNER, 'Romeo', stored(0));
    configure(muc, stored(0), { 'muc#roomconfig_publicroom': '0' });
    publicRooms.splice(publicRooms.indexOf(stored(0)), 1, stored(10));
    publicRooms.sort();
    await new Promise((resolve) => setTimeout(resolve, 100));
    muc.take(OWNER);
  });

  after(() => muc.close());

  async function items(set = ''): Promise<Element> {
    muc.receive(`<iq from='${ASKER}' to='conference.localhost' type='get' id='items'><query xmlns='http://jabber.org/protocol/disco#items'>${set}</query></iq>`);
    await muc.waitFor(ASKER);
    const [answer] = muc.take(ASKER);
    return answer;
  }

  const jids = (answer: Element): string[] => answer.getChild('query')!.getChildren('item').map((item) => item.attrs.jid);
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
