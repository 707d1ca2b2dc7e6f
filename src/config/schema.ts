// The configuration schema. Every key a user can write is declared here, with
// its type and range; unknown keys are refused so a typo cannot pass silently.

import { isIP } from 'node:net';
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
/** A count where 0 means no limit. */
const limit = z.number().int().min(0);
const rate = z
  .object({
    // 0 is no limit.
    bytes_per_second: limit,
    stanzas_per_second: limit,
    // Seconds of the rate a quiet session may spend at once.
    burst_seconds: z.number().positive().max(3600),
  })
  .strict();
const path = z.string().min(1);
const domain = z
  .string()
  .min(1)
  .max(1023)
  .regex(/^[^@/\s]+$/, 'must be a domain name without "@", "/" or spaces');
/** What a cluster's NATS subjects start with when `cluster.subject_prefix` is not set. */
export const DEFAULT_SUBJECT_PREFIX = 'conclave';
const natsName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, "-" or "_" (a name NATS accepts)');

export const configSchema = z
  .object({
    domain,
    data_dir: path,
    storage: z.object({ durability: z.enum(['committed', 'flushed']) }).strict(),
    // null: one node, state in LMDB under data_dir. Set: a cluster node on NATS, rooms' state in JetStream.
    cluster: z
      .object({
        // Names the node's NATS subjects and its room leases.
        node: natsName,
        nats: z.object({ servers: z.array(z.string().min(1)).min(1) }).strict(),
        // Absent: clusterTiming's defaults.
        heartbeat_seconds: z.number().positive().max(60).optional(),
        node_timeout_seconds: z.number().positive().max(600).optional(),
        // What every subject of the cluster starts with: two clusters on one NATS need two prefixes.
        subject_prefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/, 'must be NATS subject tokens (letters, digits, "-", "_") joined by "."')
          .default(DEFAULT_SUBJECT_PREFIX),
        // Bytes sent to one other node and not yet acknowledged by it; past this, what is for that node gets `wait`.
        max_pending_bytes_per_peer: z.number().int().min(1024).default(16 * 1024 * 1024),
        // Milliseconds a node under steady traffic holds a small batch for another node, for more to share its NATS message; 0: every turn.
        batch_delay_ms: z.number().min(0).max(50).default(2),
        // Milliseconds a node stopping cleanly may take to hand its rooms to their next owners; past it, it stops anyway.
        drain_timeout_ms: z.number().int().min(0).max(60_000).default(5_000),
        store: z
          .object({
            rooms_bucket: natsName.default('conclave_rooms'),
            archive_stream: natsName.default('conclave_archive'),
            accounts_bucket: natsName.default('conclave_accounts'),
            replicas: z.number().int().min(1).max(5).default(1),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .nullable(),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    client: z
      .object({
        enabled: z.boolean(),
        host: z.string().min(1),
        port,
        backlog: z.number().int().min(1).max(65535),
        io_threads: z.union([z.literal('auto'), z.number().int().min(1).max(256)]),
        tls_cert: path.nullable(),
        tls_key: path.nullable(),
        max_connections_per_ip: limit,
        connection_limit_exempt: z.array(z.string().refine((address) => isIP(address) !== 0, 'must be an IP address')),
        max_sessions_per_account: limit,
        rate: z.object({ unauthenticated: rate, authenticated: rate }).strict(),
        max_stanzas_in_flight: z.number().int().min(1),
        max_shard_stanzas_in_flight: z.number().int().min(1),
        max_unread_bytes: z.number().int().min(65536),
        unread_grace_seconds: z.number().positive(),
        max_queued_bytes: z.number().int().min(65536),
        ping_interval_seconds: z.number().positive(),
        ping_timeout_seconds: z.number().positive(),
        resumption_timeout: z.number().min(0),
        max_unacked_stanzas: z.number().int().min(1),
        csi_max_held: z.number().int().min(1),
      })
      .strict(),
    auth: z
      .object({
        backend: z.enum(['internal', 'insecure']),
        failure_delay_ms: z.number().int().min(0),
        failure_delay_max_ms: z.number().int().min(0),
        guest_domain: domain.nullable(),
      })
      .strict(),
    websocket: z
      .object({
        enabled: z.boolean(),
        host: z.string().min(1),
        port,
        path: z.string().regex(/^\/[^?#\s]*$/, 'must be a URL path starting with "/"'),
        url: z.string().regex(/^wss?:\/\/\S+$/, 'must be a ws:// or wss:// URL').nullable(),
      })
      .strict(),
    accounts: z
      .object({
        offline_messages: z.number().int().min(0).max(100000),
      })
      .strict(),
    limits: z
      .object({
        max_stanza_size: z.number().int().min(1024),
        max_stanza_size_unauthenticated: z.number().int().min(512),
        max_depth: z.number().int().min(2).max(10000),
        max_attributes: z.number().int().min(1).max(10000),
      })
      .strict(),
    muc: z
      .object({
        domain,
        shards: z.union([z.literal('auto'), z.number().int().min(1).max(256)]),
        mailbox_limit: z.number().int().min(1),
        turn_budget: z.number().int().min(1),
        thread_batch_delay_ms: z.number().min(0).max(50),
        admins: z.array(z.string().min(1)),
        history_length: z.number().int().min(0),
        max_history_length: z.number().int().min(0),
        max_history_chars: z.number().int().min(0),
        max_subject_length: z.number().int().min(0),
        max_nick_length: z.number().int().min(1).max(1023),
        max_occupants: z.number().int().min(1),
        max_rooms: z.number().int().min(1),
        max_rooms_per_user: z.number().int().min(1),
        // Below the worker's own heap limit (SHARD_HEAP_LIMIT_MB in shard-pool.ts), or it sheds nothing before dying.
        heap_budget_mb: z.number().int().min(1).max(2047),
        tombstone_expiry: z.number().int().min(0),
        enforce_registered_nickname: z.boolean(),
      })
      .strict(),
    component: z
      .object({
        enabled: z.boolean(),
        host: z.string().min(1),
        // An address to connect to: 0 is no port.
        port: port.min(1),
        secret: z.string(),
        connections: z.number().int().min(1).max(64),
      })
      .strict(),
    http: z.object({ enabled: z.boolean(), host: z.string().min(1), port }).strict(),
  })
  .strict()
  .superRefine((config, context) => {
    if (config.client.max_queued_bytes < config.client.max_unread_bytes) {
      context.addIssue({ code: 'custom', path: ['client', 'max_queued_bytes'], message: 'must be at least client.max_unread_bytes' });
    }
    if (config.component.enabled && config.component.secret === '') {
      context.addIssue({
        code: 'custom',
        path: ['component', 'secret'],
        message: 'must be set when component.enabled is true (the shared secret of the XEP-0114 handshake)',
      });
    }
    if (config.websocket.enabled && !config.client.enabled) {
      context.addIssue({
        code: 'custom',
        path: ['websocket', 'enabled'],
        message: 'needs client.enabled: WebSocket clients are client sessions',
      });
    }
    const guests = config.auth.guest_domain;
    if (guests !== null && (guests === config.domain || guests === config.muc.domain)) {
      context.addIssue({
        code: 'custom',
        path: ['auth', 'guest_domain'],
        message: `must differ from domain and muc.domain (guests get JIDs of their own domain, ${guests} is taken)`,
      });
    }
    if (config.muc.history_length > config.muc.max_history_length) {
      context.addIssue({ code: 'custom', path: ['muc', 'history_length'], message: 'must not exceed muc.max_history_length' });
    }
    if (config.cluster !== null && clusterTiming(config.cluster).node_timeout_seconds <= clusterTiming(config.cluster).heartbeat_seconds) {
      context.addIssue({ code: 'custom', path: ['cluster', 'node_timeout_seconds'], message: 'must exceed cluster.heartbeat_seconds' });
    }
    if (config.cluster !== null && config.component.enabled) {
      context.addIssue({ code: 'custom', path: ['cluster', 'node'], message: 'a cluster serves client connections only: set component.enabled to false' });
    }
    if (!config.client.enabled && !config.component.enabled) {
      context.addIssue({
        code: 'custom',
        path: ['client', 'enabled'],
        message: 'client.enabled and component.enabled are both false: nothing could reach the MUC',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** A cluster node's heartbeat interval and the silence after which the others count it out, defaults filled in. */
export function clusterTiming(cluster: NonNullable<Config['cluster']>): { heartbeat_seconds: number; node_timeout_seconds: number } {
  return { heartbeat_seconds: cluster.heartbeat_seconds ?? 1, node_timeout_seconds: cluster.node_timeout_seconds ?? 3 };
}
