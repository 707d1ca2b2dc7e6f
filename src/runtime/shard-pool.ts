// The main-thread side of the shard runtime: one long-lived worker thread per
// shard, each owning the rooms whose bare JID hashes to it.
//
// piscina runs the threads (start, heap cap, death detection, replacement),
// with one Piscina per shard so that a shard is always the same single worker:
// `minThreads = maxThreads = 1`, `idleTimeout: Infinity`. The only piscina task
// a worker ever runs is "attach": it carries a MessagePort and stays pending for
// the worker's whole life, so its rejection is the worker's death notice.
//
// Stanzas cross over that port rather than as piscina tasks. A piscina task is
// a request/response (a task record, a reply message and a promise per batch);
// a port message is one-way, and FIFO with the debug requests that must follow
// the stanzas dispatched before them. Measured round trips, on 2 cores: a
// batch of 1 stanza ~90 µs as a task vs ~70 µs over a port; a batch of 100,
// ~420 µs vs ~290 µs. Batching:
// everything dispatched to a shard during one event-loop turn is posted as one
// message in `setImmediate` (paced by `muc.thread_batch_delay_ms`, during one
// pace under steady traffic: paced-flush.ts), and the worker answers the same way, one `ShardOutput` per
// turn or pace (see shard-worker.ts).
//
// Supervision: when a worker dies, the pool answers with an error every stanza
// it had posted to it that the worker had not handled (their receipts did not
// come back: see protocol.ts), lets the application's keeper of the shard tell
// the users of its rooms (the MUC tells each occupant it was removed, status
// 332: see muc/shard-keeper.ts), attaches a fresh worker, and holds the
// shard's stanzas until it is ready. Other shards carry on.
//
// Direct links (I/O threads, issue 12): each I/O thread that `connect`s gets a
// MessageChannel to every shard worker, and again to each worker that replaces
// a dead one. The threads send their sessions' room-bound stanzas and their
// entries in the session directory over their links (shard-channel.ts), and
// keep the receipts, flow control and lost-stanza answers of what they sent
// (io-links.ts) as the pool does for its own. When a worker goes, the pool
// and then the threads read what it sent, and the threads answer what they
// lost, before the pool sends anything on its behalf (errors, 332 presences),
// so nothing from the old worker reaches an occupant after them.

import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Settings } from '../config/load.js';
import { bareJid } from '../jid/jid.js';
import type { Logger } from '../log.js';
import { backpressure, counters } from '../ops/counters.js';
import { absorbWorkerReport, type ThreadLoad } from '../ops/thread-load.js';
import type { Element } from '../xml/element.js';
import type { StanzaErrorCondition } from '../xmpp/errors.js';
import type { Delivery, ShardApplicationSpec, ShardKeeper, ShardOutput } from './protocol.js';
import { PacedFlush } from './paced-flush.js';
import { shardOf } from './shard-of.js';
import {
  FAILED_STANZA,
  toDelivery,
  type AttachTask,
  type ShardReply,
  type ShardRequest,
  type ShardWorkerData,
} from './shard-channel.js';

const WORKER_FILE = new URL('./shard-worker.js', import.meta.url).href;

/** A runaway shard hits this heap cap and dies (and is restarted) instead of taking the process down. */
const SHARD_HEAP_LIMIT_MB = 2048;

/** Stanzas held for one shard while its worker restarts; beyond, they bounce with resource-constraint. */
export const RESTART_QUEUE_LIMIT = 10_000;

/** Restart delays for a worker that keeps dying before it is ready (a broken build, a bad data dir). */
const RESTART_BACKOFF_MS = { first: 100, max: 5_000 };

/**
 * Who sent a stanza to the shards, for flow control (issue 11): told when one
 * of its stanzas is posted and when it is handled (or answered as lost), and,
 * when a shard it writes to has more than `client.max_shard_stanzas_in_flight`
 * stanzas in flight, to stop until that shard has caught up by half.
 */
