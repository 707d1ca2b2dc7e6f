// Fan-out: R rooms of M occupants; every occupant may send groupchat messages,
// and the server delivers each to the M occupants of its room (the sender's
// reflection included). A ladder of offered rates climbs until the p99 latency
// at the receivers reaches the limit or a delivery goes missing; the result is
// the highest step that passed. The ladder is the same for every server, so
// steps compare latency at equal offered load.

import type { LatencySummary } from '../latency.js';
import {
  awaitDeliveries,
  ceilingPerSecond,
  describeProcesses,
  describeThreads,
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

type Parameter =
  | 'rooms'
  | 'occupants'
  | 'startRate'
  | 'rateFactor'
  | 'maxRate'
  | 'stepSeconds'
  | 'warmupSeconds'
  | 'drainSeconds'
  | 'p99LimitMs'
  | 'bodyBytes';

export interface FanoutStep {
  /** The ladder's rate, in delivered stanzas per second (messages per second × occupants). */
  offeredDeliveriesPerSecond: number;
  offeredMessagesPerSecond: number;
  sent: number;
  expected: number;
  delivered: number;
  /** Expected deliveries that had not arrived when the drain time ran out. */
  lost: number;
  deliveredPerSecond: number;
  latency: LatencySummary;
  usage: ResourceUsage;
  deliveriesPerServerCpuSecond: number | null;
  /** Delivered/s ÷ the busiest server thread's cores (common.ts `ceilingPerSecond`). */
  ceilingPerSecond: number | null;
  failure: 'latency' | 'loss' | null;
}

export interface FanoutResult {
  scenario: 'fanout';
  parameters: Record<Parameter, number>;
  steps: FanoutStep[];
  /** The highest step that passed, or null when the first one failed. */
  best: FanoutStep | null;
}

/** The offered rates: start × factor^i, to three significant digits, up to max. */
export function rateLadder(start: number, factor: number, max: number): number[] {
  const rates: number[] = [];
  for (let rate = start; rate <= max * 1.0001 && rates.length < 100; rate *= factor) {
    const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(rate)) - 2);
    rates.push(Math.round(rate / magnitude) * magnitude);
  }
  return rates;
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<FanoutResult> {
  const { rooms, occupants } = parameters;
  const pool = startGenerators(context);
  const steps: FanoutStep[] = [];
  try {
    context.log(`fanout: joining ${rooms} rooms × ${occupants} occupants`);
    await populateRooms(pool, roomNames(context, rooms), occupants);
    const traffic = { churnPerSecond: 0, bodyBytes: parameters.bodyBytes };

    // Step 0 warms up the server (JIT, allocators) and is not reported.
    const warmup = await pool.traffic({
      ...traffic,
      step: 0,
      messagesPerSecond: parameters.startRate / occupants,
      durationMs: parameters.warmupSeconds * 1000,
    });
    await awaitDeliveries(pool, 0, warmup.sent * occupants, parameters.drainSeconds);

    for (const [index, offered] of rateLadder(parameters.startRate, parameters.rateFactor, parameters.maxRate).entries()) {
      const step = index + 1;
      const meter = await Meter.start(context, pool);
      const sending = await pool.traffic({
        ...traffic,
        step,
        messagesPerSecond: offered / occupants,
        durationMs: parameters.stepSeconds * 1000,
      });
      const expected = sending.sent * occupants;
      await awaitDeliveries(pool, step, expected, parameters.drainSeconds);
      const usage = await meter.stop();
      const { delivered, latency } = await pool.deliveryLatency(step);
      const lost = Math.max(0, expected - delivered);
      const result: FanoutStep = {
        offeredDeliveriesPerSecond: offered,
        offeredMessagesPerSecond: round(offered / occupants, 1),
        sent: sending.sent,
        expected,
        delivered,
        lost,
        deliveredPerSecond: round(delivered / sending.seconds),
        latency,
        usage,
        deliveriesPerServerCpuSecond: perServerCpuSecond(delivered, usage),
        ceilingPerSecond: ceilingPerSecond(delivered / sending.seconds, usage),
        failure: lost > 0 ? 'loss' : latency.p99 >= parameters.p99LimitMs ? 'latency' : null,
      };
      steps.push(result);
      context.log(`fanout: ${describeStep(result)}`);
      if (result.failure) break;
    }
  } finally {
    await pool.close();
  }
  const passed = steps.filter((step) => step.failure === null);
  return { scenario: 'fanout', parameters, steps, best: passed.at(-1) ?? null };
}

function describeStep(step: FanoutStep): string {
  const cpu = step.usage.serverCpuSeconds === null ? '' : `, server CPU ${percent(step.usage.serverCpuSeconds, step.usage.wallSeconds)}`;
  return (
    `offered ${step.offeredDeliveriesPerSecond}/s: delivered ${step.deliveredPerSecond}/s, ` +
    `p50 ${step.latency.p50} ms, p99 ${step.latency.p99} ms, max ${step.latency.max} ms, lost ${step.lost}` +
    `${cpu}, generator CPU ${percent(step.usage.generatorCpuSeconds, step.usage.wallSeconds)}` +
    (step.deliveriesPerServerCpuSecond === null ? '' : `, ${step.deliveriesPerServerCpuSecond} per server CPU-s`) +
    (step.ceilingPerSecond === null ? '' : `, ceiling ${step.ceilingPerSecond}/s`) +
    (step.failure ? ` — fails on ${step.failure}` : '') +
    (step.usage.serverThreads === null ? '' : `\n  ${describeThreads(step.usage)}`) +
    (step.usage.serverProcesses ? `\n  ${describeProcesses(step.usage)}` : '')
  );
}

function percent(cpuSeconds: number, wallSeconds: number): string {
  return `${Math.round((cpuSeconds / wallSeconds) * 100)}%`;
}

export const fanout: Scenario<Parameter, FanoutResult> = {
  name: 'fanout',
  summary: 'R rooms × M occupants, rising groupchat rate: highest delivered stanzas/s with p99 under the limit and nothing lost',
  parameters: {
    rooms: { full: 100, quick: 20, help: 'number of rooms' },
    occupants: { full: 10, quick: 10, help: 'occupants per room' },
    startRate: { full: 1000, quick: 2000, help: 'first offered rate, delivered stanzas/s' },
    rateFactor: { full: 1.25, quick: 1.6, help: 'each step offers this many times the previous rate' },
    maxRate: { full: 400000, quick: 200000, help: 'highest rate offered' },
    stepSeconds: { full: 5, quick: 2, help: 'seconds of traffic per step' },
    warmupSeconds: { full: 2, quick: 1, help: 'unmeasured traffic at the first rate before the ladder' },
    drainSeconds: { full: 5, quick: 3, help: 'how long to wait for deliveries after a step before counting the missing as lost' },
    p99LimitMs: { full: 200, quick: 200, help: 'a step passes while its p99 latency stays below this' },
    bodyBytes: { full: 100, quick: 100, help: 'approximate size of each message body' },
  },
  run,
  describe: (result) =>
    result.best
      ? `fanout ${result.parameters.rooms}×${result.parameters.occupants}: ${result.best.deliveredPerSecond} delivered stanzas/s ` +
        `at p99 ${result.best.latency.p99} ms (${describeStep(result.best)})`
      : `fanout ${result.parameters.rooms}×${result.parameters.occupants}: even the first step failed (${result.steps[0] ? describeStep(result.steps[0]) : 'no step ran'})`,
};
