// What one node sends another at once, when it sends it, and its encoding as
// NATS messages. A crossing costs mostly per NATS message, not per item
// (bench/PERFORMANCE.md, "A cluster on NATS"), so a node that sends a steady
// stream holds a small batch a moment (`cluster.batch_delay_ms`) for more to
// join it; one that sends little, or a batch already full, goes at the turn's
// end. A batch can outgrow the server's payload limit (1 MiB by default), so
// it is cut into messages under it, in order: each message keeps the order of
// the kinds, so the receiver, handling them one after the other, sees every
// kind's items in the order they were sent.

import type { Delivery } from '../runtime/protocol.js';
import type { Element } from '../xml/element.js';

export interface Batch {
  /** Stanzas for rooms the receiver owns, as the sender sees the members. */
  rooms: Element[];
  /** Stanzas a node passed on because it no longer saw itself as their room's owner: handled where they arrive. */
  relayed: Element[];
  deliveries: Delivery[];
  /** Stanzas for users whose sessions the receiver holds. */
  stanzas: Element[];
}

const KINDS = ['rooms', 'relayed', 'deliveries', 'stanzas'] as const;

/** Room for the braces, the kinds' names and their brackets. */
const FRAME_BYTES = 64;

export function emptyBatch(): Batch {
  return { rooms: [], relayed: [], deliveries: [], stanzas: [] };
}

/** One NATS message of a batch, with the stanzas in it (their senders hear of it if it cannot be sent). */
export interface EncodedBatch {
  payload: string;
  stanzas: Element[];
}

/**
 * Who sent a batch's message, its number among those the sender sent the
 * receiver, and the highest number the sender has handled of the receiver's
 * (flow.ts). It travels in the message's JSON, not in NATS headers: headers
 * cost the sender, the server and the receiver more than the message's items.
 */
export interface Frame {
  from: string;
  seq: number;
  ack?: number;
}

/** The most a frame from `from` adds to a message: what to leave free of the payload limit. */
export function frameBytes(from: string): number {
  return Buffer.byteLength(framed('{}', { from, seq: Number.MAX_SAFE_INTEGER, ack: Number.MAX_SAFE_INTEGER }));
}

/** An encoded message of a batch with its frame. */
export function framed(payload: string, frame: Frame): string {
  const ack = frame.ack === undefined ? '' : `,"ack":${frame.ack}`;
  return `{"from":${JSON.stringify(frame.from)},"seq":${frame.seq}${ack},${payload.slice(1)}`;
}

/** A delivery's stanza as JSON, for the deliveries of one flush with the same tail. */
export interface EncodedStanza {
  head: string;
  json: string;
}

/** A batch of this many items goes at the turn's end: one more item would not make its message much cheaper. */
export const FULL_BATCH_ITEMS = 100;

/** Deciding when what a node gathered for the others goes. */
export class FlushPolicy {
  /** Items per millisecond the node has been sending lately. */
  private rate = 0;
  private lastFlush = -Infinity;

  constructor(
    private readonly delayMs: number,
    private readonly fullItems = FULL_BATCH_ITEMS,
  ) {}

  /** How long to hold `pending` items, gathered since the last flush, for more to join them at `now` (ms): 0 is at the turn's end. */
  holdMs(pending: number, now: number): number {
    if (pending >= this.fullItems) return 0;
    // The rate of late, unless the node has been quieter since: the first item after a lull goes at once.
    const rate = Math.min(this.rate, pending / Math.max(now - this.lastFlush, 0.01));
    // Where less than one more item is to be expected meanwhile, waiting would only add latency.
    return rate * this.delayMs >= 1 ? this.delayMs : 0;
  }

  /** `items` went at `now` (ms). */
  flushed(items: number, now: number): void {
    // Over at least a hold, so that items sent turn after turn under load are not taken for a burst.
    const elapsed = Math.max(now - this.lastFlush, this.delayMs, 0.01);
    this.rate = (this.rate + items / elapsed) / 2;
    this.lastFlush = now;
  }
}

/**
 * Runs `flush` at the turn's end or after a hold, whichever is asked first:
 * a batch that fills up while held goes at once.
 */
export class FlushTimer {
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private due = Infinity;

  constructor(private readonly flush: () => void) {}

  /** Runs the flush within `ms` (0: at the turn's end), or sooner if it was already due sooner. */
  within(ms: number): void {
    const due = performance.now() + ms;
    if (due >= this.due) return;
    this.cancel();
    this.due = due;
    const run = () => {
      this.timer = undefined;
      this.due = Infinity;
      this.flush();
    };
    this.timer = ms === 0 ? setImmediate(run) : setTimeout(run, ms);
  }

  cancel(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
    this.due = Infinity;
  }
}

/**
 * The batch as JSON messages of at most `limit` bytes each (an item larger
 * than that alone in one). `encoded` keeps the JSON of deliveries' stanzas
 * across the batches of one flush: a room's message for recipients on several
 * nodes is encoded once.
 */
export function encodeBatch(batch: Batch, limit: number, encoded = new Map<string, EncodedStanza>()): EncodedBatch[] {
  const messages: EncodedBatch[] = [];
  let parts = { rooms: [] as string[], relayed: [] as string[], deliveries: [] as string[], stanzas: [] as string[] };
  let stanzas: Element[] = [];
  let size = FRAME_BYTES;
  const close = () => {
    messages.push({ payload: '{' + KINDS.map((kind) => `"${kind}":[${parts[kind].join(',')}]`).join(',') + '}', stanzas });
    parts = { rooms: [], relayed: [], deliveries: [], stanzas: [] };
    stanzas = [];
    size = FRAME_BYTES;
  };
  for (const kind of KINDS) {
    for (const item of batch[kind]) {
      const json = kind === 'deliveries' ? encodeDelivery(item as Delivery, encoded) : JSON.stringify(item);
      const bytes = Buffer.byteLength(json) + 1;
      if (size + bytes > limit && size > FRAME_BYTES) close();
      parts[kind].push(json);
      if (kind !== 'deliveries') stanzas.push(item as Element);
      size += bytes;
    }
  }
  if (size > FRAME_BYTES) close();
  return messages;
}

/** A delivery's JSON, its stanza encoded once per flush: found by its tail (one string, its hash kept by V8), checked by its head. */
function encodeDelivery(delivery: Delivery, encoded: Map<string, EncodedStanza>): string {
  let stanza = encoded.get(delivery.tail);
  if (stanza?.head !== delivery.head) {
    stanza = { head: delivery.head, json: `"head":${JSON.stringify(delivery.head)},"tail":${JSON.stringify(delivery.tail)}` };
    encoded.set(delivery.tail, stanza);
  }
  return `{${stanza.json},"to":${JSON.stringify(delivery.to)}}`;
}
