// /metrics: the server's counters and gauges as a prom-client registry. Every
// metric is read at scrape time from the plain counters (counters.ts) and the
// server's parts; nothing here runs between scrapes.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { counters, type StanzaCounts } from './counters.js';
import { readiness, storeSize, type ServerParts } from './parts.js';
import type { ThreadLoad } from './thread-load.js';

type Labels = Record<string, string>;
type Samples = Iterable<[Labels, number]>;

export function metricsRegistry(parts: ServerParts): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Both kinds are set afresh from `read` on each scrape: cleared, then counted up to the value.
  const define =
    (Kind: typeof Counter | typeof Gauge) =>
    (name: string, help: string, labelNames: string[], read: () => Samples): void => {
      new Kind({
        name,
        help,
        labelNames,
        registers: [registry],
        collect(this: Counter | Gauge) {
          this.reset();
          for (const [labels, value] of read()) this.inc(labels, value);
        },
      });
    };
  const counter = define(Counter);
  const gauge = define(Gauge);
  const threads = () => threadLoads(parts);

  gauge('conclave_ready', '1 when the server is ready to serve (as /ready)', [], () => [[{}, readiness(parts).ready ? 1 : 0]]);
  gauge('conclave_connections', 'Open connections by transport and state', ['transport', 'state'], () => connections(parts));
  counter('conclave_stanzas_total', 'Stanzas read (in) and written (out) by transport and kind', ['direction', 'transport', 'kind'], () => stanzas(parts));
  counter('conclave_deliveries_total', 'Deliveries returned by the shards (one stanza to its recipients)', [], () => [[{}, counters.deliveries]]);
  counter('conclave_direct_deliveries_total', 'Of those, the ones a shard sent straight to an I/O thread, split per thread', [], () => [[{}, counters.directDeliveries]]);
  counter('conclave_rerouted_deliveries_total', 'Deliveries an I/O thread got for a session it no longer serves and handed to the main thread', [], () => [[{}, counters.reroutedDeliveries]]);
  gauge('conclave_rooms', 'Rooms with occupants, by shard', ['shard'], () =>
    parts.shards.views().map((shard) => [{ shard: String(shard.index) }, shard.roomSizes.length]),
  );
  gauge('conclave_occupants', 'Occupants (nicknames in rooms), by shard', ['shard'], () =>
    parts.shards.views().map((shard) => [{ shard: String(shard.index) }, sum(shard.roomSizes)]),
  );
  gauge('conclave_shard_in_flight', 'Stanzas dispatched to a shard and not handled yet (its mailbox depth)', ['shard'], () =>
    parts.shards.views().map((shard) => [{ shard: String(shard.index) }, shard.inFlight]),
  );
  gauge('conclave_thread_event_loop_lag_seconds', 'Mean event-loop delay over the last second, by thread', ['thread'], () =>
    threads().map(([thread, load]) => [{ thread }, load.lagSeconds]),
  );
  gauge('conclave_thread_event_loop_lag_max_seconds', 'Worst event-loop delay over the last second, by thread', ['thread'], () =>
    threads().map(([thread, load]) => [{ thread }, load.maxLagSeconds]),
  );
  gauge('conclave_thread_utilization', 'Busy share of the last second (event-loop utilization), by thread', ['thread'], () =>
    threads().map(([thread, load]) => [{ thread }, load.utilization]),
  );
  counter('conclave_thread_busy_seconds_total', 'Time the thread spent running (its CPU time, near enough), by thread', ['thread'], () =>
    threads().map(([thread, load]) => [{ thread }, load.busySeconds]),
  );
  counter('conclave_backpressure_events_total', 'Work held back or refused because a queue was full, by where', ['point'], () =>
    labelled('point', counters.backpressure),
  );
  counter('conclave_limit_hits_total', 'Configured limits that refused or cut something, by limit', ['limit'], () =>
    labelled('limit', counters.limitHits),
  );
  counter('conclave_auth_failures_total', 'Failed SASL authentications, by failure condition', ['condition'], () =>
    labelled('condition', counters.authFailures),
  );
  gauge('conclave_component_link_up', '1 while the component link is authenticated', ['link'], () =>
    (parts.component?.stats() ?? []).map((link, index) => [{ link: String(index) }, link.up ? 1 : 0]),
  );
  counter('conclave_component_link_authentications_total', 'Successful handshakes of the component link', ['link'], () =>
    (parts.component?.stats() ?? []).map((link, index) => [{ link: String(index) }, link.authentications]),
  );
  counter('conclave_component_link_dropped_total', 'Stanzas dropped while the component link was down and its queue full', ['link'], () =>
    (parts.component?.stats() ?? []).map((link, index) => [{ link: String(index) }, link.dropped]),
  );
  const cluster = () => parts.cluster?.health();
  /** One sample on a cluster node, none on a single server. */
  const ofCluster = (read: (health: NonNullable<ReturnType<typeof cluster>>) => number) => (): Samples => {
    const health = cluster();
    return health === undefined ? [] : [[{}, read(health)]];
  };
  gauge('conclave_cluster_connected', '1 while this cluster node reaches NATS (absent without a cluster: section)', [], ofCluster((health) => (health.connected ? 1 : 0)));
  gauge('conclave_cluster_members', 'Live nodes of the cluster as this node sees them, itself included', [], ofCluster((health) => health.members));
  counter('conclave_cluster_disconnects_total', 'Times this node lost NATS', [], ofCluster((health) => health.disconnects));
  counter('conclave_cluster_refused_total', 'Stanzas for another node answered with wait: NATS unreachable, or that node not keeping up', ['reason'], () =>
    labelled('reason', cluster()?.refused ?? new Map()),
  );
  counter('conclave_cluster_dropped_deliveries_total', "Room deliveries that could not reach another node's sessions, by why", ['reason'], () =>
    labelled('reason', cluster()?.dropped ?? new Map()),
  );
  gauge('conclave_cluster_held_deliveries', 'Room deliveries held for nodes past max_pending_bytes_per_peer, to go once they catch up', [], ofCluster((health) => health.held));
  counter('conclave_cluster_rooms_taken_total', 'Rooms this node took over from another: handed over live by their owner, or rebuilt after it was lost', ['how'], () =>
    labelled('how', cluster()?.taken ?? new Map()),
  );
  gauge('conclave_lmdb_size_bytes', 'Size of the LMDB file', [], () => [[{}, storeSize(parts.settings)]]);
  return registry;
}

