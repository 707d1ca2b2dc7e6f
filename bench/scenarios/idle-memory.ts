// Idle memory: the server's resident memory before any client, after C clients
// have logged in, and after they have joined rooms of S; each measured once the
// server has been idle for a moment. Gives KiB per connection and per occupant.

import { monotonicMicros } from '../latency.js';
import { populateRooms, roomNames, round, serverRssKiB, sleep, startGenerators, type ScenarioContext } from './common.js';
import type { Scenario } from './scenario.js';

type Parameter = 'connections' | 'roomSize' | 'settleSeconds';

export interface IdleMemoryResult {
  scenario: 'idle-memory';
  parameters: Record<Parameter, number>;
  baselineRssKiB: number;
  connectedRssKiB: number;
  joinedRssKiB: number;
  /** (connected − baseline) / connections. */
  perConnectionKiB: number;
  /** (joined − connected) / occupants: what joining adds to a connection. */
  perOccupantKiB: number;
  /** (joined − baseline) / occupants: a logged-in client in a room, all told. */
  perJoinedClientKiB: number;
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<IdleMemoryResult> {
  const { connections, roomSize, settleSeconds } = parameters;
  const settledRss = async (): Promise<number> => {
    await sleep(settleSeconds * 1000);
    const rss = serverRssKiB(context);
    if (rss === null) throw new Error('idle-memory needs the server process (--server-pid, or a server listening on this machine)');
    return rss;
  };
  const pool = startGenerators(context);
  try {
    const baselineRssKiB = await settledRss();
    context.log(`idle-memory: ${connections} connections`);
    const ids = Array.from({ length: connections }, (_, id) => id);
    const connected = await pool.enter(ids.map((id) => ({ id, room: null })), monotonicMicros());
    if (connected.failed > 0) throw new Error(`${connected.failed} clients could not log in: ${connected.errors.join('; ')}`);
    const connectedRssKiB = await settledRss();
    context.log(`idle-memory: joining rooms of ${roomSize}`);
    await populateRooms(pool, roomNames(context, Math.floor(connections / roomSize)), roomSize);
    const joinedRssKiB = await settledRss();
    const occupants = Math.floor(connections / roomSize) * roomSize;
    return {
      scenario: 'idle-memory',
      parameters,
      baselineRssKiB,
      connectedRssKiB,
      joinedRssKiB,
      perConnectionKiB: round((connectedRssKiB - baselineRssKiB) / connections, 1),
      perOccupantKiB: round((joinedRssKiB - connectedRssKiB) / occupants, 1),
      perJoinedClientKiB: round((joinedRssKiB - baselineRssKiB) / occupants, 1),
    };
  } finally {
    await pool.close();
  }
}

export const idleMemory: Scenario<Parameter, IdleMemoryResult> = {
  name: 'idle-memory',
  summary: 'server RSS per idle connection and per room occupant',
  parameters: {
    connections: { full: 2000, quick: 400, help: 'clients that log in (and then join)' },
    roomSize: { full: 10, quick: 10, help: 'occupants per room' },
    settleSeconds: { full: 7, quick: 7, help: 'idle time before each reading (the server gives memory back after 5 s idle)' },
  },
  run,
  describe: (result) =>
    `idle-memory ${result.parameters.connections} clients: ${result.perConnectionKiB} KiB per connection, ` +
    `${result.perOccupantKiB} KiB per occupant (${result.perJoinedClientKiB} KiB per joined client; ` +
    `RSS ${result.baselineRssKiB} → ${result.connectedRssKiB} → ${result.joinedRssKiB} KiB)`,
};
