// Mobile reconnect: C clients in one room, every other one mobile (it said it
// is inactive, XEP-0352, once in the room, and says so again once back in it
// on a new session); all connections drop at once and
// every client connects again. Two rounds, each in a fresh room: with
// resumption, where the mobile half enabled stream management (XEP-0198) and
// resumes its sessions while the others log in and rejoin; and without, where
// nobody enabled it and everyone rejoins (the join storm resumption avoids).
// Measures for each round the time from the drop until every client was back
// (resumed, or in the room again) and the server's CPU meanwhile. A small room
// goes through the same first, unmeasured (warm-up).

import { monotonicMicros, type LatencySummary } from '../latency.js';
import type { GeneratorPool } from '../generator-pool.js';
import type { MobileMode } from '../load-client.js';
import { Meter, roomNames, round, settleAfter, startGenerators, type ResourceUsage, type ScenarioContext } from './common.js';
import type { Scenario } from './scenario.js';

type Parameter = 'clients' | 'warmupClients';

interface Round {
  back: number;
  /** Of those back, how many resumed their session (the others joined again). */
  resumed: number;
  failed: number;
  errors: string[];
  /** From the drop until the last client was back. */
  seconds: number;
  /** Each client's time from the drop until it was back. */
  latency: LatencySummary;
  usage: ResourceUsage;
}

export interface MobileReconnectResult {
  scenario: 'mobile-reconnect';
  parameters: Record<Parameter, number>;
  withResumption: Round;
  withoutResumption: Round;
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<MobileReconnectResult> {
  const { clients, warmupClients } = parameters;
  const pool = startGenerators(context);
  try {
    let firstId = 0;
    const nextRound = async (size: number, resumable: boolean): Promise<Round> => {
      const round = await reconnectRound(context, pool, firstId, size, resumable);
      firstId += size;
      return round;
    };
    if (warmupClients > 0) {
      context.log(`warm-up: ${warmupClients} clients, unmeasured`);
      await nextRound(warmupClients, true);
    }
    const withResumption = await nextRound(clients, true);
    const withoutResumption = await nextRound(clients, false);
    return { scenario: 'mobile-reconnect', parameters, withResumption, withoutResumption };
  } finally {
    await pool.close();
  }
}

/** Fills a fresh room with clients firstId…, drops and reconnects them all, measures, and empties it again. */
async function reconnectRound(context: ScenarioContext, pool: GeneratorPool, firstId: number, clients: number, resumable: boolean): Promise<Round> {
  const [room] = roomNames(context, 1);
  const ids = Array.from({ length: clients }, (_, index) => firstId + index);
  const mobile: MobileMode = resumable ? 'resumable' : 'inactive';
  // The creator first and alone, so that nobody meets a locked room; every other client after it is mobile.
  for (const wave of [ids.slice(0, 1), ids.slice(1)]) {
    const entered = await pool.enter(
      wave.map((id) => ({ id, room: room!, mobile: (id - firstId) % 2 === 1 ? mobile : undefined })),
      monotonicMicros(),
    );
    if (entered.failed > 0) throw new Error(`${entered.failed} clients could not join: ${entered.errors.join('; ')}`);
  }
  context.log(`mobile-reconnect: ${clients} clients drop and come back, ${resumable ? 'the mobile half resuming' : 'none resuming'}`);
  const meter = await Meter.start(context, pool);
  const startedAt = monotonicMicros();
  const back = await pool.reconnect(ids, startedAt);
  const usage = await meter.stop();
  await settleAfter(context, pool, ids);
  return {
    back: back.succeeded,
    resumed: back.resumed,
    failed: back.failed,
    errors: back.errors,
    seconds: round((back.lastDoneAt - startedAt) / 1e6, 3),
    latency: back.latency,
    usage,
  };
}

function describeRound(round: Round): string {
  return (
    `${round.back} back (${round.resumed} resumed) in ${round.seconds} s (p50 ${round.latency.p50} ms), server CPU ${round.usage.serverCpuSeconds ?? '?'} s` +
    (round.failed ? `, ${round.failed} failed: ${round.errors[0]}` : '')
  );
}

export const mobileReconnect: Scenario<Parameter, MobileReconnectResult> = {
  name: 'mobile-reconnect',
  summary: 'N clients in one room, half mobile (CSI inactive); all drop and reconnect, with and without resumption (XEP-0198)',
  parameters: {
    clients: { full: 500, quick: 100, help: 'clients in the room' },
    warmupClients: { full: 50, quick: 20, help: 'clients of the unmeasured round that comes first; 0 for none' },
  },
  run,
  describe: (result) =>
    `mobile-reconnect ${result.parameters.clients} clients: with resumption ${describeRound(result.withResumption)}; ` +
    `without ${describeRound(result.withoutResumption)}`,
};
