// A cluster node's connection to NATS, and whether it is up. NATS going away
// (the server stopped, the network to it cut) is a state the node lives
// through, not an error: the client reconnects for as long as it takes, and
// meanwhile the node answers what needs the cluster with a temporary error
// (node.ts), /ready says "cluster: disconnected" and the log says when it went
// and came back. A connection that stays open but carries nothing (a silent
// partition) is found by the client's pings within about 1.5 node_timeout_seconds.

import { connect, type NatsConnection } from 'nats';
import { ConfigError, type Settings } from '../config/load.js';
import { clusterTiming } from '../config/schema.js';
import type { Logger } from '../log.js';

/** The subjects of a cluster under its prefix (`cluster.subject_prefix`): one for each node, and a few everyone hears. */
export function clusterSubjects(prefix: string) {
  return {
    hello: `${prefix}.hello`,
    heartbeat: `${prefix}.heartbeat`,
    leaving: `${prefix}.leaving`,
    sessions: `${prefix}.sessions`,
    status: `${prefix}.status`,
    node: (node: string) => `${prefix}.node.${node}`,
    acks: (node: string) => `${prefix}.node.${node}.acks`,
    snapshot: (node: string) => `${prefix}.node.${node}.snapshot`,
    service: (node: string) => `${prefix}.node.${node}.service`,
  };
}

export type ClusterSubjects = ReturnType<typeof clusterSubjects>;

export type ClusterSection = NonNullable<Settings['cluster']>;

export class ClusterConnection {
  private upNow = true;
  private downAt: number | undefined;
  private readonly listeners = new Set<(up: boolean, downMs: number) => void>();
  /** Times the connection was lost since the node started (for /metrics). */
  disconnects = 0;

  private constructor(
    readonly nats: NatsConnection,
    private readonly log: Logger,
  ) {
    void this.watch();
  }

  /** Connects, or throws a ConfigError naming the key when no server answers at all. */
  static async open(settings: Settings, cluster: ClusterSection, log: Logger): Promise<ClusterConnection> {
    const timeoutMs = clusterTiming(cluster).node_timeout_seconds * 1000;
    try {
      const nats = await connect({
        servers: cluster.nats.servers,
        name: `conclave-${cluster.node}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        // A third ping due with two unanswered makes the connection stale: a silent cut is seen within
        // about 1.5 node_timeout_seconds; never under a second apart, lest a busy event loop look like a cut.
        pingInterval: Math.max(1000, timeoutMs / 2),
        maxPingOut: 2,
      });
      return new ClusterConnection(nats, log);
    } catch (err) {
      const file = settings.sources[settings.sources.length - 1];
      throw new ConfigError(`cannot reach NATS at ${cluster.nats.servers.join(', ')} (cluster.nats.servers in ${file}): ${(err as Error).message}`);
    }
  }

  /** Whether NATS is reachable now. */
  get up(): boolean {
    return this.upNow;
  }

  /** For how long NATS has been out of reach (0 while it is up). */
  downForMs(now = Date.now()): number {
    return this.downAt === undefined ? 0 : now - this.downAt;
  }

  /** Calls `listener` each time the connection goes down or comes back (with how long it was down). */
  onChange(listener: (up: boolean, downMs: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async watch(): Promise<void> {
    for await (const status of this.nats.status()) {
      if (status.type === 'disconnect' && this.upNow) {
        this.upNow = false;
        this.downAt = Date.now();
        this.disconnects++;
        this.log.warn({ nats: status.data }, 'cluster: disconnected from NATS; answering what needs another node with wait until it is back');
        for (const listener of this.listeners) listener(false, 0);
      } else if (status.type === 'reconnect' && !this.upNow) {
        const downMs = this.downForMs();
        this.log.warn({ nats: status.data, downMs }, 'cluster: NATS is back; resyncing members and sessions');
        this.upNow = true;
        this.downAt = undefined;
        for (const listener of this.listeners) listener(true, downMs);
      }
    }
  }
}
