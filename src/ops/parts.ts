// What the HTTP listener looks at: the running server's parts, and whether
// together they are ready to serve.

import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Settings } from '../config/load.js';
import type { ComponentService } from '../frontend/component.js';
import type { ClientListener } from '../frontend/listener.js';
import type { AuthBackend } from '../frontend/auth.js';
import type { ShardPool } from '../runtime/shard-pool.js';
import type { LoadSampler } from './thread-load.js';

export interface ServerParts {
  settings: Settings;
  auth: AuthBackend;
  shards: ShardPool;
  /** Undefined when `client.enabled` is false. */
  clients: Pick<ClientListener, 'states'> | undefined;
  /** Undefined when `component.enabled` is false. */
  component: ComponentService | undefined;
  /** Undefined without a `cluster:` section. */
  cluster: ClusterLink | undefined;
  /** The main thread's load, sampled once a second by the HTTP listener. */
  mainLoad: LoadSampler;
  /** The server has begun to shut down. */
  closing(): boolean;
}

/** A cluster node's link to the others, as src/cluster/node.ts `health()` reports it. */
export interface ClusterLink {
  health(): {
    /** NATS is reachable. */
    connected: boolean;
    members: number;
    disconnects: number;
    /** Stanzas answered with `wait` as they could not reach their node, by why. */
    refused: ReadonlyMap<string, number>;
    /** Room deliveries that could not reach another node's sessions, by why. */
    dropped: ReadonlyMap<string, number>;
    /** Rooms taken over from another node, by how (handed over live, or rebuilt). */
    taken: ReadonlyMap<string, number>;
    /** Room deliveries held for nodes not keeping up. */
    held: number;
  };
}

export interface Readiness {
  ready: boolean;
  checks: { shards: boolean; clients: boolean; component: boolean; cluster: boolean; not_closing: boolean };
  /** Present on a cluster node. */
  cluster?: 'connected' | 'disconnected';
}

/** Ready to serve: shards started, the client listener listening, every component link authenticated, NATS reachable (each when enabled). */
export function readiness(parts: ServerParts): Readiness {
  const { settings } = parts;
  const connected = parts.cluster?.health().connected;
  const checks = {
    shards: parts.shards.views().every((shard) => shard.running),
    clients: !settings.client.enabled || parts.clients !== undefined,
    component: !settings.component.enabled || (parts.component?.stats().every((link) => link.up) ?? false),
    cluster: connected ?? true,
    not_closing: !parts.closing(),
  };
  const ready = Object.values(checks).every(Boolean);
  return connected === undefined ? { ready, checks } : { ready, checks, cluster: connected ? 'connected' : 'disconnected' };
}

/** The LMDB file's size on disk, in bytes. */
export function storeSize(settings: Settings): number {
  try {
    return statSync(resolve(settings.data_dir, 'conclave.mdb')).size;
  } catch {
    return 0;
  }
}
