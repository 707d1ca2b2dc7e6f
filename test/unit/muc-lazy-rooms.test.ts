// Stored rooms are loaded when first addressed, not when the service starts:
// a service over many stored rooms starts without reading them, and each
// room it is asked about is read alone. The admins' destroy command finds
// stored rooms that are not loaded, and removes them from storage.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { RoomStore } from '../../src/store/rooms.js';
import { MucHarness } from './muc-harness.js';

const STORED_ROOMS = 20_000;
const ADMIN = 'admin@localhost/console';
const COMMANDS = 'http://jabber.org/protocol/commands';
const DESTROY = 'http://prosody.im/protocol/muc#destroy';

function roomJid(i: number): string {
  return `stored-${i}@conference.localhost`;
}

async function storeRooms(dataDir: string): Promise<void> {
  const database = openDatabase(dataDir);
  const store = new RoomStore(database);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < STORED_ROOMS; i++) {
    const config = { persistent: true, name: `Room ${i}`, public: i === 7 };
    writes.push(store.write(roomJid(i), { config, affiliations: [['romeo@localhost', { affiliation: 'owner' }]] }));
  }
  await Promise.all(writes);
  await database.close();
}

describe('stored rooms', () => {
  it('are loaded one by one as they are addressed, never all at start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'conclave-lazy-'));
    await storeRooms(dataDir);
    const muc = await MucHarness.start({ admins: ['admin@localhost'] }, dataDir);
    const app = muc.application;
    assert.equal(app.inspect(roomJid(1)), undefined, 'not loaded at start');

    muc.receive(`<iq from='juliet@localhost/a' to='${roomJid(1)}' type='get' id='i'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    const info = muc.take('juliet@localhost/a')[0];
    assert.equal(info.attrs.type, 'result');
    assert.equal(info.getChild('query')?.getChild('identity')?.attrs.name, 'Room 1');
    assert.notEqual(app.inspect(roomJid(1)), undefined, 'loaded once addressed');
    assert.equal(app.inspect(roomJid(2)), undefined, 'its neighbours stay on disk');

    // disco#items lists the public one without loading it.
    muc.receive(`<iq from='juliet@localhost/a' to='conference.localhost' type='get' id='items'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`);
    await muc.waitFor('juliet@localhost/a');
    const items = muc.take('juliet@localhost/a')[0].getChild('query')!.getChildren('item');
    assert.deepEqual(items.map((item) => item.attrs), [{ jid: roomJid(7), name: 'Room 7' }]);
    assert.equal(app.inspect(roomJid(7)), undefined);

    // An admin destroys a stored room that is not loaded: only its tombstone is left in storage.
    muc.receive(
      `<iq from='${ADMIN}' to='conference.localhost' type='set' id='d'><command xmlns='${COMMANDS}' node='${DESTROY}'><x xmlns='jabber:x:data' type='submit'><field var='rooms'><value>${roomJid(3)}</value><value>nowhere@conference.localhost</value></field></x></command></iq>`,
    );
    await muc.waitFor(ADMIN);
    const note = muc.take(ADMIN)[0].getChild('command', COMMANDS)?.getChild('note');
    assert.equal(note?.attrs.type, 'info');
    assert.equal(note?.text(), `The following rooms were destroyed:\n${roomJid(3)}`);
    await muc.close(true);

    const reopened = await MucHarness.start({}, dataDir);
    reopened.receive(`<iq from='juliet@localhost/a' to='${roomJid(3)}' type='get' id='i'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    // It is a tombstone now, as in Prosody.
    assert.equal(reopened.take('juliet@localhost/a')[0].getChild('error')?.getChild('gone') !== undefined, true);
    await reopened.close();
  });
});
