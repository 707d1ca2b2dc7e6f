// The server's counters: plain integers bumped where things happen, read only
// when someone scrapes /metrics or watches /status. Counting costs an
// increment on the hot path; prom-client turns them into metrics on scrape.
//
// They are per thread (a module instance each): a shard worker's limit hits and
// backpressure events travel to the main thread in its once-a-second load
// report (thread-load.ts) and are added to the main thread's here.

export type StanzaKind = 'message' | 'presence' | 'iq' | 'other';

/** Top-level stanzas by kind. */
export class StanzaCounts {
  message = 0;
  presence = 0;
  iq = 0;
  other = 0;

  /** Counts a stanza by its element name. */
  add(name: string): void {
    if (name === 'message') this.message++;
    else if (name === 'presence') this.presence++;
    else if (name === 'iq') this.iq++;
    else this.other++;
  }

  /** Counts serialized stanzas by their first letter: `<m`, `<p`, `<i`. */
  addXml(xml: string): void {
    const letter = xml.charCodeAt(1);
    if (letter === 109) this.message++;
    else if (letter === 112) this.presence++;
    else if (letter === 105) this.iq++;
    else this.other++;
  }
}

/** A limit hit, kept for the status page's recent view. */
export interface LimitHitRecord {
  limit: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/** How many recent limit hits the status page can show. */
const RECENT_LIMIT_HITS = 200;

export const counters = {
  /** Client stanzas read (c2s; component links count their own). */
  stanzasIn: new StanzaCounts(),
  /** Stanzas queued to client sockets. */
  stanzasOut: new StanzaCounts(),
  /** Deliveries the shards returned (one stanza to one or more recipients). */
  deliveries: 0,
  /** Of those, the ones a shard sent straight to an I/O thread (split per thread), not through the main thread. */
  directDeliveries: 0,
  /** Deliveries an I/O thread got for a session it no longer serves (ended, or moved to another thread) and handed to the main thread. */
  reroutedDeliveries: 0,
  /** Failed SASL attempts, by SASL failure condition. */
  authFailures: new Map<string, number>(),
  /** Limit hits, by limit (`limitHit`). */
  limitHits: new Map<string, number>(),
  /** Backpressure events, by where the pressure was met (`backpressure`). */
  backpressure: new Map<string, number>(),
  /** The last limit hits, oldest first. */
  recentLimitHits: [] as LimitHitRecord[],
};

/**
 * A configured limit refused or cut something: call it at the refusal, with
 * the limit's config key or a short name (`muc.max_history_bytes`,
 * `client.connections_per_ip`). Shows in /metrics as
 * `conclave_limit_hits_total{limit="..."}` and on /status. Any thread.
 */
export function limitHit(limit: string): void {
  addTo(counters.limitHits, limit, 1);
  rememberLimitHits([{ limit, at: Date.now() }]);
}

/** Keeps these hits (oldest first) in the recent view, dropping the oldest beyond its size. */
export function rememberLimitHits(records: readonly LimitHitRecord[]): void {
  const recent = counters.recentLimitHits;
  recent.push(...records);
  if (recent.length > RECENT_LIMIT_HITS) recent.splice(0, recent.length - RECENT_LIMIT_HITS);
}

/**
 * Work was held back or refused because a queue was full (`room_mailbox`,
 * `shard_restart_queue`, `socket_paused`). Shows as
 * `conclave_backpressure_events_total{point="..."}`. Any thread.
 */
export function backpressure(point: string): void {
  addTo(counters.backpressure, point, 1);
}

export function authFailure(condition: string): void {
  addTo(counters.authFailures, condition, 1);
}

export function addTo(counts: Map<string, number>, key: string, amount: number): void {
  counts.set(key, (counts.get(key) ?? 0) + amount);
}