export interface StanzaSender {
  stanzaPosted(): void;
  stanzaHandled(): void;
  shardCongested(): void;
  shardCaughtUp(): void;
}

/** An I/O thread as the pool sees it: it takes its end of each shard's direct link. */
export interface ShardLinks {
  /** The thread's end of a new link to `shard`, replacing any before it. */
  linked(shard: number, port: MessagePort): void;
  /**
   * The worker of `shard` is gone: the thread writes what it sent, answers the
   * stanzas it lost, then drops the link; `closed` when no worker follows.
   */
  unlinked(shard: number, closed: boolean): void;
}

/** One shard as /metrics and /status see it. */
export interface ShardView {
  index: number;
  threadId: number;
  /** A worker is attached (false while one starts or restarts). */
  running: boolean;
  /** The worker's last load report; undefined until one came (they come while `http.enabled`). */
  load: ThreadLoad | undefined;
  /** Stanzas dispatched to the shard and not handled yet: its mailboxes' depth, seen from here. */
  inFlight: number;
  /** Occupants of each occupied room. */
  roomSizes: number[];
}

export class ShardPool {
  private constructor(
    private readonly shards: Shard[],
    private readonly links: Map<number, ShardLinks>,
  ) {}

  static async start(
    settings: Settings,
    log: Logger,
    deliver: (deliveries: Delivery[]) => void,
    application: ShardApplicationSpec,
  ): Promise<ShardPool> {
    const links = new Map<number, ShardLinks>();
    const shards = Array.from({ length: settings.shardCount }, (_, shardIndex) => {
      const workerData: ShardWorkerData = {
        shardIndex,
        shardCount: settings.shardCount,
        settings,
        applicationModule: application.workerModule,
      };
      return new Shard(shardIndex, workerData, application.keeper(settings), log, deliver, links);
    });
    try {
      await Promise.all(shards.map((shard) => shard.start()));
    } catch (err) {
      await Promise.all(shards.map((shard) => shard.close()));
      throw err;
    }
    log.info({ shards: shards.length }, 'shard pool started');
    return new ShardPool(shards, links);
  }

  /** Links I/O thread `thread` to every shard (again, after the thread restarted). */
  connect(thread: number, links: ShardLinks): void {
    this.links.set(thread, links);
    for (const shard of this.shards) shard.link(thread, links);
  }

  /** The thread is gone; its links closed with it. */
  disconnect(thread: number): void {
    this.links.delete(thread);
  }

  /** Routes a stanza (from and to set) to the shard of its bare `to`. */
  dispatch(stanza: Element, sender?: StanzaSender): void {
    this.shards[this.shardOf(stanza.attrs.to ?? '')].dispatch(stanza, sender);
  }

  shardOf(roomJid: string): number {
    return shardOf(roomJid, this.shards.length);
  }

  async inspect(roomJid: string): Promise<{ shard: number; threadId: number; room?: Record<string, unknown> }> {
    const index = this.shardOf(roomJid);
    const shard = this.shards[index];
    const room = await shard.inspect(bareJid(roomJid));
    return { shard: index, threadId: shard.threadId, room };
  }

  stall(roomJid: string, ms: number): void {
    this.shards[this.shardOf(roomJid)].request({ kind: 'stall', room: bareJid(roomJid), ms });
  }

  /** A deleted account loses its affiliations in the rooms live on every shard. */
  forgetUser(user: string): void {
    for (const shard of this.shards) shard.request({ kind: 'forget-user', user });
  }

  views(): ShardView[] {
    return this.shards.map((shard, index) => shard.view(index));
  }

  /** Kills the shard's worker; resolves once its replacement is ready. */
  crashShard(index: number): Promise<void> {
    const shard = this.shards[index];
    const replaced = shard.nextReady();
    shard.request({ kind: 'crash' });
    return replaced;
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.close()));
  }
}

