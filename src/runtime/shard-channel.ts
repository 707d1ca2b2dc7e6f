// What travels over the MessagePort between the shard pool (main thread) and a
// shard worker, beside the shared contract of protocol.ts. One port per worker
// carries everything in both directions, so a debug request is ordered after
// the stanzas dispatched before it.
//
// Beside it, a worker may hold one direct port to each I/O thread (a link),
// used both ways. The thread sends over it, per turn and in order, its
// sessions' room-bound stanzas and its changes to the session directory (which
// full JID it serves); the worker sends back the deliveries the directory
// places on that thread, split per thread, and the receipts of the thread's
// stanzas. One port per thread and shard carries a session's stanzas and its
// directory entry, so they stay in order with each other; the main thread
// never sees them.

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
  /** A direct port to I/O thread `thread` (transferred), replacing any before it. */
  | { kind: 'link'; thread: number; port: MessagePort }
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

/** I/O thread → worker over their link: one array per thread turn, in order. */
export type LinkRequest =
  /** The receipt of `stanzas[i]` is `linkReceipt(thread, first + i)`: the thread numbers its own. */
  | { kind: 'stanzas'; first: number; stanzas: Element[] }
  /**
   * Changes to the session directory, in order: `[fullJid, key]` places the
   * full JID on the session `key` names (`directoryKey`); `[fullJid, -1 - key]`
   * removes it if it is still that session's, so that a thread's late removal
   * never takes the entry of a session that bound the JID since on another.
   */
  | { kind: 'directory'; changes: [string, number][] }
  /**
   * The session behind `fullJid` moved to another thread (XEP-0198
   * resumption): its entry goes from key `from` to key `to` if it is still
   * `from`'s, and the worker answers with `moved` on this link after every
   * delivery it sent here before, whatever the entry was.
   */
  | { kind: 'move'; fullJid: string; from: number; to: number };

/** A delivery over a link: beside each recipient, its session's number on the thread, which the thread finds it by without hashing the JID. */
export interface LinkDelivery extends Delivery {
  ids: number[];
}

/** Worker → I/O thread over their link, one per worker turn. */
export interface LinkOutput {
  deliveries: LinkDelivery[];
  /** The thread's receipts handled since the last output, as flat `[start, end)` pairs of its numbering. */
  handled: number[];
  /** Full JIDs whose `move` the worker made: nothing more for them comes on this link. */
  moved?: string[];
}

/** I/O thread indexes are below this (`client.io_threads` is at most 256). */
export const MAX_LINKED_THREADS = 256;

/** Session `id` of I/O thread `thread`, as the session directory knows it. */
export function directoryKey(thread: number, id: number): number {
  return id * MAX_LINKED_THREADS + thread;
}

/** The I/O thread of a directory key. */
export function threadOfKey(key: number): number {
  return key % MAX_LINKED_THREADS;
}

/** The session number on its thread of a directory key. */
export function sessionOfKey(key: number): number {
  return (key - threadOfKey(key)) / MAX_LINKED_THREADS;
}

/** The receipt of I/O thread `thread`'s stanza `number`: negative, so it never meets the pool's (0, 1, …). */
export function linkReceipt(thread: number, number: number): number {
  return -1 - directoryKey(thread, number);
}

/** The thread and its number of a receipt from `linkReceipt`. */
export function linkReceiptOwner(receipt: number): { thread: number; number: number } {
  const key = -1 - receipt;
  return { thread: threadOfKey(key), number: sessionOfKey(key) };
}

/** Adds `receipt` to flat `[start, end)` pairs, extending the last pair when receipts come in order. */
export function addReceipt(receipts: number[], receipt: number): void {
  const last = receipts.length - 1;
  if (last > 0 && receipts[last] === receipt) receipts[last] = receipt + 1;
  else receipts.push(receipt, receipt + 1);
}

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
 * Adds `delivery` to the end of `deliveries`: into the last one when both go
 * to the same single full JID only (a session: bare JIDs are routed by stanza
 * kind, so they keep one stanza per delivery), else as a new one.
 */
export function appendDelivery(deliveries: Delivery[], delivery: Delivery): void {
  const last = deliveries[deliveries.length - 1];
  const single = delivery.to.length === 1 ? delivery.to[0]! : undefined;
  if (single !== undefined && last?.to.length === 1 && last.to[0] === single && single.includes('/')) {
    last.tail += addressedTo(delivery, single);
  } else {
    deliveries.push(delivery);
  }
}

/** The wire form of a delivery for one recipient: its stanza with `to` put back. */
export function addressedTo(delivery: Delivery, jid: string): string {
  return delivery.head + " to='" + escapeAttribute(jid) + "'" + delivery.tail;
}
