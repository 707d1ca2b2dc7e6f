// Flow control between nodes. NATS core neither acknowledges nor pushes
// back: a publisher toward a slow or stopped peer would only learn of it when
// the server cut that peer off as a slow consumer, and meanwhile everything
// it sent sits in buffers. So each batch a node sends a peer is numbered, the
// peer acknowledges the highest number it has handled with its next flush
// (on its own batch back to the sender, or alone: node.ts), and what
// is sent but not acknowledged toward one peer is capped
// (`cluster.max_pending_bytes_per_peer`): past the cap, stanzas for that peer
// are answered with `wait` and room deliveries to it are held (node.ts, up to
// the cap again; past that dropped and counted), until its acknowledgements
// catch up. A peer that leaves or comes back, or a
// connection that was lost, starts from nothing pending: the stanzas that were
// in flight then go back to the node, whose senders hear `wait` rather than
// silence (NATS core delivers at most once: they may be lost).

import type { Element } from '../xml/element.js';

interface Sent {
  seq: number;
  bytes: number;
  /** The stanzas in it whose senders would wait for an answer. */
  stanzas: readonly Element[];
}

interface PeerFlow {
  nextSeq: number;
  /** Sent and not acknowledged, oldest first. */
  unacked: Sent[];
  pendingBytes: number;
}

export class PeerWindows {
  private readonly peers = new Map<string, PeerFlow>();

  constructor(private readonly maxPendingBytes: number) {}

  /** Whether `peer` may be sent more now: what it has not acknowledged is under the cap. */
  open(peer: string): boolean {
    return this.pending(peer) < this.maxPendingBytes;
  }

  pending(peer: string): number {
    return this.peers.get(peer)?.pendingBytes ?? 0;
  }

  /** Counts a message of `bytes` sent to `peer`, with the stanzas in it; returns its number. */
  sent(peer: string, bytes: number, stanzas: readonly Element[]): number {
    let flow = this.peers.get(peer);
    if (!flow) this.peers.set(peer, (flow = { nextSeq: 1, unacked: [], pendingBytes: 0 }));
    const seq = flow.nextSeq++;
    flow.unacked.push({ seq, bytes, stanzas });
    flow.pendingBytes += bytes;
    return seq;
  }

  /** `peer` has handled every message up to `seq`. */
  acked(peer: string, seq: number): void {
    const flow = this.peers.get(peer);
    if (!flow) return;
    let handled = 0;
    while (handled < flow.unacked.length && flow.unacked[handled].seq <= seq) flow.pendingBytes -= flow.unacked[handled++].bytes;
    flow.unacked.splice(0, handled);
  }

  /** Forgets what was pending toward `peer` (it left or came back), or toward every peer; returns the stanzas that were. */
  reset(peer?: string): Element[] {
    const unanswered: Element[] = [];
    // The numbering goes on: a late acknowledgement of an old message must not cover a new one.
    for (const [name, flow] of this.peers) {
      if (peer !== undefined && name !== peer) continue;
      for (const sent of flow.unacked) unanswered.push(...sent.stanzas);
      flow.unacked = [];
      flow.pendingBytes = 0;
    }
    return unanswered;
  }
}
