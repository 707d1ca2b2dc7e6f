// Join storm: C clients connect, authenticate, bind and join rooms of S, all at
// once, rooms created by whoever comes first. A client that finds its room still
// locked by its creator (Prosody's behaviour) retries every 25 ms, as XEP-0045
// leaves entry to a locked room refused. Measures joins per second over the
// whole storm and each client's time from the start until it was in. A smaller
// storm into other rooms comes first, unmeasured (warm-up). Several storms are
// measured, each into fresh rooms after the previous one's clients left, and the
// median one (by joins/s) is the result: a single storm of a second or two on a
// shared machine varies by ±20%.

import { monotonicMicros, type LatencySummary } from '../latency.js';
import {
  Meter,
  perServerCpuSecond,
  roomNames,
  round,
  settleAfter,
  startGenerators,
  warmUp,
  type ResourceUsage,
  type ScenarioContext,
} from './common.js';
import type { GeneratorPool } from '../generator-pool.js';
import type { Scenario } from './scenario.js';

type Parameter = 'clients' | 'roomSize' | 'warmupClients' | 'storms';

/** One measured storm. */
interface Storm {
  joined: number;
  failed: number;
  errors: string[];
  seconds: number;
  joinsPerSecond: number;
  latency: LatencySummary;
  usage: ResourceUsage;
  joinsPerServerCpuSecond: number | null;
}

/** The median storm's figures, and every storm's in order. */
export interface JoinStormResult extends Storm {
  scenario: 'join-storm';
  parameters: Record<Parameter, number>;
  storms: Storm[];
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<JoinStormResult> {
  const { clients, roomSize, warmupClients, storms: count } = parameters;
  const pool = startGenerators(context);
  try {
    if (warmupClients > 0) await warmUp(context, pool, [seats(context, warmupClients, roomSize, clients * count)]);
    const storms: Storm[] = [];
    let previous: number[] = [];
    for (let index = 0; index < count; index++) {
      if (previous.length > 0) await settleAfter(context, pool, previous);
      const measured = seats(context, clients, roomSize, clients * index);
      storms.push(await storm(context, pool, measured));
      previous = measured.map(({ id }) => id);
    }
    const median = [...storms].sort((a, b) => a.joinsPerSecond - b.joinsPerSecond)[Math.floor((count - 1) / 2)]!;
    return { scenario: 'join-storm', parameters, ...median, storms };
  } finally {
    await pool.close();
  }
}

async function storm(context: ScenarioContext, pool: GeneratorPool, measured: { id: number; room: string }[]): Promise<Storm> {
  const rooms = new Set(measured.map(({ room }) => room)).size;
  context.log(`join-storm: ${measured.length} clients into ${rooms} rooms of ${Math.ceil(measured.length / rooms)}`);
  const meter = await Meter.start(context, pool);
  const startedAt = monotonicMicros();
  const entered = await pool.enter(measured, startedAt);
  const usage = await meter.stop();
  const seconds = round((entered.lastDoneAt - startedAt) / 1e6, 3);
  return {
    joined: entered.succeeded,
    failed: entered.failed,
    errors: entered.errors,
    seconds,
    joinsPerSecond: seconds > 0 ? round(entered.succeeded / seconds) : 0,
    latency: entered.latency,
    usage,
    joinsPerServerCpuSecond: perServerCpuSecond(entered.succeeded, usage),
  };
}

/** Clients firstId… into fresh rooms of roomSize. */
function seats(context: ScenarioContext, clients: number, roomSize: number, firstId: number): { id: number; room: string }[] {
  const rooms = roomNames(context, Math.ceil(clients / roomSize));
  return Array.from({ length: clients }, (_, index) => ({ id: firstId + index, room: rooms[Math.floor(index / roomSize)]! }));
}

export const joinStorm: Scenario<Parameter, JoinStormResult> = {
  name: 'join-storm',
  summary: 'C clients connect, authenticate and join rooms of S at once: joins per second',
  parameters: {
    clients: { full: 2000, quick: 400, help: 'clients in the storm' },
    roomSize: { full: 10, quick: 10, help: 'clients per room' },
    warmupClients: { full: 1000, quick: 200, help: 'clients of the unmeasured storm (other rooms) that comes first; 0 for none' },
    storms: { full: 3, quick: 1, help: 'measured storms, each after the previous one left; the median one is the result' },
  },
  run,
  describe: (result) =>
    `join-storm ${result.parameters.clients} clients: ${result.joined} joined in ${result.seconds} s ` +
    `(${result.joinsPerSecond} joins/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms)` +
    (result.failed ? `, ${result.failed} failed: ${result.errors[0]}` : '') +
    (result.storms.length > 1 ? `; the median of ${result.storms.map((storm) => storm.joinsPerSecond).join(' / ')} joins/s` : ''),
};
