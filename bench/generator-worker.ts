// A load generator process, forked by GeneratorPool: it owns a share of the
// simulated clients, runs the coordinator's commands on them and keeps, per
// traffic step, the count and latency histogram of the messages they received.
// It exits with its coordinator.

import type { Histogram } from 'hdr-histogram-js';
import type {
  CommandName,
  EnterResult,
  FloodResult,
  GeneratorCommands,
  GeneratorSetup,
  Request,
  Response,
  TrafficResult,
  WritesResult,
} from './generator-protocol.js';
import { createLatencyHistogram, encodeHistogram, monotonicMicros } from './latency.js';
import { addressFor, LoadClient, type DeliverySink, type MobileMode } from './load-client.js';

const TICK_MS = 5;
const CLOSE_GRACE_MS = 3000;
/** A flooder yields to the event loop after this many writes, so that it keeps reading what the server sends it. */
const FLOOD_WRITES_PER_TURN = 64;
const ERRORS_KEPT = 5;

const setup = JSON.parse(process.argv[2] ?? '') as GeneratorSetup;
const clients = new Map<number, LoadClient>();
let closing = false;
let disconnected = 0;

class StepDeliveries implements DeliverySink {
  readonly steps = new Map<number, { count: number; histogram: Histogram }>();

  delivered(step: number, latencyMicros: number): void {
    let record = this.steps.get(step);
    if (!record) {
      record = { count: 0, histogram: createLatencyHistogram() };
      this.steps.set(step, record);
    }
    record.count++;
    record.histogram.recordValue(Math.max(0, latencyMicros));
  }
}

const deliveries = new StepDeliveries();

function clientFor(id: number, mobile?: MobileMode): LoadClient {
  const existing = clients.get(id);
  if (existing && existing.isOpen) return existing;
  const client = new LoadClient(
    addressFor(setup.server, id),
    `${setup.userPrefix}${id}`,
    `n${id}`,
    deliveries,
    (closed) => {
      // Not counted: clients closed on command (exit takes them out of the table first).
      if (!closing && clients.get(id) === closed) disconnected++;
    },
    mobile,
  );
  clients.set(id, client);
  return client;
}

function enter({ clients: specs, startedAt }: GeneratorCommands['enter']['args']): Promise<EnterResult> {
  return timed(specs, startedAt, async ({ id, room, mobile }) => {
    const client = clientFor(id, mobile);
    if (!client.isOpen) await client.connect();
    if (room === null) return;
    await client.join(room);
    client.becomeInactive();
  });
}

async function reconnect({ clients: ids, startedAt }: GeneratorCommands['reconnect']['args']): Promise<EnterResult & { resumed: number }> {
  let resumed = 0;
  const result = await timed(ids, startedAt, async (id) => {
    const client = clients.get(id);
    if (!client) throw new Error(`client ${id} is not connected`);
    if (await client.reconnect()) resumed++;
  });
  return { ...result, resumed };
}

/** Runs `action` for every item at once: how many succeeded, and each one's time from `startedAt` until done. */
async function timed<T>(items: readonly T[], startedAt: number, action: (item: T) => Promise<void>): Promise<EnterResult> {
  const histogram = createLatencyHistogram();
  const result: EnterResult = { succeeded: 0, failed: 0, errors: [], histogram: '', lastDoneAt: startedAt };
  await Promise.all(
    items.map(async (item) => {
      try {
        await action(item);
        const doneAt = monotonicMicros();
        histogram.recordValue(Math.max(0, doneAt - startedAt));
        result.lastDoneAt = Math.max(result.lastDoneAt, doneAt);
        result.succeeded++;
      } catch (error) {
        result.failed++;
        if (result.errors.length < ERRORS_KEPT) result.errors.push((error as Error).message);
      }
    }),
  );
  result.histogram = encodeHistogram(histogram);
  return result;
}

