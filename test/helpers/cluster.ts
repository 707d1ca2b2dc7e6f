// Test support: Conclave nodes of one cluster, each a test server (its own
// data folder, ephemeral port, the scansion profile) on one nats-server.

import type { MembershipChange } from '../../src/cluster/membership.js';
import type { ClusterNode } from '../../src/cluster/node.js';
import { startTestServer, type TestServer } from './server.js';

export type TestNode = TestServer & { cluster: ClusterNode };

/** Quick heartbeats, so a test sees a node out within a second or so. */
export const TEST_TIMING = { heartbeat_seconds: 0.2, node_timeout_seconds: 1 };

export async function startNode(node: string, natsUrl: string, overrides: Record<string, unknown> = {}): Promise<TestNode> {
  const server = await startTestServer({ muc: { shards: 1 }, cluster: { node, nats: { servers: [natsUrl] }, ...TEST_TIMING }, ...overrides });
  return server as TestNode;
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
