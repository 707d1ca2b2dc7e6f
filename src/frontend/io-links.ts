// An I/O thread's links to the shard workers (issue 12). Its sessions'
// room-bound stanzas go to the room's shard over the thread's own port, in
// order with the thread's entries in the session directory; the shard's
// deliveries and the receipts of those stanzas come back over it
// (shard-channel.ts). For what it sends, the thread keeps what the pool keeps
// for what it sends (shard-pool.ts): the stanzas not handled yet, answered
// with an error when the worker dies; each sender's stanzas in flight; and
// the shard's congestion, on the thread's share of
// `client.max_shard_stanzas_in_flight` (the limit divided among the threads,
// so that a shard holds no more in all than it did).

import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { backpressure } from '../ops/counters.js';
import { FAILED_STANZA, type LinkDelivery, type LinkOutput, type LinkRequest } from '../runtime/shard-channel.js';
import { PacedFlush } from '../runtime/paced-flush.js';
import { shardOf } from '../runtime/shard-of.js';
import { RESTART_QUEUE_LIMIT, UnhandledStanzas, type StanzaSender } from '../runtime/shard-pool.js';
import type { Element } from '../xml/element.js';
import type { StanzaErrorCondition } from '../xmpp/errors.js';

export interface IoLinksOptions {
  shardCount: number;
  /** Stanzas this thread may have in flight to one shard before its senders stop. */
  maxInFlight: number;
  /** `muc.thread_batch_delay_ms` (paced-flush.ts). */
  paceMs: number;
  /** Writes shard `shard`'s deliveries to the thread's sessions. */
  deliver(deliveries: LinkDelivery[], shard: number): void;
  /** Shard `shard` made the `move` of these full JIDs, after every delivery it sent here for them. */
  moved(fullJids: string[], shard: number): void;
  /** Answers stanzas a shard will not handle, with `condition`. */
  refuse(stanzas: readonly Element[], condition: StanzaErrorCondition): void;
}

export class IoLinks {
  private readonly links: ShardLink[];
  /** Full JID → directory key, of every entry this thread placed: a new worker's link starts from them. */
  private readonly placed = new Map<string, number>();
  /** Every link's requests of the turn leave together, paced (paced-flush.ts). */
  private readonly flush: PacedFlush;

  constructor(private readonly options: IoLinksOptions) {
    this.links = Array.from({ length: options.shardCount }, (_, shard) => new ShardLink(shard, options));
    this.flush = new PacedFlush(() => {
      for (const link of this.links) link.flush();
    }, options.paceMs);
  }

  /** Sends a stanza (from and to set) to the shard of its room. */
  dispatch(stanza: Element, sender: StanzaSender): void {
    this.links[shardOf(stanza.attrs.to!, this.links.length)]!.dispatch(stanza, sender);
    this.flush.schedule();
  }

  /** The session `key` serves `fullJid`: every shard sends its deliveries here, from the stanzas after this on. */
  place(fullJid: string, key: number): void {
    this.placed.set(fullJid, key);
    this.changeDirectory([fullJid, key]);
  }

  /** The session `key` no longer serves `fullJid` (its entry goes, unless another session's replaced it). */
  unplace(fullJid: string, key: number): void {
    if (this.placed.get(fullJid) === key) this.placed.delete(fullJid);
    this.changeDirectory([fullJid, -1 - key]);
  }

  /** The session behind `fullJid` moved to another thread: its entry goes to that thread's `to` (see `move` in shard-channel.ts). */
  move(fullJid: string, from: number, to: number): void {
    if (this.placed.get(fullJid) === from) this.placed.delete(fullJid);
    for (const link of this.links) link.push({ kind: 'move', fullJid, from, to });
    this.flush.schedule();
  }

  /** A session moved here, and its entry with it (`move`): a new worker gets it from here now. */
  expect(fullJid: string, key: number): void {
    this.placed.set(fullJid, key);
  }

  /** A port to a new worker of `shard`: the thread's directory goes first, then what waited for it. */
  link(shard: number, port: MessagePort): void {
    this.links[shard]!.link(port, [...this.placed]);
    this.flush.schedule();
  }

  unlink(shard: number, closed: boolean): void {
    this.links[shard]!.unlink(closed);
  }

  private changeDirectory(change: [string, number]): void {
    for (const link of this.links) link.changeDirectory(change);
    this.flush.schedule();
  }
}