/** Cycles through the joined clients, skipping those that are not (mid-churn). */
function roundRobin(list: readonly LoadClient[]): () => LoadClient | null {
  let cursor = 0;
  return () => {
    for (let tries = 0; tries < list.length; tries++) {
      const client = list[cursor]!;
      cursor = (cursor + 1) % list.length;
      if (client.isJoined) return client;
    }
    return null;
  };
}

async function traffic(args: GeneratorCommands['traffic']['args']): Promise<TrafficResult> {
  const members = [...clients.values()].filter((client) => client.isJoined);
  for (const client of members) client.setBodySize(args.bodyBytes);
  const nextSender = roundRobin(members);
  const nextChurner = roundRobin(members);
  const churnHistogram = createLatencyHistogram();
  const cycles = new Set<Promise<void>>();
  let sent = 0;
  let churnStarted = 0;
  let churnCycles = 0;
  let churnFailed = 0;

  const churn = async (client: LoadClient): Promise<void> => {
    const startedAt = monotonicMicros();
    try {
      const room = client.roomJid;
      await client.leave();
      await client.join(room);
      churnHistogram.recordValue(monotonicMicros() - startedAt);
      churnCycles++;
    } catch {
      churnFailed++;
    }
  };

  const startedAt = monotonicMicros();
  const endAt = startedAt + args.durationMs * 1000;
  await new Promise<void>((resolve) => {
    // Sends whatever the schedule says is due; a late tick catches up at once,
    // so the offered load holds even when timers slip.
    const tick = (): void => {
      const now = monotonicMicros();
      const elapsedSeconds = (Math.min(now, endAt) - startedAt) / 1e6;
      for (let due = Math.floor(args.messagesPerSecond * elapsedSeconds) - sent; due > 0; due--) {
        const sender = nextSender();
        if (!sender) break;
        sender.sendGroupchat(args.step);
        sent++;
      }
      for (let due = Math.floor(args.churnPerSecond * elapsedSeconds) - churnStarted; due > 0; due--) {
        const churner = nextChurner();
        if (!churner) break;
        churnStarted++;
        const cycle = churn(churner).finally(() => cycles.delete(cycle));
        cycles.add(cycle);
      }
      if (now >= endAt) resolve();
      else setTimeout(tick, TICK_MS);
    };
    tick();
  });
  const stoppedAt = monotonicMicros();
  await Promise.all(cycles);
  return { sent, startedAt, stoppedAt, churnCycles, churnFailed, churnHistogram: encodeHistogram(churnHistogram) };
}

