// Large-room join: N clients, already logged in, join one room at once (its
// creator first, alone, so that nobody meets a locked room). Each join makes the
// server send the newcomer the occupant list and tell every occupant, so the
// work grows with N². Measures the time until the last client was in. A smaller
// room fills and empties first, unmeasured (warm-up), with clients of its own.

import { monotonicMicros, type LatencySummary } from '../latency.js';
import { Meter, roomNames, round, startGenerators, warmUp, type ResourceUsage, type ScenarioContext } from './common.js';
import type { Scenario } from './scenario.js';

type Parameter = 'clients' | 'warmupClients';

export interface LargeRoomResult {
  scenario: 'large-room';
  parameters: Record<Parameter, number>;
  joined: number;
  failed: number;
  errors: string[];
  /** From the joins being sent until the last client was in. */
  seconds: number;
  /** Each client's time from the joins being sent until it was in. */
  latency: LatencySummary;
  usage: ResourceUsage;
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<LargeRoomResult> {
  const { clients, warmupClients } = parameters;
  const [room, warmupRoom] = roomNames(context, 2);
  const pool = startGenerators(context);
  try {
    if (warmupClients > 0) {
      const seats = Array.from({ length: warmupClients }, (_, index) => ({ id: clients + index, room: warmupRoom! }));
      await warmUp(context, pool, [seats.slice(0, 1), seats.slice(1)]);
    }
    context.log(`large-room: ${clients} clients into one room`);
    const ids = Array.from({ length: clients }, (_, id) => id);
    const loggedIn = await pool.enter(ids.map((id) => ({ id, room: id === 0 ? room! : null })), monotonicMicros());
    if (loggedIn.failed > 0) throw new Error(`${loggedIn.failed} clients could not log in: ${loggedIn.errors.join('; ')}`);
    const meter = await Meter.start(context, pool);
    const startedAt = monotonicMicros();
    const joins = await pool.enter(ids.slice(1).map((id) => ({ id, room: room! })), startedAt);
    const usage = await meter.stop();
    return {
      scenario: 'large-room',
      parameters,
      joined: joins.succeeded + 1,
      failed: joins.failed,
      errors: joins.errors,
      seconds: round((joins.lastDoneAt - startedAt) / 1e6, 3),
      latency: joins.latency,
      usage,
    };
  } finally {
    await pool.close();
  }
}

export const largeRoom: Scenario<Parameter, LargeRoomResult> = {
  name: 'large-room',
  summary: 'N logged-in clients join one room at once: time until all are in',
  parameters: {
    clients: { full: 500, quick: 150, help: 'clients joining the room' },
    warmupClients: { full: 100, quick: 30, help: 'clients of the unmeasured room that fills and empties first; 0 for none' },
  },
  run,
  describe: (result) =>
    `large-room ${result.parameters.clients} clients: ${result.joined} in after ${result.seconds} s ` +
    `(p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms)` +
    (result.failed ? `, ${result.failed} failed: ${result.errors[0]}` : ''),
};
