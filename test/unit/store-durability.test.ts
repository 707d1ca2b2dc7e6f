// What an acknowledged write means (storage.durability): with `flushed`, a
// store resolves a write only after LMDB has flushed it to disk; with
// `committed`, once it is committed. Either way the write is there for
// whoever reads next, and the setting is checked like every other key.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { openDatabase, type Durability } from '../../src/store/database.js';
import { AccountStore } from '../../src/store/accounts.js';
import { RoomStore } from '../../src/store/rooms.js';

const ROOM = 'chapel@conference.localhost';

async function withDatabase(durability: Durability, use: (database: ReturnType<typeof openDatabase>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'conclave-durability-'));
  const database = openDatabase(dir, durability);
  try {
    await use(database);
  } finally {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The order in which the database reports the flush of the writes so far and the store acknowledges the write. */
async function orderOf(database: ReturnType<typeof openDatabase>, write: () => Promise<unknown>): Promise<string[]> {
  const order: string[] = [];
  const acknowledged = write().then(() => order.push('acknowledged'));
  const flushed = Promise.resolve(database.flushed).then(() => order.push('flushed'));
  await Promise.all([acknowledged, flushed]);
  return order;
}

describe('storage.durability', () => {
  it('flushed: a room write and an account change are acknowledged only after the flush', async () => {
    await withDatabase('flushed', async (database) => {
      const rooms = new RoomStore(database);
      const order = await orderOf(database, () =>
        rooms.write(ROOM, { affiliations: [['juliet@localhost', { affiliation: 'member' }]] }),
      );
      assert.deepEqual(order, ['flushed', 'acknowledged']);
      assert.equal(rooms.load(ROOM), undefined, 'an affiliation alone stores no room');

      const accounts = new AccountStore(database);
      assert.deepEqual(await orderOf(database, () => accounts.create('romeo@localhost', 'pw')), ['flushed', 'acknowledged']);
      assert.ok(accounts.credential('romeo@localhost', 'sha256'));
    });
  });

  it('committed: the write resolves once committed and is there to read', async () => {
    await withDatabase('committed', async (database) => {
      const accounts = new AccountStore(database);
      assert.equal(await accounts.create('romeo@localhost', 'pw'), true);
      assert.ok(accounts.credential('romeo@localhost', 'sha256'));
    });
  });

  it('defaults to flushed and refuses anything else, naming the key', () => {
    assert.equal(loadConfig({}).storage.durability, 'flushed');
    assert.throws(
      () => loadConfig({ overrides: { storage: { durability: 'fsync' } } }),
      /storage\.durability/,
    );
  });
});