/** The thread's link to one shard: its port (undefined while a worker starts), and what it must remember if that worker dies. */
class ShardLink {
  private port: MessagePort | undefined;
  /** Closed for good (the server is shutting down): stanzas are refused. */
  private closed = false;
  /** Requests not yet posted: this turn's, or all of them while a worker starts. */
  private queue: LinkRequest[] = [];
  private queuedStanzas = 0;
  /** The senders of the queued stanzas, in order; never posted. */
  private queuedSenders: StanzaSender[] = [];
  /** Stanzas posted to the current worker and not handled yet: what its death would lose. */
  private readonly unhandled = new UnhandledStanzas();
  /** Stanzas queued or posted and not handled yet. */
  private inFlight = 0;
  /** Senders stopped because the shard has too many of this thread's stanzas in flight. */
  private readonly congested = new Set<StanzaSender>();

  constructor(
    private readonly shard: number,
    private readonly options: IoLinksOptions,
  ) {}

  dispatch(stanza: Element, sender: StanzaSender): void {
    if (this.closed) return this.options.refuse([stanza], 'service-unavailable');
    if (this.port === undefined && this.queuedStanzas >= RESTART_QUEUE_LIMIT) {
      backpressure('shard_restart_queue');
      return this.options.refuse([stanza], 'resource-constraint');
    }
    const last = this.queue[this.queue.length - 1];
    if (last?.kind === 'stanzas') last.stanzas.push(stanza);
    else this.queue.push({ kind: 'stanzas', first: -1, stanzas: [stanza] }); // numbered when posted
    this.queuedStanzas++;
    this.queuedSenders.push(sender);
    sender.stanzaPosted();
    if (++this.inFlight > this.options.maxInFlight && !this.congested.has(sender)) {
      this.congested.add(sender);
      sender.shardCongested();
    }
  }

  changeDirectory(change: [string, number]): void {
    const last = this.queue[this.queue.length - 1];
    if (last?.kind === 'directory') last.changes.push(change);
    else this.queue.push({ kind: 'directory', changes: [change] });
  }

  push(request: LinkRequest): void {
    this.queue.push(request);
  }

  link(port: MessagePort, directory: [string, number][]): void {
    this.port?.close();
    this.port = port;
    // The directory as it stands now stands for every change that waited.
    this.queue = this.queue.filter((request) => request.kind !== 'directory');
    if (directory.length > 0) this.queue.unshift({ kind: 'directory', changes: directory });
    port.on('message', this.receive);
    // The thread's life is its listener's and the main thread's port, not its links.
    port.unref();
  }

  /** The worker is gone: what it sent is written, what it took is answered, and what comes next waits for the next one (or is refused, `closed`). */
  unlink(closed: boolean): void {
    const port = this.port;
    this.port = undefined;
    if (port !== undefined) {
      for (let left = receiveMessageOnPort(port); left !== undefined; left = receiveMessageOnPort(port)) this.receive(left.message as LinkOutput);
      port.close();
    }
    const lost = this.unhandled.takeAll();
    this.released(this.inFlight - this.queuedSenders.length);
    this.options.refuse(lost, closed ? 'service-unavailable' : FAILED_STANZA);
    if (!closed) return;
    this.closed = true;
    const queued = this.queue.flatMap((request) => (request.kind === 'stanzas' ? request.stanzas : []));
    for (const sender of this.queuedSenders) sender.stanzaHandled();
    this.released(this.queuedSenders.length);
    this.queue = [];
    this.queuedStanzas = 0;
    this.queuedSenders = [];
    this.options.refuse(queued, 'service-unavailable');
  }

  flush(): void {
    if (this.port === undefined || this.queue.length === 0) return;
    let senders = 0;
    for (const request of this.queue) {
      if (request.kind !== 'stanzas') continue;
      const end = senders + request.stanzas.length;
      request.first = this.unhandled.add(request.stanzas, this.queuedSenders.slice(senders, end));
      senders = end;
    }
    this.port.postMessage(this.queue);
    this.queue = [];
    this.queuedStanzas = 0;
    this.queuedSenders = [];
  }

  private readonly receive = ({ deliveries, handled, moved }: LinkOutput): void => {
    if (deliveries.length > 0) this.options.deliver(deliveries, this.shard);
    if (moved !== undefined) this.options.moved(moved, this.shard);
    if (handled.length > 0) this.released(this.unhandled.forget(handled));
  };

  /** `count` stanzas left flight: congested senders go on once the shard has caught up by half. */
  private released(count: number): void {
    this.inFlight -= count;
    if (this.congested.size === 0 || this.inFlight > this.options.maxInFlight / 2) return;
    for (const sender of this.congested) sender.shardCaughtUp();
    this.congested.clear();
  }
}
