// Acknowledged writes: W owners, each alone in a persistent room of its own,
// change an affiliation there over and over, each change sent once the
// previous one was acknowledged. The server stores each change before it
// answers, so this measures what an acknowledgement costs: acknowledged
// writes per second and the time to each acknowledgement. Run it against
// Conclave with `storage.durability: flushed` and `committed` for the cost of
// waiting for the disk.

import type { LatencySummary } from '../latency.js';
import {
  Meter,
  perServerCpuSecond,
  populateRooms,
  roomNames,
  round,
  startGenerators,
  type ResourceUsage,
  type ScenarioContext,
} from './common.js';
import type { Scenario } from './scenario.js';

type Parameter = 'writers' | 'durationSeconds';

export interface AckedWritesResult {
  scenario: 'acked-writes';
  parameters: Record<Parameter, number>;
  acknowledged: number;
  failed: number;
  errors: string[];
  acknowledgedPerSecond: number;
  /** Request to acknowledgement. */
  latency: LatencySummary;
  usage: ResourceUsage;
  acknowledgedPerServerCpuSecond: number | null;
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<AckedWritesResult> {
  const pool = startGenerators(context);
  try {
    context.log(`acked-writes: ${parameters.writers} owners, each in a room of its own`);
    await populateRooms(pool, roomNames(context, parameters.writers), 1);
    const meter = await Meter.start(context, pool);
    const writes = await pool.writes({ durationMs: parameters.durationSeconds * 1000 });
    const usage = await meter.stop();
    return {
      scenario: 'acked-writes',
      parameters,
      acknowledged: writes.acknowledged,
      failed: writes.failed,
      errors: writes.errors,
      acknowledgedPerSecond: writes.seconds > 0 ? round(writes.acknowledged / writes.seconds) : 0,
      latency: writes.latency,
      usage,
      acknowledgedPerServerCpuSecond: perServerCpuSecond(writes.acknowledged, usage),
    };
  } finally {
    await pool.close();
  }
}

export const ackedWrites: Scenario<Parameter, AckedWritesResult> = {
  name: 'acked-writes',
  summary: 'owners change affiliations in persistent rooms, one acknowledged change at a time: writes/s and ack latency',
  parameters: {
    writers: { full: 20, quick: 5, help: 'owners writing at once, each in a persistent room of its own' },
    durationSeconds: { full: 10, quick: 3, help: 'seconds of writing' },
  },
  run,
  describe: (result) =>
    `acked-writes ${result.parameters.writers} writers: ${result.acknowledgedPerSecond} acknowledged writes/s, ` +
    `ack p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms` +
    (result.failed ? `, ${result.failed} failed: ${result.errors[0]}` : ''),
};
