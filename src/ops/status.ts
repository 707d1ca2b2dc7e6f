// What the /status page polls: a snapshot of load per thread, sessions, rooms
// by size and recent limit hits. The page keeps the history for its charts.

import { counters } from './counters.js';
import { threadLoads } from './metrics.js';
import type { ServerParts } from './parts.js';

/** Room sizes are shown in these buckets: up to `max` occupants. */
const ROOM_SIZE_BUCKETS = [
  { label: '1', max: 1 },
  { label: '2-5', max: 5 },
  { label: '6-20', max: 20 },
  { label: '21-100', max: 100 },
  { label: '101-500', max: 500 },
  { label: '501+', max: Infinity },
];

/** Limit hits older than this are not "recent". */
const RECENT_MS = 10 * 60_000;

export interface StatusData {
  time: number;
  threads: { name: string; utilization: number; lagMs: number }[];
  sessions: { bound: number; negotiating: number; componentLinksUp: number };
  roomSizes: { label: string; rooms: number }[];
  rooms: number;
  occupants: number;
  /** Hits in the last ten minutes, by limit. */
  limitHits: { limit: string; hits: number }[];
}

export function statusData(parts: ServerParts): StatusData {
  const now = Date.now();
  const states = parts.clients?.states() ?? new Map();
  const bound = states.get('bound') ?? 0;
  const open = [...states.values()].reduce((total, count) => total + count, 0);
  const sizes = parts.shards.views().flatMap((shard) => shard.roomSizes);
  const roomSizes = ROOM_SIZE_BUCKETS.map(({ label }) => ({ label, rooms: 0 }));
  for (const size of sizes) roomSizes[ROOM_SIZE_BUCKETS.findIndex((bucket) => size <= bucket.max)].rooms++;
  const hits = new Map<string, number>();
  for (const hit of counters.recentLimitHits) if (now - hit.at <= RECENT_MS) hits.set(hit.limit, (hits.get(hit.limit) ?? 0) + 1);
  return {
    time: now,
    threads: threadLoads(parts).map(([name, load]) => ({ name, utilization: load.utilization, lagMs: load.lagSeconds * 1000 })),
    sessions: {
      bound,
      negotiating: open - bound - (states.get('closed') ?? 0),
      componentLinksUp: (parts.component?.stats() ?? []).filter((link) => link.up).length,
    },
    roomSizes,
    rooms: sizes.length,
    occupants: sizes.reduce((total, size) => total + size, 0),
    limitHits: Array.from(hits, ([limit, count]) => ({ limit, hits: count })),
  };
}
