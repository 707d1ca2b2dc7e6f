// Test support: Conclave nodes of one cluster, each a test server (its own
// data folder, ephemeral port, the scansion profile) on one nats-server.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MembershipChange } from '../../src/cluster/membership.js';
import type { ClusterNode } from '../../src/cluster/node.js';
import { ownerOf } from '../../src/cluster/placement.js';
import { startNats, type TestNats } from './nats.js';
import { spawnServer, startTestServer, type SpawnedServer, type TestServer } from './server.js';

export type TestNode = TestServer & { cluster: ClusterNode };

/** Quick heartbeats, so a test sees a node out within a second or so. */
export const TEST_TIMING = { heartbeat_seconds: 0.2, node_timeout_seconds: 1 };

export async function startNode(node: string, natsUrl: string, overrides: Record<string, unknown> = {}): Promise<TestNode> {
  const server = await startTestServer({ muc: { shards: 1 }, cluster: { node, nats: { servers: [natsUrl] }, ...TEST_TIMING }, ...overrides });
  return server as TestNode;
}

export interface ThreeNodes {
  nats: TestNats;
  /** n1 and n2, in this process. */
  nodes: TestNode[];
  /** n3, a process of its own that a test may kill (-9). */
  third: SpawnedServer;
  /** n3's configuration file. */
  config: string;
  stop(): Promise<void>;
}

/** A nats-server and three nodes on it, `overrides` layered on n1's and n2's settings; resolves once n1 and n2 see all three. */
export async function startThreeNodes(overrides: Record<string, unknown> = {}): Promise<ThreeNodes> {
  const nats = await startNats();
  const nodes = [await startNode('n1', nats.url, overrides), await startNode('n2', nats.url, overrides)];
  const folder = await mkdtemp(join(tmpdir(), 'conclave-cluster-'));
  const { server: third, config } = await spawnNode('n3', nats.url, folder);
  await Promise.all(nodes.map((node) => membersBecome(node.cluster, ['n1', 'n2', 'n3'])));
  return {
    nats,
    nodes,
    third,
    config,
    async stop() {
      await third.stop('SIGKILL');
      await Promise.all(nodes.map((node) => node.close()));
      await nats.stop();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** Node `node` as a `conclave start` of its own, so that a test can kill it; its configuration (returned) and data in `folder`. */
export async function spawnNode(node: string, natsUrl: string, folder: string): Promise<{ server: SpawnedServer; config: string }> {
  const config = join(folder, `${node}.yaml`);
  const cluster = { node, nats: { servers: [natsUrl] }, ...TEST_TIMING };
  const file = { data_dir: join(folder, 'data'), log_level: 'warn', client: { port: 0, io_threads: 1 }, muc: { shards: 1 }, cluster };
  await writeFile(config, JSON.stringify(file));
  return { server: await spawnServer(['--profile', 'scansion', '--config', config]), config };
}

/** Resolves once the node sees exactly these members. */
export function membersBecome(cluster: ClusterNode, members: string[]): Promise<void> {
  const wanted = [...members].sort().join(' ');
  if (cluster.members.join(' ') === wanted) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = cluster.onChange((change: MembershipChange) => {
      if (change.members.join(' ') !== wanted) return;
      stop();
      resolve();
    });
  });
}

/** A room name that rendezvous hashing gives to `owner` among `members` (and, if given, to `then` among `later`). */
export function roomOwnedBy(owner: string, members: string[], prefix: string, later?: { then: string; members: string[] }): string {
  for (let i = 0; ; i++) {
    const room = `${prefix}${i}@conference.localhost`;
    if (ownerOf(room, members) === owner && (later === undefined || ownerOf(room, later.members) === later.then)) return room;
  }
}
