// Opens the cluster's stores on NATS JetStream: the rooms' KV bucket and the
// archive's stream (for a MUC shard), the accounts' KV bucket (for the front
// end and the account commands), created on first use with the configured replicas.

import { connect, DiscardPolicy, nanos, StorageType, type NatsConnection } from 'nats';
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { ArchiveLimits } from '../archive.js';
import type { AccountsStore, RoomStores } from '../interface.js';
import { JetStreamAccountStore } from './accounts.js';
import { JetStreamArchive } from './archive.js';
import { StreamPublisher } from './publisher.js';
import { JetStreamRoomStore } from './rooms.js';

export type ClusterSettings = NonNullable<Config['cluster']>;

export async function openJetStreamStores<Affiliation = unknown>(
  cluster: ClusterSettings,
  limits: ArchiveLimits,
  log: Logger,
): Promise<RoomStores<Affiliation> & { rooms: JetStreamRoomStore<Affiliation> }> {
  const connection = await connectTo(cluster);
  try {
    const js = connection.jetstream();
    const jsm = await connection.jetstreamManager();
    const { rooms_bucket: bucket, archive_stream: stream, replicas } = cluster.store;
    const kv = await js.views.kv(bucket, { history: 1, storage: StorageType.File, replicas });
    await jsm.streams.info(stream).catch(() =>
      jsm.streams.add({
        name: stream,
        subjects: [`${stream}.>`],
        storage: StorageType.File,
        num_replicas: replicas,
        // Messages, each of one entry or more: room for the entries and the owner's marker (src/store/jetstream/archive.ts).
        max_msgs_per_subject: limits.maxItems + 1,
        max_age: nanos(limits.maxAgeMs),
        discard: DiscardPolicy.Old,
      }),
    );
    void reportStatus(connection, cluster, log);
    const rooms = new JetStreamRoomStore<Affiliation>(kv, cluster.node, log);
    const archive = new JetStreamArchive(js, jsm, new StreamPublisher(connection), stream, cluster.node, limits, log);
    const close = async (): Promise<void> => {
      await archive.settled();
      await connection.drain();
    };
    return { rooms, archive, ownership: rooms, close };
  } catch (err) {
    await connection.close();
    throw err;
  }
}

export async function openJetStreamAccounts(
  cluster: ClusterSettings,
  log: Logger,
): Promise<{ accounts: AccountsStore & JetStreamAccountStore; close(): Promise<void> }> {
  const connection = await connectTo(cluster);
  try {
    const kv = await connection.jetstream().views.kv(cluster.store.accounts_bucket, { history: 1, storage: StorageType.File, replicas: cluster.store.replicas });
    void reportStatus(connection, cluster, log);
    return { accounts: await JetStreamAccountStore.open(kv, log), close: () => connection.drain() };
  } catch (err) {
    await connection.close();
    throw err;
  }
}

async function connectTo(cluster: ClusterSettings): Promise<NatsConnection> {
  try {
    // Reconnects for as long as it takes: a store that gave up would need a restart once NATS is back.
    // No stack captured per request (nats.js's default, for its timeouts' messages): it cost the archive's publishes a tenth of a shard's CPU.
    return await connect({ servers: cluster.nats.servers, name: `conclave ${cluster.node}`, maxReconnectAttempts: -1, noAsyncTraces: true });
  } catch (err) {
    throw new ConfigError(`Cannot reach NATS at ${cluster.nats.servers.join(', ')} (cluster.nats.servers): ${(err as Error).message}`);
  }
}

/** Says when the node loses NATS and when it has it back: meanwhile room loads and writes fail with a temporary error. */
async function reportStatus(connection: NatsConnection, cluster: ClusterSettings, log: Logger): Promise<void> {
  for await (const status of connection.status()) {
    if (status.type === 'disconnect') log.warn({ servers: cluster.nats.servers }, 'lost NATS: rooms cannot be loaded or written until it is back');
    else if (status.type === 'reconnect') log.info({ server: status.data }, 'NATS is back');
  }
}
