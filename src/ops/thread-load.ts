// The load of one thread (the main thread or a shard worker), sampled once a
// second: event-loop lag, how busy the loop was (event-loop utilization, the
// thread's share of a core: Node 20 has no per-thread CPU clock), and, from a
// worker, the limit hits and backpressure events counted since the last sample.

import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { addTo, counters, rememberLimitHits, type LimitHitRecord } from './counters.js';

export const LOAD_SAMPLE_MS = 1000;

export interface ThreadLoad {
  /** Mean event-loop delay over the last interval, in seconds. */
  lagSeconds: number;
  /** Worst event-loop delay over the last interval, in seconds. */
  maxLagSeconds: number;
  /** Busy share of the last interval, 0 to 1. */
  utilization: number;
  /** Busy time since the thread started, in seconds. */
  busySeconds: number;
}

/** What a shard worker posts once a second. */
export interface WorkerReport {
  load: ThreadLoad;
  /** Counts since the previous report. */
  limitHits: [string, number][];
  backpressure: [string, number][];
  recentLimitHits: LimitHitRecord[];
}

export class LoadSampler {
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });
  private lastUtilization: EventLoopUtilization = performance.eventLoopUtilization();
  private latest: ThreadLoad = { lagSeconds: 0, maxLagSeconds: 0, utilization: 0, busySeconds: 0 };

  constructor() {
    this.delay.enable();
  }

  /** Closes the interval begun by the previous sample. */
  sample(): ThreadLoad {
    const total = performance.eventLoopUtilization();
    const interval = performance.eventLoopUtilization(total, this.lastUtilization);
    this.lastUtilization = total;
    // The histogram counts the monitor's own resolution as delay; what is beyond it is lag.
    const floor = 10e6;
    const mean = this.delay.count > 0 ? Math.max(this.delay.mean - floor, 0) : 0;
    const max = this.delay.count > 0 ? Math.max(this.delay.max - floor, 0) : 0;
    this.delay.reset();
    this.latest = { lagSeconds: mean / 1e9, maxLagSeconds: max / 1e9, utilization: interval.utilization, busySeconds: total.active / 1000 };
    return this.latest;
  }

  /** The last sample, with the busy time as of now. */
  current(): ThreadLoad {
    return { ...this.latest, busySeconds: performance.eventLoopUtilization().active / 1000 };
  }

  stop(): void {
    this.delay.disable();
  }
}

/** A worker's report: its load and what it counted since the last one (which it then forgets). */
export function takeWorkerReport(sampler: LoadSampler): WorkerReport {
  const report: WorkerReport = {
    load: sampler.sample(),
    limitHits: [...counters.limitHits],
    backpressure: [...counters.backpressure],
    recentLimitHits: counters.recentLimitHits,
  };
  counters.limitHits.clear();
  counters.backpressure.clear();
  counters.recentLimitHits = [];
  return report;
}

/** Adds a worker's counts to this (the main) thread's. */
export function absorbWorkerReport(report: WorkerReport): void {
  for (const [limit, count] of report.limitHits) addTo(counters.limitHits, limit, count);
  for (const [point, count] of report.backpressure) addTo(counters.backpressure, point, count);
  rememberLimitHits(report.recentLimitHits);
}
