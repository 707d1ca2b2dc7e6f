// Opens what a MUC shard keeps of its rooms, and the accounts the front end
// and the account commands read: LMDB under data_dir on a single node, NATS
// JetStream when the config has a `cluster:` section.

import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { AccountStore } from './accounts.js';
import { DEFAULT_ARCHIVE_LIMITS, RoomArchive } from './archive.js';
import { openDatabase, type Database } from './database.js';
import type { AccountsStore, RoomStores } from './interface.js';
import { openJetStreamAccounts, openJetStreamStores } from './jetstream/connect.js';
import { RoomStore } from './rooms.js';

export async function openRoomStores<Affiliation>(settings: Pick<Config, 'data_dir' | 'storage' | 'cluster'>, log: Logger): Promise<RoomStores<Affiliation>> {
  if (settings.cluster !== null) return openJetStreamStores<Affiliation>(settings.cluster, DEFAULT_ARCHIVE_LIMITS, log);
  const database = openDatabase(settings.data_dir, settings.storage.durability);
  return { rooms: new RoomStore<Affiliation>(database), archive: new RoomArchive(database), close: () => database.close() };
}

/** The accounts: in `database` (the caller's, which it closes) on a single node, in JetStream in a cluster. */
export async function openAccounts(
  settings: Pick<Config, 'cluster'>,
  database: Database,
  log: Logger,
): Promise<{ accounts: AccountsStore; close(): Promise<void> }> {
  if (settings.cluster !== null) return openJetStreamAccounts(settings.cluster, log);
  return { accounts: new AccountStore(database), close: async () => {} };
}
