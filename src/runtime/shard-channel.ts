// What travels over the MessagePort between the shard pool (main thread) and a
// shard worker, beside the shared contract of protocol.ts. One port per worker
// carries everything in both directions, so a debug request is ordered after
// the stanzas dispatched before it.

import type { MessagePort } from 'node:worker_threads';
import { serialize, type Element } from '../xml/element.js';
import { escapeAttribute } from '../xml/escape.js';
import type { Settings } from '../config/load.js';
import type { StanzaErrorCondition } from '../xmpp/errors.js';
import type { WorkerReport } from '../ops/thread-load.js';
import type { Delivery, ShardOutput } from './protocol.js';

/** Main thread → worker. */
export type ShardRequest =
  /** The receipt of `stanzas[i]` is `first + i`; the pool numbers a batch when it posts it. */
  | { kind: 'stanzas'; first: number; stanzas: Element[] }
  | { kind: 'inspect'; id: number; room: string }
  | { kind: 'stall'; room: string; ms: number }
  | { kind: 'forget-user'; user: string }
  /** Debug: the worker dies abruptly, as a bug would kill it. */
  | { kind: 'crash' }
  /** Orderly shutdown: the worker closes its application, then its attach task resolves. */
  | { kind: 'close' };

/** Worker → main thread. */
export type ShardReply =
  /** The application is built; requests posted before this were held by the port. */
  | { kind: 'ready'; threadId: number }
  | { kind: 'output'; output: ShardOutput }
  /** Once a second while the HTTP listener is on: the worker's load and counts (src/ops). */
  | { kind: 'load'; report: WorkerReport }
  | { kind: 'inspected'; id: number; room: Record<string, unknown> | undefined };

/** The data of the long-lived piscina task that binds a worker to its shard. */
export interface AttachTask {
  port: MessagePort;
}

/** What every worker of a pool is started with (piscina `workerData`). */
export interface ShardWorkerData {
  shardIndex: number;
  shardCount: number;
  settings: Settings;
  /** The file URL of a module whose default export is the `ShardApplicationFactory` to run. */
  applicationModule: string;
}

/**
 * The answer to a stanza that a dead worker took with it, or that the shard
 * application threw on: `internal-server-error` since the fault is ours, not
 * the request's (`service-unavailable` would read as "this room does not
 * offer that" to an iq, or as a full room to a join), of type `wait`
 * (errors.ts; a room answers a failed handler the same way) since the shard
 * is back within moments and a retry normally succeeds.
 */
export const FAILED_STANZA: StanzaErrorCondition = 'internal-server-error';

/**
 * Serializes `stanza` once, without its `to`, split where `to` goes: the front
 * end writes `head + " to='…'" + tail` for each recipient.
 */
export function toDelivery(stanza: Element, to: string | readonly string[]): Delivery {
  const xml = serialize(stanza, 'to');
  const head = '<' + stanza.name;
  return { head, tail: xml.slice(head.length), to: typeof to === 'string' ? [to] : [...to] };
}

/**
 * Adds `stanza` for `to` to the end of `deliveries`: into the last delivery when
 * that one goes to the same single full JID only (a session: bare JIDs are
 * routed by stanza kind, so they keep one stanza per delivery), else as a new one.
 */
export function appendDelivery(deliveries: Delivery[], stanza: Element, to: string | readonly string[]): void {
  const last = deliveries[deliveries.length - 1];
  const single = typeof to === 'string' ? to : to.length === 1 ? to[0]! : undefined;
  if (single !== undefined && last?.to.length === 1 && last.to[0] === single && single.includes('/')) {
    last.tail += addressedTo(toDelivery(stanza, single), single);
  } else {
    deliveries.push(toDelivery(stanza, to));
  }
}

/** The wire form of a delivery for one recipient: its stanza with `to` put back. */
export function addressedTo(delivery: Delivery, jid: string): string {
  return delivery.head + " to='" + escapeAttribute(jid) + "'" + delivery.tail;
}
