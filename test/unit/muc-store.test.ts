// Persistent rooms in LMDB: what an acknowledgement promises is on disk, a
// reopened service finds it, and rooms with similar names keep their own
// affiliations.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { AccountStore } from '../../src/store/accounts.js';
import { RoomStore } from '../../src/store/rooms.js';
import { MucHarness, ROOM, configSet } from './muc-harness.js';

const ROMEO = 'romeo@localhost/home';

function persistentConfig(from: string, on: boolean): string {
  return configSet(from, { 'muc#roomconfig_persistentroom': on ? '1' : '0' });
}

describe('room store', () => {
  it('acknowledges a persistent room only once it is stored, and a new service loads it', async () => {
    const muc = await MucHarness.start();
    muc.join(ROMEO, 'Romeo');
    muc.take(ROMEO);
    muc.receive(persistentConfig(ROMEO, true));
    assert.deepEqual(muc.take(ROMEO), [], 'nothing before the commit');
    await muc.waitFor(ROMEO);
    assert.equal(muc.take(ROMEO)[0].attrs.type, 'result');

    muc.receive(
      `<iq from='${ROMEO}' to='${ROOM}' type='set' id='m'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='juliet@localhost' nick='Juliet'/></query></iq>`,
    );
    await muc.waitFor(ROMEO);
    assert.deepEqual(muc.take(ROMEO).map((s) => s.attrs.type), [undefined, 'result']);
    await muc.close(true);

    const reopened = await MucHarness.start({}, muc.dataDir);
    reopened.receive(`<iq from='${ROMEO}' to='${ROOM}' type='get' id='l'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`);
    const items = reopened.take(ROMEO)[0].getChild('query')!.getChildren('item');
    assert.deepEqual(items.map((i) => i.attrs), [{ affiliation: 'member', jid: 'juliet@localhost', nick: 'Juliet' }]);
    const room = reopened.application.inspect(ROOM)!;
    assert.equal((room.config as Record<string, unknown>).persistent, true);
    assert.deepEqual(room.occupants, []);

    // Rejoining an empty persistent room does not recreate it (no 201), and it needs no configuration.
    const [self] = reopened.join(ROMEO, 'Romeo').filter((s) => s.name === 'presence');
    assert.ok(!self.toString().includes("code='201'"));

    // Made temporary again, it leaves storage once it is empty.
    reopened.receive(persistentConfig(ROMEO, false));
    await reopened.waitFor(ROMEO);
    reopened.receive(`<presence from='${ROMEO}' to='${ROOM}/Romeo' type='unavailable'/>`);
    await reopened.close(true);
    const database = openDatabase(muc.dataDir);
    assert.equal(new RoomStore(database).load(ROOM), undefined);
    await database.close();
    await rm(muc.dataDir, { recursive: true, force: true });
  });

  it("keeps an affiliation's reason and features' data with it, and a destroyed room's tombstone", async () => {
    const muc = await MucHarness.start();
    muc.join(ROMEO, 'Romeo');
    muc.take(ROMEO);
    muc.receive(persistentConfig(ROMEO, true));
    await muc.waitFor(ROMEO);
    muc.take(ROMEO);
    muc.receive(
      `<iq from='${ROMEO}' to='${ROOM}' type='set' id='m'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='juliet@localhost'><reason>Kin</reason></item></query></iq>`,
    );
    await muc.waitFor(ROMEO);
    muc.take(ROMEO);
    muc.receive(
      `<iq from='${ROMEO}' to='${ROOM}' type='set' id='h'><command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:hats:commands:don'><x xmlns='jabber:x:data' type='submit'>` +
        `<field var='hats#jid'><value>juliet@localhost</value></field><field var='hats#hat'><value>x:host</value></field><field var='hats#title'><value>Host</value></field></x></command></iq>`,
    );
    await muc.waitFor(ROMEO);
    await muc.close(true);

    const reopened = await MucHarness.start({}, muc.dataDir);
    reopened.receive(`<iq from='${ROMEO}' to='${ROOM}' type='get' id='l'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`);
    assert.equal(reopened.take(ROMEO)[0].getChild('query')!.getChild('item')!.getChildText('reason'), 'Kin');
    const juliet = reopened.join('juliet@localhost/b', 'Juliet').find((s) => s.attrs.from === `${ROOM}/Juliet`)!;
    assert.equal(juliet.getChild('hats', 'urn:xmpp:hats:0')?.getChild('hat')?.attrs.title, 'Host');

    reopened.receive(`<iq from='${ROMEO}' to='${ROOM}' type='set' id='d'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`);
    await reopened.waitFor(ROMEO);
    await reopened.close(true);
    const database = openDatabase(muc.dataDir);
    const tombstone = new RoomStore(database).load(ROOM);
    assert.deepEqual(Object.keys(tombstone!.config).sort(), ['persistent', 'tombstone']);
    assert.equal(tombstone!.affiliations.size, 0);
    await database.close();

    // A service admin's join frees the name; with tombstone_expiry 0, destroying the new room leaves nothing.
    const ADMIN = 'admin@localhost/a';
    const without = await MucHarness.start({ tombstone_expiry: 0, admins: ['admin@localhost'] }, muc.dataDir);
    without.receive(`<presence from='${ADMIN}' to='${ROOM}/Admin'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    await without.waitFor(ADMIN);
    assert.ok(without.take(ADMIN).some((s) => s.toString().includes("code='201'")));
    without.receive(persistentConfig(ADMIN, true));
    await without.waitFor(ADMIN);
    without.take(ADMIN);
    without.receive(`<iq from='${ADMIN}' to='${ROOM}' type='set' id='d'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`);
    await without.waitFor(ADMIN);
    await without.close(true);
    const after = openDatabase(muc.dataDir);
    assert.equal(new RoomStore(after).load(ROOM), undefined);
    await after.close();
    await rm(muc.dataDir, { recursive: true, force: true });
  });

  it('keeps the affiliations of rooms with similar names apart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-store-'));
    const database = openDatabase(dir);
    const store = new RoomStore(database);
    const rooms = ['room@c', 'room1@c', 'roo@c', 'room@c2', 'room@c.d'];
    for (const [i, room] of rooms.entries()) {
      await store.write(room, { config: { i }, affiliations: [[`u${i}@x`, { affiliation: 'member', nick: `n${i}` }]], replace: true });
    }
    for (const [i, room] of rooms.entries()) {
      const loaded = store.load(room)!;
      assert.deepEqual(loaded.config, { i });
      assert.deepEqual([...loaded.affiliations], [[`u${i}@x`, { affiliation: 'member', nick: `n${i}` }]], room);
    }
    await store.delete('room@c');
    assert.equal(store.load('room@c'), undefined);
    assert.equal(store.load('room1@c')!.affiliations.size, 1);
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("forgets a deleted account's affiliations in every room, in the deletion's transaction, and nobody else's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-forget-'));
    const database = openDatabase(dir);
    const store = new RoomStore(database);
    const accounts = new AccountStore(database);
    const juliet = 'juliet@localhost';
    await accounts.create(juliet, 'password');
    await store.write('a@c', {
      config: {},
      affiliations: [
        [juliet, { affiliation: 'owner', nick: 'Juliet' }],
        ['romeo@localhost', { affiliation: 'member' }],
      ],
    });
    await store.write('b@c', {
      config: {},
      affiliations: [
        [juliet, { affiliation: 'outcast' }],
        ['juliet@localhost.example', { affiliation: 'member' }],
      ],
    });

    let forgotten: string[] = [];
    assert.equal(await accounts.delete(juliet, () => (forgotten = store.forgetUser(juliet))), true);
    assert.deepEqual(forgotten, ['a@c', 'b@c']);
    assert.deepEqual([...store.load('a@c')!.affiliations.keys()], ['romeo@localhost']);
    assert.deepEqual([...store.load('b@c')!.affiliations.keys()], ['juliet@localhost.example']);
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });
});
