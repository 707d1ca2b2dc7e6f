// Overload: one user floods a room as fast as the server reads its socket,
// while observers alone in rooms of their own send at a low rate and measure
// their echo latency, and prompt readers in the flooded room read everything
// and count how many of them the server disconnects. Measures the observers'
// latency before, during and after the flood, the server's RSS before the
// flood and at its peak, and the recovery time: from the flood's end until the
// observers' latency is back to its baseline and the flood's backlog has
// reached the readers (or stopped coming: refused or dropped).
//
// Observers, readers and the flooder each run in a generator process of their
// own, so that reading the flood or writing it does not delay the observers'
// clocks.

import type { GeneratorPool } from '../generator-pool.js';
import type { FloodResult } from '../generator-protocol.js';
import { monotonicMicros, type LatencySummary } from '../latency.js';
import {
  awaitDeliveries,
  Meter,
  populateRooms,
  roomNames,
  round,
  serverRssKiB,
  sleep,
  startGenerators,
  type ResourceUsage,
  type ScenarioContext,
} from './common.js';
import type { Scenario } from './scenario.js';

type Parameter =
  | 'observers'
  | 'observerRate'
  | 'readers'
  | 'baselineSeconds'
  | 'floodSeconds'
  | 'floodMessages'
  | 'floodBodyBytes'
  | 'windowSeconds'
  | 'recoverySeconds';

/** What the issue asks of a server under this flood; printed beside the figures, never asserted. */
export const OVERLOAD_TARGETS = { othersP99Ms: 50, readersDisconnected: 0, peakRssRatio: 2 } as const;

export interface OverloadWindow {
  /** Seconds after the flood's end that the window's messages were sent from. */
  startsAfterFloodSeconds: number;
  sent: number;
  delivered: number;
  latency: LatencySummary;
}

export interface OverloadResult {
  scenario: 'overload';
  parameters: Record<Parameter, number>;
  /** Observers' latency before the flood. */
  baseline: LatencySummary;
  /** Observers' latency for the messages they sent while the flood lasted. */
  duringFlood: LatencySummary;
  duringFloodLost: number;
  /**
   * Messages the flooder wrote, and over how long: what the server read, plus
   * what was still in the TCP buffers between them when the flood stopped.
   */
  floodSent: number;
  floodSeconds: number;
  floodWrittenPerSecond: number;
  flooderDisconnected: boolean;
  /** Flood messages the readers received, of floodSent × readers. */
  readerDelivered: number;
  readerExpected: number;
  readerLatency: LatencySummary;
  readersDisconnected: number;
  observersDisconnected: number;
  rssBeforeKiB: number | null;
  rssPeakKiB: number | null;
  peakRssRatio: number | null;
  /** The observers' windows after the flood, in order. */
  recovery: OverloadWindow[];
  /** From the flood's end until the observers' windows were back to baseline; null when not within recoverySeconds. */
  observersRecoveredSeconds: number | null;
  /** From the flood's end until the readers had the backlog, or it stopped coming; null when not within recoverySeconds. */
  backlogDrainedSeconds: number | null;
  /** The later of the two: the server is back to normal; null when not within recoverySeconds. */
  recoverySeconds: number | null;
  usage: ResourceUsage;
}

const BASELINE_STEP = 1;
const FIRST_WINDOW_STEP = 2;
const FLOOD_STEP = 1_000_000;
const OBSERVER_BODY_BYTES = 100;
const RSS_SAMPLE_MS = 200;
const LATE_DELIVERY_SECONDS = 5;

/** Good windows in a row that make the observers back to normal. */
const STABLE_WINDOWS = 3;

/** Back to baseline: a window's p99 within twice the baseline's, or 10 ms above it, whichever is more. */
function recovered(window: Pick<OverloadWindow, 'sent' | 'delivered' | 'latency'>, baseline: LatencySummary): boolean {
  return window.delivered >= window.sent && window.latency.p99 <= Math.max(2 * baseline.p99, baseline.p99 + 10);
}

/**
 * When the observers were back: the start of the first run of STABLE_WINDOWS
 * good windows that lasts past the flood's end (the end itself, if the run
 * began during the flood); null if there is none yet. A slow window later in
 * a long wait for the backlog is the machine's noise, not the flood's.
 */
