// Join storm: C clients connect, authenticate, bind and join rooms of S, all at
// once, rooms created by whoever comes first. A client that finds its room still
// locked by its creator (Prosody's behaviour) retries every 25 ms, as XEP-0045
// leaves entry to a locked room refused. Measures joins per second over the
// whole storm and each client's time from the start until it was in. A smaller
// storm into other rooms comes first, unmeasured (warm-up).

import { monotonicMicros, type LatencySummary } from '../latency.js';
import {
  Meter,
  perServerCpuSecond,
  roomNames,
  round,
  startGenerators,
  warmUp,
  type ResourceUsage,
  type ScenarioContext,
} from './common.js';
import type { Scenario } from './scenario.js';

type Parameter = 'clients' | 'roomSize' | 'warmupClients';

export interface JoinStormResult {
  scenario: 'join-storm';
  parameters: Record<Parameter, number>;
  joined: number;
  failed: number;
  errors: string[];
  /** From the start of the storm until the last client was in. */
  seconds: number;
  joinsPerSecond: number;
  /** Each client's time from the start until it was in. */
  latency: LatencySummary;
  usage: ResourceUsage;
  joinsPerServerCpuSecond: number | null;
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<JoinStormResult> {
  const { clients, roomSize, warmupClients } = parameters;
  const pool = startGenerators(context);
  try {
    if (warmupClients > 0) await warmUp(context, pool, [seats(context, warmupClients, roomSize, clients)]);
    const measured = seats(context, clients, roomSize, 0);
    context.log(`join-storm: ${clients} clients into ${Math.ceil(clients / roomSize)} rooms of ${roomSize}`);
    const meter = await Meter.start(context, pool);
    const startedAt = monotonicMicros();
    const storm = await pool.enter(measured, startedAt);
    const usage = await meter.stop();
    const seconds = round((storm.lastDoneAt - startedAt) / 1e6, 3);
    return {
      scenario: 'join-storm',
      parameters,
      joined: storm.succeeded,
      failed: storm.failed,
      errors: storm.errors,
      seconds,
      joinsPerSecond: seconds > 0 ? round(storm.succeeded / seconds) : 0,
      latency: storm.latency,
      usage,
      joinsPerServerCpuSecond: perServerCpuSecond(storm.succeeded, usage),
    };
  } finally {
    await pool.close();
  }
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
  },
  run,
  describe: (result) =>
    `join-storm ${result.parameters.clients} clients: ${result.joined} joined in ${result.seconds} s ` +
    `(${result.joinsPerSecond} joins/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms)` +
    (result.failed ? `, ${result.failed} failed: ${result.errors[0]}` : ''),
};
