// The entry of a shard worker thread, loaded by piscina. Its default export is
// the handler of the one task the worker ever runs: "attach", which builds the
// shard's application (from the module the pool names), then serves the MessagePort the task carries until the
// pool closes the shard. The task stays pending for the shard's whole life, so
// piscina reports the worker's death as the task's rejection.

import { receiveMessageOnPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { createLogger } from '../log.js';
import { Element } from '../xml/element.js';
import { LOAD_SAMPLE_MS, LoadSampler, takeWorkerReport } from '../ops/thread-load.js';
import { startIdleCompaction } from './idle-compaction.js';
import { PacedFlush } from './paced-flush.js';
import type { Delivery, Outbox, ShardApplicationFactory, ShardEvent } from './protocol.js';
import {
  addReceipt,
  appendDelivery,
  linkReceipt,
  linkReceiptOwner,
  sessionOfKey,
  threadOfKey,
  toDelivery,
  FAILED_STANZA,
  type AttachTask,
  type LinkDelivery,
  type LinkOutput,
  type LinkRequest,
  type ShardReply,
  type ShardRequest,
  type ShardWorkerData,
} from './shard-channel.js';

const { shardIndex, shardCount, settings, applicationModule } = workerData as ShardWorkerData;
const log = createLogger(settings.log_level, { shard: shardIndex });

export default async function attach({ port }: AttachTask): Promise<void> {
  const factory = await loadApplication(applicationModule);
  // Serves one request from the pool; set once the application is built.
  let serve: ((request: ShardRequest) => void) | undefined;
  // Reads ahead what the pool and the I/O threads have posted, as the ports' listeners would have.
  const catchUp = (): void => {
    if (serve === undefined) return;
    for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) serve(next.message as ShardRequest);
    outbox.catchUpLinks();
  };
  /** Hands the application a batch of stanzas, the receipt of each from `receiptOf`. */
  const receive = (stanzas: Element[], receiptOf: (index: number) => number): void => {
    for (let index = 0; index < stanzas.length; index++) {
      const stanza = stanzas[index]!;
      const receipt = receiptOf(index);
      try {
        application.receive(Element.revive(stanza), receipt);
      } catch (err) {
        // A bug in one stanza's handling must not take the shard's other rooms down with it,
        // nor leave the stanza unanswered.
        log.error({ err, stanza: stanza.toString() }, 'shard application threw on a stanza');
        const error = application.errorAnswer(stanza, FAILED_STANZA);
        if (error !== undefined) outbox.send(error, error.attrs.to);
        outbox.handled(receipt);
      }
    }
  };
  const outbox = new PortOutbox(port, receive);
  const application = await factory({ shardIndex, shardCount, settings, outbox, catchUp });
  const stopCompaction = startIdleCompaction();
  const stopLoadReports = settings.http.enabled ? reportLoad(port, () => outbox.flush(true)) : () => {};
  return new Promise<void>((resolve) => {
    // Requests the pool posted while the application was being built waited in
    // the port; attaching the listener delivers them, in order.
    serve = (request: ShardRequest): void => {
      switch (request.kind) {
        case 'stanzas':
          receive(request.stanzas, (index) => request.first + index);
          break;
        case 'inspect':
          // After the output sent before it, counted (tests take it as a fence).
          outbox.flush(true);
          reply(port, { kind: 'inspected', id: request.id, room: application.inspect(request.room) });
          break;
        case 'forget-user':
          application.forgetUser(request.user);
          break;
        case 'link':
          outbox.link(request.thread, request.port);
          break;
        case 'stall':
          application.stall(request.room, request.ms);
          break;
        case 'crash':
          throw new Error(`shard ${shardIndex} crashed on request (debug)`);
        case 'close':
          stopCompaction();
          stopLoadReports();
          outbox.refuseLinks();
          void application.close().then(() => {
            outbox.flush(true);
            outbox.unlinkAll();
            port.close();
            resolve();
          });
          break;
      }
    };
    port.on('message', serve);
    reply(port, { kind: 'ready', threadId });
    log.debug({ threadId }, 'shard attached');
  });
}

async function loadApplication(moduleUrl: string): Promise<ShardApplicationFactory> {
  const module = (await import(moduleUrl)) as { default: ShardApplicationFactory };
  return module.default;
}

/** Posts the thread's load and counts once a second, for /metrics and /status, after `count` posted what the pool has not counted. */
function reportLoad(port: MessagePort, count: () => void): () => void {
  const sampler = new LoadSampler();
  const timer = setInterval(() => {
    count();
    reply(port, { kind: 'load', report: takeWorkerReport(sampler) });
  }, LOAD_SAMPLE_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    sampler.stop();
  };
}

function reply(port: MessagePort, message: ShardReply): void {
  port.postMessage(message);
}

/**
 * Collects what the application sends during one event-loop turn, including
 * the microtasks of its async handlers (or during several, paced: see
 * paced-flush.ts), and posts it as one `ShardOutput`:
 * a stanza's receipt travels with what the stanza produced, so the pool
 * never sees one without the other.
 *
 * A delivery's recipients that the session directory places on a linked I/O
 * thread go to that thread directly, one delivery per thread, with the
 * receipts of that thread's stanzas; the rest go to the pool as before. The
 * pool's output is posted first: the occupants a turn's events announce are
 * known to the pool before any thread can write what they were sent, so a
 * worker that dies between the two posts costs them the turn's direct
 * deliveries, never the presence that says they were removed.
 */
