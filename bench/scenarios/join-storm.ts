// Join storm: C clients connect, authenticate, bind and join rooms of S, all at
// once, rooms created by whoever comes first. A client that finds its room still
// locked by its creator (Prosody's behaviour) retries every 25 ms, as XEP-0045
// leaves entry to a locked room refused. Measures joins per second over the
// whole storm and each client's time from the start until it was in.

import { monotonicMicros, type LatencySummary } from '../latency.js';
import {
  Meter,
  perServerCpuSecond,
  roomNames,
  round,
  startGenerators,
  type ResourceUsage,
  type ScenarioContext,
} from './common.js';
import type { Scenario } from './scenario.js';

type Parameter = 'clients' | 'roomSize';

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
  const { clients, roomSize } = parameters;
  const rooms = roomNames(context, Math.ceil(clients / roomSize));
  const pool = startGenerators(context);
  try {
    context.log(`join-storm: ${clients} clients into ${rooms.length} rooms of ${roomSize}`);
    const meter = await Meter.start(context, pool);
    const startedAt = monotonicMicros();
    const storm = await pool.enter(
      Array.from({ length: clients }, (_, id) => ({ id, room: rooms[Math.floor(id / roomSize)]! })),
      startedAt,
    );
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

export const joinStorm: Scenario<Parameter, JoinStormResult> = {
  name: 'join-storm',
  summary: 'C clients connect, authenticate and join rooms of S at once: joins per second',
  parameters: {
    clients: { full: 2000, quick: 400, help: 'clients in the storm' },
    roomSize: { full: 10, quick: 10, help: 'clients per room' },
  },
  run,
  describe: (result) =>
    `join-storm ${result.parameters.clients} clients: ${result.joined} joined in ${result.seconds} s ` +
    `(${result.joinsPerSecond} joins/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms)` +
    (result.failed ? `, ${result.failed} failed: ${result.errors[0]}` : ''),
};
