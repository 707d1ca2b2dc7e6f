// The entry of a shard worker thread, loaded by piscina. Its default export is
// the handler of the one task the worker ever runs: "attach", which builds the
// shard's application (from the module the pool names), then serves the MessagePort the task carries until the
// pool closes the shard. The task stays pending for the shard's whole life, so
// piscina reports the worker's death as the task's rejection.

import { threadId, workerData, type MessagePort } from 'node:worker_threads';
import { createLogger } from '../log.js';
import { Element } from '../xml/element.js';
import { LOAD_SAMPLE_MS, LoadSampler, takeWorkerReport } from '../ops/thread-load.js';
import { startIdleCompaction } from './idle-compaction.js';
import type { Delivery, Outbox, ShardApplicationFactory, ShardEvent } from './protocol.js';
import {
  appendDelivery,
  FAILED_STANZA,
  type AttachTask,
  type ShardReply,
  type ShardRequest,
  type ShardWorkerData,
} from './shard-channel.js';

const { shardIndex, shardCount, settings, applicationModule } = workerData as ShardWorkerData;
const log = createLogger(settings.log_level, { shard: shardIndex });

export default async function attach({ port }: AttachTask): Promise<void> {
  const outbox = new PortOutbox(port);
  const factory = await loadApplication(applicationModule);
  const application = await factory({ shardIndex, shardCount, settings, outbox });
  const stopCompaction = startIdleCompaction();
  const stopLoadReports = settings.http.enabled ? reportLoad(port) : () => {};
  return new Promise<void>((resolve) => {
    // Requests the pool posted while the application was being built waited in
    // the port; attaching the listener delivers them, in order.
    port.on('message', (request: ShardRequest) => {
      switch (request.kind) {
        case 'stanzas': {
          let receipt = request.first;
          for (const stanza of request.stanzas) {
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
            receipt++;
          }
          break;
        }
        case 'inspect':
          reply(port, { kind: 'inspected', id: request.id, room: application.inspect(request.room) });
          break;
        case 'forget-user':
          application.forgetUser(request.user);
          break;
        case 'stall':
          application.stall(request.room, request.ms);
          break;
        case 'crash':
          throw new Error(`shard ${shardIndex} crashed on request (debug)`);
        case 'close':
          stopCompaction();
          stopLoadReports();
          void application.close().then(() => {
            outbox.flush();
            port.close();
            resolve();
          });
          break;
      }
    });
    reply(port, { kind: 'ready', threadId });
    log.debug({ threadId }, 'shard attached');
  });
}

async function loadApplication(moduleUrl: string): Promise<ShardApplicationFactory> {
  const module = (await import(moduleUrl)) as { default: ShardApplicationFactory };
  return module.default;
}

/** Posts the thread's load and counts once a second, for /metrics and /status. */
function reportLoad(port: MessagePort): () => void {
  const sampler = new LoadSampler();
  const timer = setInterval(() => reply(port, { kind: 'load', report: takeWorkerReport(sampler) }), LOAD_SAMPLE_MS);
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
 * the microtasks of its async handlers, and posts it as one `ShardOutput`:
 * a stanza's receipt travels with what the stanza produced, so the pool
 * never sees one without the other.
 */
class PortOutbox implements Outbox {
  private deliveries: Delivery[] = [];
  private events: ShardEvent[] = [];
  private receipts: number[] = [];
  private flushScheduled = false;

  constructor(private readonly port: MessagePort) {}

  send(stanza: Element, to: string | readonly string[]): void {
    if (to.length === 0) return;
    appendDelivery(this.deliveries, stanza, to);
    this.scheduleFlush();
  }

  event(event: ShardEvent): void {
    this.events.push(event);
    this.scheduleFlush();
  }

  handled(receipt: number): void {
    // Extend the last [start, end) pair when the receipts come in order, as they do for rooms that answer at once.
    const receipts = this.receipts;
    const last = receipts.length - 1;
    if (last > 0 && receipts[last] === receipt) receipts[last] = receipt + 1;
    else receipts.push(receipt, receipt + 1);
    this.scheduleFlush();
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.deliveries.length === 0 && this.events.length === 0 && this.receipts.length === 0) return;
    reply(this.port, { kind: 'output', output: { deliveries: this.deliveries, events: this.events, handled: this.receipts } });
    this.deliveries = [];
    this.events = [];
    this.receipts = [];
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }
}
