// Presence churn: R rooms of M occupants carry groupchat traffic at a fixed
// rate while occupants leave and rejoin at another, so that every leave and
// join is broadcast to the room while messages flow. Measures message latency
// under churn and the time of each leave-and-rejoin cycle. Deliveries are not
// checked against an expected count: who is in a room when a message passes
// depends on timing.

import type { LatencySummary } from '../latency.js';
import {
  Meter,
  perServerCpuSecond,
  populateRooms,
  roomNames,
  round,
  sleep,
  startGenerators,
  type ResourceUsage,
  type ScenarioContext,
} from './common.js';
import type { Scenario } from './scenario.js';

type Parameter = 'rooms' | 'occupants' | 'deliveryRate' | 'churnRate' | 'durationSeconds' | 'drainSeconds' | 'bodyBytes';

export interface PresenceChurnResult {
  scenario: 'presence-churn';
  parameters: Record<Parameter, number>;
  sent: number;
  delivered: number;
  deliveredPerSecond: number;
  latency: LatencySummary;
  churnCycles: number;
  churnFailed: number;
  /** Leave sent until rejoined, per cycle. */
  churnLatency: LatencySummary;
  usage: ResourceUsage;
  deliveriesPerServerCpuSecond: number | null;
}

const STEP = 1;

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<PresenceChurnResult> {
  const { rooms, occupants } = parameters;
  const pool = startGenerators(context);
  try {
    context.log(`presence-churn: joining ${rooms} rooms × ${occupants} occupants`);
    await populateRooms(pool, roomNames(context, rooms), occupants);
    const meter = await Meter.start(context, pool);
    const traffic = await pool.traffic({
      step: STEP,
      messagesPerSecond: parameters.deliveryRate / occupants,
      durationMs: parameters.durationSeconds * 1000,
      churnPerSecond: parameters.churnRate,
      bodyBytes: parameters.bodyBytes,
    });
    await drain(async () => pool.delivered(STEP), parameters.drainSeconds);
    const usage = await meter.stop();
    const { delivered, latency } = await pool.deliveryLatency(STEP);
    return {
      scenario: 'presence-churn',
      parameters,
      sent: traffic.sent,
      delivered,
      deliveredPerSecond: round(delivered / traffic.seconds),
      latency,
      churnCycles: traffic.churnCycles,
      churnFailed: traffic.churnFailed,
      churnLatency: traffic.churnLatency,
      usage,
      deliveriesPerServerCpuSecond: perServerCpuSecond(delivered, usage),
    };
  } finally {
    await pool.close();
  }
}

/** Waits until the count stops growing for half a second, or the time is up. */
async function drain(count: () => Promise<number>, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let last = -1;
  for (let now = await count(); now !== last && Date.now() < deadline; now = await count()) {
    last = now;
    await sleep(500);
  }
}

export const presenceChurn: Scenario<Parameter, PresenceChurnResult> = {
  name: 'presence-churn',
  summary: 'occupants leave and rejoin under groupchat traffic: message latency and rejoin time',
  parameters: {
    rooms: { full: 50, quick: 20, help: 'number of rooms' },
    occupants: { full: 10, quick: 10, help: 'occupants per room' },
    deliveryRate: { full: 2000, quick: 2000, help: 'offered groupchat load, delivered stanzas/s' },
    churnRate: { full: 50, quick: 20, help: 'leave-and-rejoin cycles started per second' },
    durationSeconds: { full: 20, quick: 5, help: 'seconds of traffic' },
    drainSeconds: { full: 5, quick: 3, help: 'longest wait for late deliveries' },
    bodyBytes: { full: 100, quick: 100, help: 'approximate size of each message body' },
  },
  run,
  describe: (result) =>
    `presence-churn ${result.parameters.rooms}×${result.parameters.occupants}: ${result.deliveredPerSecond} delivered/s, ` +
    `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; ${result.churnCycles} rejoin cycles ` +
    `(p50 ${result.churnLatency.p50} ms, p99 ${result.churnLatency.p99} ms)` +
    (result.churnFailed ? `, ${result.churnFailed} failed` : ''),
};