function observersBackAt(
  windows: readonly ObservedWindow[],
  floodEnd: number,
  baseline: LatencySummary,
  windowSeconds: number,
): number | null {
  for (let first = 0; first + STABLE_WINDOWS <= windows.length; first++) {
    const run = windows.slice(first, first + STABLE_WINDOWS);
    if (run.at(-1)!.startedAt + windowSeconds * 1e6 < floodEnd) continue;
    if (run.every((window) => recovered(window, baseline))) return Math.max(floodEnd, run[0]!.startedAt);
  }
  return null;
}

/** The highest server RSS seen from now until stopped, sampled. */
function rssSampler(context: ScenarioContext): { stop(): number | null } {
  let peak = serverRssKiB(context);
  const timer = setInterval(() => {
    const now = serverRssKiB(context);
    if (now !== null && (peak === null || now > peak)) peak = now;
  }, RSS_SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

async function observe(
  pool: GeneratorPool,
  step: number,
  parameters: Record<Parameter, number>,
  seconds: number,
): Promise<{ sent: number; startedAt: number }> {
  const startedAt = monotonicMicros();
  const { sent } = await pool.traffic({
    step,
    messagesPerSecond: parameters.observerRate,
    durationMs: seconds * 1000,
    churnPerSecond: 0,
    bodyBytes: OBSERVER_BODY_BYTES,
  });
  return { sent, startedAt };
}

async function run(context: ScenarioContext, parameters: Record<Parameter, number>): Promise<OverloadResult> {
  const own = { ...context, generators: 1 };
  const observers = startGenerators(own);
  const readers = startGenerators(own);
  const flooder = startGenerators(own);
  try {
    const [floodRoom, ...observerRooms] = roomNames(context, parameters.observers + 1);
    context.log(`overload: ${parameters.observers} observers in rooms of their own, ${parameters.readers} readers and a flooder in one room`);
    await populateRooms(observers, observerRooms, 1);
    await populateRooms(readers, [floodRoom!], parameters.readers);
    // The flooder's id follows the readers', so that its nickname differs from theirs.
    const entered = await flooder.enter([{ id: parameters.readers, room: floodRoom! }], monotonicMicros());
    if (entered.failed > 0) throw new Error(`the flooder could not join: ${entered.errors.join('; ')}`);

    const before = await observe(observers, BASELINE_STEP, parameters, parameters.baselineSeconds);
    await awaitDeliveries(observers, BASELINE_STEP, before.sent, LATE_DELIVERY_SECONDS);
    const baseline = (await observers.deliveryLatency(BASELINE_STEP)).latency;
    context.log(`overload: baseline p50 ${baseline.p50} ms, p99 ${baseline.p99} ms`);

    const rssBeforeKiB = serverRssKiB(context);
    const rss = rssSampler(context);
    const meter = await Meter.start(context, observers);
    const flooding = flooder.flood({
      step: FLOOD_STEP,
      durationMs: parameters.floodSeconds * 1000,
      maxMessages: parameters.floodMessages,
      bodyBytes: parameters.floodBodyBytes,
    });
    const { flood, windows, drainedAt } = await observeThrough(context, observers, readers, flooding, baseline, parameters);
    const usage = await meter.stop();
    const rssPeakKiB = rss.stop();

    const floodSeconds = (flood.stoppedAt - flood.startedAt) / 1e6;
    // The first window starts with the flood, however short the flood.
    const during = windows.filter((window, index) => index === 0 || window.startedAt < flood.stoppedAt);
    const duringFlood = await observers.deliveryLatency(...during.map((window) => window.step));
    const after = windows.filter((window) => window.startedAt >= flood.stoppedAt);
    const afterFlood = (at: number | null): number | null => (at === null ? null : round(Math.max(0, at - flood.stoppedAt) / 1e6, 2));
    const observersRecoveredSeconds = afterFlood(observersBackAt(windows, flood.stoppedAt, baseline, parameters.windowSeconds));
    const backlogDrainedSeconds = afterFlood(drainedAt);
    const readerDeliveries = await readers.deliveryLatency(FLOOD_STEP);
    return {
      scenario: 'overload',
      parameters,
      baseline,
      duringFlood: duringFlood.latency,
      duringFloodLost: Math.max(0, during.reduce((total, window) => total + window.sent, 0) - duringFlood.delivered),
      floodSent: flood.sent,
      floodSeconds: round(floodSeconds, 3),
      floodWrittenPerSecond: floodSeconds > 0 ? round(flood.sent / floodSeconds) : 0,
      flooderDisconnected: (await flooder.disconnected()) > 0,
      readerDelivered: readerDeliveries.delivered,
      readerExpected: flood.sent * parameters.readers,
      readerLatency: readerDeliveries.latency,
      readersDisconnected: await readers.disconnected(),
      observersDisconnected: await observers.disconnected(),
      rssBeforeKiB,
      rssPeakKiB,
      peakRssRatio: rssBeforeKiB && rssPeakKiB ? round(rssPeakKiB / rssBeforeKiB, 2) : null,
      recovery: after.map((window) => ({
        startsAfterFloodSeconds: round((window.startedAt - flood.stoppedAt) / 1e6, 2),
        sent: window.sent,
        delivered: window.delivered,
        latency: window.latency,
      })),
      observersRecoveredSeconds,
      backlogDrainedSeconds,
      recoverySeconds:
        observersRecoveredSeconds === null || backlogDrainedSeconds === null
          ? null
          : Math.max(observersRecoveredSeconds, backlogDrainedSeconds),
      usage,
    };
  } finally {
    await Promise.all([observers.close(), readers.close(), flooder.close()]);
  }
}

interface ObservedWindow {
  step: number;
  startedAt: number;
  sent: number;
  delivered: number;
  latency: LatencySummary;
}

/**
 * Observers send in consecutive windows from the flood's start until, after
 * its end, they are back to their baseline latency and the flood's backlog
 * has drained, or until recoverySeconds after the end. Each window is judged
 * one window later, so that its late messages count.
 */
async function observeThrough(
  context: ScenarioContext,
  observers: GeneratorPool,
  readers: GeneratorPool,
  flooding: Promise<FloodResult>,
  baseline: LatencySummary,
  parameters: Record<Parameter, number>,
): Promise<{ flood: FloodResult; windows: ObservedWindow[]; drainedAt: number | null }> {
  const state: { flood: FloodResult | null; drain: Drain | null } = { flood: null, drain: null };
  const floodEnded = flooding.then((flood) => {
    state.flood = flood;
    state.drain = watchDrain(readers, flood, parameters.readers);
    context.log(`overload: ${flood.sent} messages flooded in ${round((flood.stoppedAt - flood.startedAt) / 1e6, 2)} s`);
    return flood;
  });
  const windows: ObservedWindow[] = [];
  const judge = async (window: ObservedWindow): Promise<void> => {
    const { delivered, latency } = await observers.deliveryLatency(window.step);
    window.delivered = delivered;
    window.latency = latency;
  };
  const finished = (): boolean => {
    const { flood, drain } = state;
    if (flood === null || drain === null) return false;
    if (monotonicMicros() >= flood.stoppedAt + parameters.recoverySeconds * 1e6) return true;
    const judged = windows.slice(0, -1);
    return drain.drainedAt !== null && observersBackAt(judged, flood.stoppedAt, baseline, parameters.windowSeconds) !== null;
  };
  try {
    for (let step = FIRST_WINDOW_STEP; !finished(); step++) {
      const { sent, startedAt } = await observe(observers, step, parameters, parameters.windowSeconds);
      windows.push({ step, startedAt, sent, delivered: 0, latency: baseline });
      if (windows.length > 1) await judge(windows.at(-2)!);
    }
    const last = windows.at(-1)!;
    await awaitDeliveries(observers, last.step, last.sent, LATE_DELIVERY_SECONDS);
    await judge(last);
    return { flood: await floodEnded, windows, drainedAt: state.drain?.drainedAt ?? null };
  } finally {
    await floodEnded;
    await state.drain?.stop();
  }
}

/** Polling the readers: how long the flood's backlog takes to drain before their count stops growing. */
const DRAIN_POLL_MS = 100;
/** The count has not grown for this long: what has not come was refused or dropped. */
const DRAIN_QUIET_MICROS = 1_000_000;

/**
 * When the readers had every flood message (those still connected), or, if
 * the server refused or dropped some, when their count last grew.
 */
interface Drain {
  readonly drainedAt: number | null;
  stop(): Promise<void>;
}

function watchDrain(readers: GeneratorPool, flood: { sent: number; stoppedAt: number }, readerCount: number): Drain {
  let drainedAt: number | null = null;
  let stopped = false;
  const polling = (async () => {
    let count = -1;
    let lastGrowthAt = flood.stoppedAt;
    while (!stopped && drainedAt === null) {
      const now = await readers.delivered(FLOOD_STEP);
      const polledAt = monotonicMicros();
      if (now !== count) lastGrowthAt = polledAt;
      count = now;
      if (count >= flood.sent * (readerCount - (await readers.disconnected()))) drainedAt = polledAt;
      else if (polledAt - lastGrowthAt >= DRAIN_QUIET_MICROS) drainedAt = lastGrowthAt;
      else await sleep(DRAIN_POLL_MS);
    }
  })();
  return {
    get drainedAt() {
      return drainedAt;
    },
    async stop() {
      stopped = true;
      await polling;
    },
  };
}

function verdict(value: number | null, target: number, unit = ''): string {
  if (value === null) return '—';
  return `${value}${unit} (target < ${target}${unit}: ${value < target ? 'met' : 'missed'})`;
}

/** A recovery figure; past the wait, how long the wait was. */
export function recoveryFigure(value: number | null, result: OverloadResult): string {
  return value === null ? `> ${result.parameters.recoverySeconds} s` : `${value} s`;
}

export function describeOverload(result: OverloadResult): string {
  const readersTarget = result.readersDisconnected === OVERLOAD_TARGETS.readersDisconnected ? 'met' : 'missed';
  return (
    `others' p50 ${result.duringFlood.p50} ms, p99 ${verdict(result.duringFlood.p99, OVERLOAD_TARGETS.othersP99Ms, ' ms')}, ` +
    `max ${result.duringFlood.max} ms (baseline p99 ${result.baseline.p99} ms); ` +
    `readers disconnected ${result.readersDisconnected} of ${result.parameters.readers} (target 0: ${readersTarget}); ` +
    `peak RSS ${verdict(result.peakRssRatio, OVERLOAD_TARGETS.peakRssRatio, '×')} pre-flood; ` +
    `recovery ${recoveryFigure(result.recoverySeconds, result)} (observers ${recoveryFigure(result.observersRecoveredSeconds, result)}, ` +
    `backlog ${recoveryFigure(result.backlogDrainedSeconds, result)}); ` +
    `flood ${result.floodSent} messages written in ${result.floodSeconds} s, ${result.readerDelivered} of ${result.readerExpected} read` +
    (result.flooderDisconnected ? ', flooder disconnected' : '')
  );
}

export const overload: Scenario<Parameter, OverloadResult> = {
  name: 'overload',
  summary: "one user floods a room; others' echo latency, readers disconnected, peak RSS and recovery time",
  parameters: {
    observers: { full: 10, quick: 5, help: 'observers, each alone in a room of its own' },
    observerRate: { full: 100, quick: 50, help: 'messages per second from all observers together' },
    readers: { full: 10, quick: 5, help: 'prompt readers in the flooded room' },
    baselineSeconds: { full: 5, quick: 2, help: 'seconds of observer traffic before the flood (the baseline)' },
    floodSeconds: { full: 10, quick: 3, help: 'seconds the flooder writes' },
    floodMessages: { full: 100000, quick: 20000, help: 'the flooder stops after this many messages, if sooner' },
    floodBodyBytes: { full: 400, quick: 400, help: 'approximate size of each flood message body' },
    windowSeconds: { full: 0.5, quick: 0.5, help: "length of each observer window, from the flood's start on" },
    recoverySeconds: { full: 60, quick: 20, help: 'longest wait for recovery after the flood' },
  },
  run,
  describe: (result) => `overload: ${describeOverload(result)}`,
};
