// Micro-benchmark: what an item costs to cross between two cluster nodes, by
// how many items share one NATS message (a node sends one message per peer
// per event-loop turn, so a busy node's batches grow). Both ends run in this
// process (encodeBatch and publish; parse and revive), through a real
// nats-server, whose own CPU is read from /proc. Two kinds of item: a client's
// groupchat stanza going to its room's owner, and a room's delivery to a node
// holding three of its recipients. It prints figures and asserts nothing.
//
//   npm run bench:cluster-crossing

import { cpuUsage } from 'node:process';
import { connect } from 'nats';
import { emptyBatch, encodeBatch, type Batch } from '../src/cluster/batch.js';
import type { Delivery } from '../src/runtime/protocol.js';
import { Element, el } from '../src/xml/element.js';
import { treeCpuSeconds } from './server-probe.js';
import { launchNats } from './servers.js';

const BATCH_SIZES = [1, 10, 100, 1000];
const ITEMS_PER_RUN = 40_000;
const PAYLOAD_LIMIT = 1024 * 1024;
const BODY = 'x'.repeat(100);

function roomStanza(n: number): Element {
  return el(
    'message',
    { from: `b1a2b3u${n}@localhost/bench`, to: `bench0r${n % 100}@conference.localhost`, id: `m${n}`, type: 'groupchat' },
    el('body', {}, `~cb:1:${n}:${BODY}`),
  );
}

function delivery(n: number): Delivery {
  return {
    head: '<message',
    tail:
      ` from='bench0r${n % 100}@conference.localhost/n${n}' type='groupchat' id='m${n}'><body>~cb:1:${n}:${BODY}</body>` +
      `<stanza-id xmlns='urn:xmpp:sid:0' id='${n.toString(36)}00000000' by='bench0r${n % 100}@conference.localhost'/></message>`,
    to: [1, 2, 3].map((seat) => `b1a2b3u${n + seat}@localhost/bench`),
  };
}

type Kind = 'rooms' | 'deliveries';

async function run(kind: Kind, batchSize: number, natsUrl: string, natsPid: number): Promise<string> {
  const sender = await connect({ servers: natsUrl });
  const receiver = await connect({ servers: natsUrl });
  let received = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => (done = resolve));
  const decoder = new TextDecoder();
  receiver.subscribe('crossing', {
    callback: (_, message) => {
      const batch = JSON.parse(decoder.decode(message.data)) as Batch;
      for (const plain of batch.rooms) Element.revive(plain);
      received += batch.rooms.length + batch.deliveries.length;
      if (received >= ITEMS_PER_RUN) done();
    },
  });
  await receiver.flush();
  const items = Array.from({ length: ITEMS_PER_RUN }, (_, n) => (kind === 'rooms' ? roomStanza(n) : delivery(n)));
  const ownBefore = cpuUsage();
  const natsBefore = treeCpuSeconds(natsPid)!;
  let bytes = 0;
  let messages = 0;
  for (let start = 0; start < ITEMS_PER_RUN; start += batchSize) {
    const batch = emptyBatch();
    for (const item of items.slice(start, start + batchSize)) {
      if (kind === 'rooms') batch.rooms.push(item as Element);
      else batch.deliveries.push(item as Delivery);
    }
    for (const { payload } of encodeBatch(batch, PAYLOAD_LIMIT)) {
      sender.publish('crossing', payload);
      bytes += Buffer.byteLength(payload);
      messages++;
    }
    // One message per turn, as a node flushes its batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await all;
  const own = cpuUsage(ownBefore);
  const natsSeconds = treeCpuSeconds(natsPid)! - natsBefore;
  await sender.close();
  await receiver.close();
  const perItem = (seconds: number): string => `${((seconds * 1e6) / ITEMS_PER_RUN).toFixed(2)} µs`;
  return (
    `${kind.padEnd(10)} ${String(batchSize).padStart(5)} per message: nodes ${perItem((own.user + own.system) / 1e6)}, ` +
    `nats-server ${perItem(natsSeconds)} per item; ${Math.round(bytes / ITEMS_PER_RUN)} B per item, ${messages} messages`
  );
}

const nats = await launchNats(false);
try {
  const natsPid = nats.processes[0]!.pid;
  console.log(`cluster-crossing: ${ITEMS_PER_RUN} items per run, sender and receiver in this process, CPU per item`);
  for (const kind of ['rooms', 'deliveries'] as const) {
    for (const size of BATCH_SIZES) console.log(await run(kind, size, nats.url, natsPid));
  }
} finally {
  await nats.stop();
}