/** One shard: its Piscina, the port of its current worker, and what it must remember if that worker dies. */
class Shard {
  /** The thread of the current (or last) worker. */
  threadId = -1;
  private readonly piscina: Piscina;
  private readonly log: Logger;
  /** The port of the attached worker; undefined while a worker starts. */
  private port: MessagePort | undefined;
  /** The current attach task; settles when the worker closes or dies. */
  private lifetime: Promise<unknown> = Promise.resolve();
  /** Requests not yet posted: this turn's batch, or all of them while a worker starts. */
  private queue: ShardRequest[] = [];
  private queuedStanzas = 0;
  /** The senders of the queued stanzas, in order (undefined: not flow-controlled); never posted. */
  private queuedSenders: (StanzaSender | undefined)[] = [];
  /** Stanzas queued or posted and not handled yet. */
  private inFlight = 0;
  private readonly maxInFlight: number;
  /** Senders stopped because this shard has too many stanzas in flight. */
  private readonly congested = new Set<StanzaSender>();
  /** The queue leaves paced (paced-flush.ts). */
  private readonly paced: PacedFlush;
  /** Stanzas posted to the current worker and not handled yet: what its death would lose. */
  private readonly unhandled = new UnhandledStanzas();
  private readonly inspections = new Map<number, { resolve(room: Record<string, unknown> | undefined): void; reject(err: unknown): void }>();
  private nextInspection = 0;
  private readyWaiters: (() => void)[] = [];
  private failedStarts = 0;
  private closing = false;
  private load: ThreadLoad | undefined;
  /** Closed for good: stanzas bounce. */
  private closed = false;