/** Each thread's last load sample: `main`, then `shard-N` for the shards that reported. */
export function threadLoads(parts: ServerParts): [string, ThreadLoad][] {
  const loads: [string, ThreadLoad][] = [['main', parts.mainLoad.current()]];
  for (const shard of parts.shards.views()) if (shard.load !== undefined) loads.push([`shard-${shard.index}`, shard.load]);
  return loads;
}

function connections(parts: ServerParts): [Labels, number][] {
  const samples: [Labels, number][] = [];
  for (const [state, count] of parts.clients?.states() ?? []) samples.push([{ transport: 'c2s', state }, count]);
  const links = parts.component?.stats() ?? [];
  if (links.length > 0) {
    const up = links.filter((link) => link.up).length;
    samples.push([{ transport: 'component', state: 'up' }, up], [{ transport: 'component', state: 'down' }, links.length - up]);
  }
  return samples;
}

function stanzas(parts: ServerParts): [Labels, number][] {
  const samples: [Labels, number][] = [
    ...byKind({ direction: 'in', transport: 'c2s' }, counters.stanzasIn),
    ...byKind({ direction: 'out', transport: 'c2s' }, counters.stanzasOut),
  ];
  const links = parts.component?.stats() ?? [];
  if (links.length > 0) {
    samples.push([{ direction: 'in', transport: 'component', kind: 'any' }, sum(links.map((link) => link.received))]);
    samples.push([{ direction: 'out', transport: 'component', kind: 'any' }, sum(links.map((link) => link.sent))]);
  }
  return samples;
}

function byKind(labels: Labels, counts: StanzaCounts): [Labels, number][] {
  return (['message', 'presence', 'iq', 'other'] as const).map((kind) => [{ ...labels, kind }, counts[kind]]);
}

function labelled(label: string, counts: ReadonlyMap<string, number>): [Labels, number][] {
  return Array.from(counts, ([key, value]) => [{ [label]: key }, value]);
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
