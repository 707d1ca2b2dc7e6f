// Opens what a MUC shard keeps of its rooms: LMDB under data_dir on a single
// node, NATS JetStream when the config has a `cluster:` section.

import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { DEFAULT_ARCHIVE_LIMITS, RoomArchive } from './archive.js';
import { openDatabase } from './database.js';
import type { RoomStores } from './interface.js';
import { openJetStreamStores } from './jetstream/connect.js';
import { RoomStore } from './rooms.js';

export async function openRoomStores<Affiliation>(settings: Pick<Config, 'data_dir' | 'storage' | 'cluster'>, log: Logger): Promise<RoomStores<Affiliation>> {
  if (settings.cluster !== null) return openJetStreamStores<Affiliation>(settings.cluster, DEFAULT_ARCHIVE_LIMITS, log);
  const database = openDatabase(settings.data_dir, settings.storage.durability);
  return { rooms: new RoomStore<Affiliation>(database), archive: new RoomArchive(database), close: () => database.close() };
}