async function flood(args: GeneratorCommands['flood']['args']): Promise<FloodResult> {
  const flooders = [...clients.values()].filter((client) => client.isJoined);
  for (const client of flooders) client.setBodySize(args.bodyBytes);
  const startedAt = monotonicMicros();
  const endAt = startedAt + args.durationMs * 1000;
  let sent = 0;
  await Promise.all(
    flooders.map(async (client) => {
      for (let written = 1; sent < args.maxMessages && client.isOpen && monotonicMicros() < endAt; written++) {
        const buffered = !client.sendGroupchat(args.step);
        sent++;
        if (buffered) await writableBefore(client, endAt);
        else if (written % FLOOD_WRITES_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  return { sent, startedAt, stoppedAt: monotonicMicros() };
}

const OWNER_NS = 'http://jabber.org/protocol/muc#owner';
const ADMIN_NS = 'http://jabber.org/protocol/muc#admin';
const PERSISTENT_ROOM =
  `<query xmlns='${OWNER_NS}'><x xmlns='jabber:x:data' type='submit'>` +
  `<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
  `<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query>`;

async function writes({ durationMs }: GeneratorCommands['writes']['args']): Promise<WritesResult> {
  const writers = [...clients.values()].filter((client) => client.isJoined);
  const histogram = createLatencyHistogram();
  const result: WritesResult = { acknowledged: 0, failed: 0, errors: [], histogram: '', startedAt: 0, stoppedAt: 0 };
  const failed = (error: unknown): void => {
    result.failed++;
    if (result.errors.length < ERRORS_KEPT) result.errors.push((error as Error).message);
  };
  // Only a persistent room's affiliations are stored: that change is set-up, not measured.
  await Promise.all(writers.map((client) => client.changeRoom(PERSISTENT_ROOM).catch(failed)));
  result.startedAt = monotonicMicros();
  const endAt = result.startedAt + durationMs * 1000;
  await Promise.all(
    writers.map(async (client) => {
      for (let turn = 0; client.isJoined && monotonicMicros() < endAt; turn++) {
        const affiliation = turn % 2 === 0 ? 'member' : 'none';
        const sentAt = monotonicMicros();
        try {
          await client.changeRoom(`<query xmlns='${ADMIN_NS}'><item affiliation='${affiliation}' jid='${setup.userPrefix}w@${setup.server.domain}'/></query>`);
          histogram.recordValue(monotonicMicros() - sentAt);
          result.acknowledged++;
        } catch (error) {
          failed(error);
        }
      }
    }),
  );
  result.stoppedAt = monotonicMicros();
  result.histogram = encodeHistogram(histogram);
  return result;
}

/** Waits until the client's socket can take more, or the time is up (a server may stop reading altogether). */
async function writableBefore(client: LoadClient, endAt: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, (endAt - monotonicMicros()) / 1000))));
  await Promise.race([client.whenWritable(), timeUp]);
  clearTimeout(timer);
}

function collect({ step, withHistogram }: GeneratorCommands['collect']['args']): GeneratorCommands['collect']['result'] {
  const record = deliveries.steps.get(step);
  const histogram = withHistogram ? encodeHistogram(record?.histogram ?? createLatencyHistogram()) : null;
  return { delivered: record?.count ?? 0, histogram, disconnected };
}

async function exit({ clients: ids }: GeneratorCommands['exit']['args']): Promise<{ failed: number }> {
  const leaving = ids.flatMap((id) => {
    const client = clients.get(id);
    clients.delete(id);
    return client ? [client] : [];
  });
  let failed = 0;
  await Promise.all(leaving.filter((client) => client.isJoined).map((client) => client.leave().catch(() => failed++)));
  await disconnect(leaving);
  return { failed };
}

async function closeAll(): Promise<{ disconnected: number }> {
  closing = true;
  await disconnect([...clients.values()]);
  return { disconnected };
}

/** Closes the clients' streams, and after a grace period their sockets, whether the server answered or not. */
async function disconnect(list: readonly LoadClient[]): Promise<void> {
  const open = list.filter((client) => client.isOpen);
  for (const client of open) client.close();
  const deadline = Date.now() + CLOSE_GRACE_MS;
  while (open.some((client) => client.isOpen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const client of open) client.destroy();
}

async function handle(request: Request): Promise<GeneratorCommands[CommandName]['result']> {
  switch (request.kind) {
    case 'enter':
      return enter(request.args as GeneratorCommands['enter']['args']);
    case 'reconnect':
      return reconnect(request.args as GeneratorCommands['reconnect']['args']);
    case 'traffic':
      return traffic(request.args as GeneratorCommands['traffic']['args']);
    case 'flood':
      return flood(request.args as GeneratorCommands['flood']['args']);
    case 'writes':
      return writes(request.args as GeneratorCommands['writes']['args']);
    case 'collect':
      return collect(request.args as GeneratorCommands['collect']['args']);
    case 'exit':
      return exit(request.args as GeneratorCommands['exit']['args']);
    case 'usage': {
      const { user, system } = process.cpuUsage();
      return { cpuMicros: user + system };
    }
    case 'close':
      return closeAll();
  }
}

process.on('message', (request: Request) => {
  handle(request).then(
    (result) => {
      const response: Response = { id: request.id, ok: true, result };
      process.send?.(response, undefined, undefined, () => {
        if (request.kind === 'close') process.disconnect();
      });
    },
    (error: unknown) => {
      const response: Response = { id: request.id, ok: false, error: String((error as Error).stack ?? error) };
      process.send?.(response);
    },
  );
});
process.on('disconnect', () => process.exit(0));
