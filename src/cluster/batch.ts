// What one node sends another in one event-loop turn, and its encoding as
// NATS messages. A busy turn can outgrow the server's payload limit (1 MiB by
// default), so the batch is cut into messages under it, in order: each
// message keeps the order of the kinds, so the receiver, handling them one
// after the other, sees every kind's items in the order they were sent.

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

/** The batch as JSON messages of at most `limit` bytes each (an item larger than that alone in one). */
export function encodeBatch(batch: Batch, limit: number): EncodedBatch[] {
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
      const json = JSON.stringify(item);
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