class PortOutbox implements Outbox {
  private deliveries: Delivery[] = [];
  private events: ShardEvent[] = [];
  private receipts: number[] = [];
  /** The turn's output leaves paced (paced-flush.ts), the pool's and every thread's together. */
  private readonly paced = new PacedFlush(() => this.flush(), settings.muc.thread_batch_delay_ms);
  /** The direct port to each I/O thread, by thread index. */
  private readonly links: (MessagePort | undefined)[] = [];
  /** This turn's output for each linked I/O thread. */
  private direct: (LinkOutput | undefined)[] = [];
  /** Deliveries sent straight to the threads that no output to the pool has counted yet. */
  private uncounted = 0;
  /** Full JID → the directory key (thread and session) of its session, as the threads last said. */
  private readonly directory = new Map<string, number>();
  private refusing = false;

  constructor(
    private readonly port: MessagePort,
    /** Hands stanzas to the application. */
    private readonly receive: (stanzas: Element[], receiptOf: (index: number) => number) => void,
  ) {}

  send(stanza: Element, to: string | readonly string[]): void {
    if (to.length === 0) return;
    const delivery = toDelivery(stanza, to);
    if (this.directory.size === 0) appendDelivery(this.deliveries, delivery);
    else this.split(delivery);
    this.paced.schedule();
  }

  event(event: ShardEvent): void {
    this.events.push(event);
    this.paced.schedule();
  }

  handled(receipt: number): void {
    if (receipt >= 0) addReceipt(this.receipts, receipt);
    else {
      const { thread, number } = linkReceiptOwner(receipt);
      addReceipt(this.outputFor(thread).handled, number);
    }
    this.paced.schedule();
  }

  link(thread: number, port: MessagePort): void {
    this.links[thread]?.close();
    this.links[thread] = port;
    port.on('message', (requests: LinkRequest[]) => this.serveLink(thread, requests));
    // The thread is gone (it died, or was replaced): its recipients go through the pool until it is linked again.
    port.once('close', () => {
      if (this.links[thread] !== port) return;
      this.links[thread] = undefined;
      for (const [jid, key] of this.directory) if (threadOfKey(key) === thread) this.directory.delete(jid);
    });
  }

  /** Serves what the threads have posted and the ports have not delivered yet. */
  catchUpLinks(): void {
    this.links.forEach((port, thread) => {
      for (let next = port && receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port!)) this.serveLink(thread, next.message as LinkRequest[]);
    });
  }

  /**
   * Posts what waits. An output for the pool that would only count the direct
   * deliveries is not posted (it would wake the main thread for a number):
   * the count waits for the next one, or for `count` (an inspection, a load
   * report, the close), so the pool's figure lags by a second at most.
   */
  flush(count = false): void {
    for (const output of this.direct) this.uncounted += output?.deliveries.length ?? 0;
    if (this.deliveries.length > 0 || this.events.length > 0 || this.receipts.length > 0 || (count && this.uncounted > 0)) {
      reply(this.port, { kind: 'output', output: { deliveries: this.deliveries, direct: this.uncounted, events: this.events, handled: this.receipts } });
      this.deliveries = [];
      this.events = [];
      this.receipts = [];
      this.uncounted = 0;
    }
    this.direct.forEach((output, thread) => output !== undefined && this.links[thread]?.postMessage(output));
    this.direct = [];
  }

  /**
   * The shard closes: what the threads send from now on is not handed to the
   * application (which is closing its stores); its receipts never come back,
   * so each thread answers it when it sees the shard go.
   */
  refuseLinks(): void {
    this.refusing = true;
  }

  /** Closes the direct ports (after the last flush): the threads see the shard go. */
  unlinkAll(): void {
    for (const port of this.links) port?.close();
  }

  private serveLink(thread: number, requests: LinkRequest[]): void {
    if (this.refusing) return;
    for (const request of requests) {
      if (request.kind === 'stanzas') this.receive(request.stanzas, (index) => linkReceipt(thread, request.first + index));
      else if (request.kind === 'directory') this.placeSessions(request.changes);
      else {
        if (this.directory.get(request.fullJid) === request.from) this.directory.set(request.fullJid, request.to);
        // The fence: after every delivery this link got for the session, in this turn's output to it.
        (this.outputFor(thread).moved ??= []).push(request.fullJid);
        this.paced.schedule();
      }
    }
  }

  private placeSessions(changes: readonly [string, number][]): void {
    for (const [jid, key] of changes) {
      if (key >= 0) this.directory.set(jid, key);
      else if (this.directory.get(jid) === -1 - key) this.directory.delete(jid);
    }
  }

  private outputFor(thread: number): LinkOutput {
    return (this.direct[thread] ??= { deliveries: [], handled: [] });
  }

  /** Sends each linked thread its recipients of `delivery`, the pool the others; the stanza stays serialized once. */
  private split(delivery: Delivery): void {
    const { head, tail } = delivery;
    let viaPool: string[] | undefined;
    const byThread: (LinkDelivery | undefined)[] = [];
    for (const jid of delivery.to) {
      const key = this.directory.get(jid);
      const thread = key === undefined ? -1 : threadOfKey(key);
      if (thread < 0 || this.links[thread] === undefined) (viaPool ??= []).push(jid);
      else {
        const forThread = (byThread[thread] ??= { head, tail, to: [], ids: [] });
        forThread.to.push(jid);
        forThread.ids.push(sessionOfKey(key!));
      }
    }
    if (viaPool !== undefined) appendDelivery(this.deliveries, { head, tail, to: viaPool });
    byThread.forEach((forThread, thread) => forThread !== undefined && appendDelivery(this.outputFor(thread).deliveries, forThread));
  }
}