  constructor(
    private readonly index: number,
    workerData: ShardWorkerData,
    /** The application's memory of the shard, which speaks for it while no worker does. */
    private readonly keeper: ShardKeeper,
    log: Logger,
    private readonly deliver: (deliveries: Delivery[]) => void,
    /** The I/O threads to link each new worker to, by index. */
    private readonly threads: ReadonlyMap<number, ShardLinks>,
  ) {
    this.log = log.child({ shard: index });
    this.maxInFlight = workerData.settings.client.max_shard_stanzas_in_flight;
    this.paced = new PacedFlush(() => this.flush(), workerData.settings.muc.thread_batch_delay_ms);
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: SHARD_HEAP_LIMIT_MB },
    });
    // Piscina reports a worker error that no task is waiting on here; the attach task covers the rest.
    this.piscina.on('error', (err: unknown) => this.log.warn({ err }, 'shard worker error'));
  }

  /** Attaches the first worker; rejects if it dies before it is ready. */
  start(): Promise<void> {
    return this.attach();
  }

  dispatch(stanza: Element, sender: StanzaSender | undefined): void {
    if (this.closed) {
      this.bounce([stanza], 'service-unavailable');
      return;
    }
    if (this.port === undefined && this.queuedStanzas >= RESTART_QUEUE_LIMIT) {
      backpressure('shard_restart_queue');
      this.bounce([stanza], 'resource-constraint');
      return;
    }
    const last = this.queue[this.queue.length - 1];
    if (last?.kind === 'stanzas') last.stanzas.push(stanza);
    else this.queue.push({ kind: 'stanzas', first: -1, stanzas: [stanza] }); // numbered when posted
    this.queuedStanzas++;
    this.queuedSenders.push(sender);
    if (sender !== undefined) {
      sender.stanzaPosted();
      if (++this.inFlight > this.maxInFlight && !this.congested.has(sender)) {
        this.congested.add(sender);
        sender.shardCongested();
      }
    }
    this.scheduleFlush();
  }

  /** Queues a request behind the stanzas dispatched before it. */
  request(request: ShardRequest): void {
    this.queue.push(request);
    this.scheduleFlush();
  }

  /** A new direct channel between this shard's worker and I/O thread `thread`. */
  link(thread: number, links: ShardLinks): void {
    const { port1, port2 } = new MessageChannel();
    this.request({ kind: 'link', thread, port: port1 });
    links.linked(this.index, port2);
  }

  inspect(roomJid: string): Promise<Record<string, unknown> | undefined> {
    const id = this.nextInspection++;
    return new Promise((resolve, reject) => {
      this.inspections.set(id, { resolve, reject });
      this.request({ kind: 'inspect', id, room: roomJid });
    });
  }

  view(index: number): ShardView {
    return { index, threadId: this.threadId, running: this.port !== undefined, load: this.load, inFlight: this.queuedStanzas + this.unhandled.pending(), roomSizes: this.keeper.roomSizes() };
  }

  nextReady(): Promise<void> {
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /**
   * Lets the worker handle what it was sent, then answers what it did not get
   * to (and whatever arrives from now on) with service-unavailable, and lets
   * the keeper tell the users of the shard's rooms.
   */
  async close(): Promise<void> {
    this.closing = true;
    const port = this.port;
    if (port !== undefined) {
      // The worker closes its end after its last output, which is read here before 'close'.
      const drained = new Promise((resolve) => port.once('close', resolve));
      this.request({ kind: 'close' });
      this.flush();
      await Promise.race([drained, this.lifetime.catch(() => undefined)]);
      port.close();
      this.port = undefined;
    }
    this.closed = true;
    for (const [, links] of this.threads) links.unlinked(this.index, true);
    this.bounce([...this.unhandled.takeAll(), ...this.queue.flatMap((request) => (request.kind === 'stanzas' ? request.stanzas : []))], 'service-unavailable');
    this.queue = [];
    this.workerGone();
    await this.piscina.destroy();
  }

  private attach(): Promise<void> {
    const { port1: port, port2 } = new MessageChannel();
    return new Promise<void>((resolveReady, rejectReady) => {
      port.on('message', (reply: ShardReply) => {
        if (reply.kind === 'ready') {
          this.ready(port, reply.threadId);
          resolveReady();
        } else this.receive(reply);
      });
      const task: AttachTask = { port: port2 };
      this.lifetime = this.piscina.run(task, { transferList: [port2] });
      this.lifetime.then(
        // `close` closes the port once it has read the worker's last output.
        () => undefined,
        (err: unknown) => {
          // What the dead worker posted before it died is read now, before
          // anything is sent on its behalf: its I/O threads may already have
          // written what it sent them directly, so its events (who joined)
          // and receipts stand too, and nothing reaches an occupant after the
          // presence that says they were removed.
          for (let left = receiveMessageOnPort(port); left !== undefined; left = receiveMessageOnPort(port)) {
            const reply = left.message as ShardReply;
            if (reply.kind !== 'ready') this.receive(reply);
          }
          port.close();
          const wasReady = this.port === port;
          this.port = undefined;
          rejectReady(err);
          if (!this.closing) this.restart(err, wasReady);
        },
      );
    });
  }

  private ready(port: MessagePort, threadId: number): void {
    if (this.threadId !== -1) this.log.info({ threadId }, 'shard worker replaced');
    // Linked before the held requests go over, so that all the new worker's deliveries take the same way.
    const held = this.queue;
    this.queue = [];
    for (const [thread, links] of this.threads) this.link(thread, links);
    this.queue.push(...held);
    this.port = port;
    this.threadId = threadId;
    this.failedStarts = 0;
    this.flush();
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  private restart(err: unknown, wasReady: boolean): void {
    if (!wasReady) this.failedStarts++;
    const delay =
      this.failedStarts === 0 ? 0 : Math.min(RESTART_BACKOFF_MS.first * 2 ** (this.failedStarts - 1), RESTART_BACKOFF_MS.max);
    // The threads write what the dead worker sent them, and answer what it took, before anything the pool sends for it.
    for (const [, links] of this.threads) links.unlinked(this.index, false);
    const lost = this.unhandled.takeAll();
    // What is still in flight is what waits in the queue for the next worker.
    this.released(this.inFlight - this.queuedSenders.filter((sender) => sender !== undefined).length);
    this.log.error({ err, threadId: this.threadId, delay, lost: lost.length, queued: this.queuedStanzas }, 'shard worker died; restarting it');
    // Not replayed to the next worker: one of them may be what killed this one. The senders
    // hear of them first: after its 332 presence, nothing from the room reaches an occupant.
    this.bounce(lost, FAILED_STANZA);
    this.workerGone();
    // The next worker is linked anew when ready (each thread then sends it its directory), not by links made for the dead one.
    for (const request of this.queue) if (request.kind === 'link') request.port.close();
    this.queue = this.queue.filter((request) => request.kind !== 'link');
    // Inspections still queued go to the next worker; the dead one took the others with it.
    const queued = new Set(this.queue.flatMap((request) => (request.kind === 'inspect' ? [request.id] : [])));
    for (const [id, inspection] of this.inspections) {
      if (queued.has(id)) continue;
      inspection.reject(new Error(`shard ${this.index} restarted`));
      this.inspections.delete(id);
    }
    setTimeout(() => {
      // A failed attach restarts itself through its own rejection.
      if (!this.closing) this.attach().catch(() => undefined);
    }, delay);
  }

  private receive(reply: Exclude<ShardReply, { kind: 'ready' }>): void {
    if (reply.kind === 'inspected') {
      this.inspections.get(reply.id)?.resolve(reply.room);
      this.inspections.delete(reply.id);
    } else if (reply.kind === 'load') {
      this.load = reply.report.load;
      absorbWorkerReport(reply.report);
    } else this.output(reply.output);
  }

  private output({ deliveries, direct, events, handled }: ShardOutput): void {
    for (const event of events) this.keeper.apply(event);
    counters.deliveries += deliveries.length + direct;
    counters.directDeliveries += direct;
    if (deliveries.length > 0) this.deliver(deliveries);
    this.released(this.unhandled.forget(handled));
  }

  /** `count` flow-controlled stanzas left flight: congested senders go on once the shard has caught up by half. */
  private released(count: number): void {
    this.inFlight -= count;
    if (this.congested.size === 0 || this.inFlight > this.maxInFlight / 2) return;
    for (const sender of this.congested) sender.shardCaughtUp();
    this.congested.clear();
  }

  private scheduleFlush(): void {
    if (this.port !== undefined) this.paced.schedule();
  }

  private flush(): void {
    if (this.port === undefined) return;
    let senders = 0;
    for (const request of this.queue) {
      if (request.kind === 'stanzas') {
        const end = senders + request.stanzas.length;
        request.first = this.unhandled.add(request.stanzas, this.queuedSenders.slice(senders, end));
        senders = end;
      }
      this.port.postMessage(request, request.kind === 'link' ? [request.port] : undefined);
    }
    this.queue = [];
    this.queuedStanzas = 0;
    this.queuedSenders = [];
  }

  /** Sends what the keeper says the users of the shard's rooms must hear now that no worker serves them. */
  private workerGone(): void {
    const deliveries = this.keeper.workerGone();
    if (deliveries.length > 0) this.deliver(deliveries);
  }

  /** Answers the stanzas the shard will not handle with an error, those that take one (see `ShardKeeper.errorAnswer`). */
  private bounce(stanzas: readonly Element[], condition: StanzaErrorCondition): void {
    const deliveries: Delivery[] = [];
    for (const stanza of stanzas) {
      const error = this.keeper.errorAnswer(stanza, condition);
      if (error !== undefined) deliveries.push(toDelivery(error, error.attrs.to));
    }
    if (deliveries.length > 0) this.deliver(deliveries);
  }
}

/** A batch posted to a worker. */
interface PostedBatch {
  /** The receipt of `stanzas[0]`; the others follow on. */
  first: number;
  /** One past the receipt of its last stanza. */
  end: number;
  /** The batch as posted; a handled stanza's slot is cleared, and the whole list once none is left. */
  stanzas: (Element | undefined)[];
  /** Who sent each stanza, told when it is handled; cleared with `stanzas`. */
  senders: (StanzaSender | undefined)[];
  /** Stanzas not handled yet. */
  unhandled: number;
}

/**
 * The stanzas posted to a worker whose receipts have not come back, kept by
 * batch: a batch handled in one go (the usual case) costs one entry and no
 * work per stanza; only a batch whose stanzas finish apart (a room awaiting a
 * write, say) has its slots cleared one by one. Handled batches leave the list
 * lazily, so that with many batches in flight (a worker far behind) each still
 * costs the same: no splicing in a long list.
 */
export class UnhandledStanzas {
  /** In receipt order. Those before `head` are handled, and `handledPastHead` of the others. */
  private batches: PostedBatch[] = [];
  private head = 0;
  private handledPastHead = 0;
  private nextReceipt = 0;

  /** Numbers a batch about to be posted and keeps it; returns its first receipt. */
  add(stanzas: Element[], senders: (StanzaSender | undefined)[] = []): number {
    const first = this.nextReceipt;
    this.nextReceipt += stanzas.length;
    this.batches.push({ first, end: this.nextReceipt, stanzas, senders, unhandled: stanzas.length });
    return first;
  }

  /**
   * Drops the stanzas of these receipts, flat `[start, end)` pairs as a
   * shard's output carries them, and tells their senders; returns how many of
   * them had a sender.
   */
  forget(receipts: readonly number[]): number {
    let released = 0;
    for (let i = 0; i < receipts.length; i += 2) released += this.forgetRange(receipts[i], receipts[i + 1]);
    this.compact();
    return released;
  }

  /** How many stanzas are not handled yet (a walk over the batches: for scrapes, not the hot path). */
  pending(): number {
    let pending = 0;
    for (let index = this.head; index < this.batches.length; index++) pending += this.batches[index].unhandled;
    return pending;
  }

  /** Every stanza not handled, in the order posted; they are forgotten, and their senders told. */
  takeAll(): Element[] {
    const pending = this.batches.slice(this.head);
    for (const batch of pending) batch.stanzas.forEach((stanza, slot) => stanza !== undefined && batch.senders[slot]?.stanzaHandled());
    const stanzas = pending.flatMap((batch) => batch.stanzas.filter((stanza) => stanza !== undefined));
    this.batches = [];
    this.head = 0;
    this.handledPastHead = 0;
    return stanzas;
  }

  /** Returns how many of the stanzas it dropped had a sender. */
  private forgetRange(start: number, end: number): number {
    let released = 0;
    for (let index = this.firstEndingAfter(start); index < this.batches.length && this.batches[index].first < end; index++) {
      const batch = this.batches[index];
      if (batch.unhandled === 0) continue;
      const { senders } = batch;
      if (start <= batch.first && batch.end <= end) {
        batch.unhandled = 0;
        for (const sender of senders) {
          if (sender === undefined) continue;
          sender.stanzaHandled();
          released++;
        }
      } else {
        const last = Math.min(end, batch.end) - batch.first;
        for (let slot = Math.max(start - batch.first, 0); slot < last; slot++) {
          if (batch.stanzas[slot] === undefined) continue;
          batch.stanzas[slot] = undefined;
          batch.unhandled--;
          const sender = senders[slot];
          if (sender === undefined) continue;
          sender.stanzaHandled();
          released++;
        }
      }
      if (batch.unhandled === 0) {
        batch.stanzas = [];
        batch.senders = [];
        this.handledPastHead++;
      }
    }
    return released;
  }

  /** Moves `head` past the handled batches in front; drops the handled ones once they are most of the list. */
  private compact(): void {
    const batches = this.batches;
    while (this.head < batches.length && batches[this.head].unhandled === 0) {
      this.head++;
      this.handledPastHead--;
    }
    if (this.head === batches.length) {
      this.batches = [];
      this.head = 0;
    } else if (batches.length > 64 && this.head + this.handledPastHead > batches.length / 2) {
      this.batches = batches.filter((batch) => batch.unhandled > 0);
      this.head = 0;
      this.handledPastHead = 0;
    }
  }

  /** The index of the first batch from `head` on whose receipts go beyond `receipt` (binary search). */
  private firstEndingAfter(receipt: number): number {
    let low = this.head;
    let high = this.batches.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.batches[middle].end <= receipt) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
